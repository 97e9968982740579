"""The traffic simulation's rules (`routerhub.devtools.simulation`): the split and the simulated users."""
from routerhub.devtools.simulation import duel_winner, split_traffic_test, thumb_for
from tests.support.paths import FIXTURES
from training.core.evaluation import eval_set_load

STRONG, WEAK = "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1"


def test_split_is_disjoint_seeded_and_capped():
    eval_set = eval_set_load(FIXTURES / "scores_eval.jsonl", strong=STRONG, weak=WEAK)
    traffic, test = split_traffic_test(eval_set, test_share=0.5, seed=0)
    assert len(traffic.rows) + len(test.rows) == len({r["prompt"] for r in eval_set.rows})
    assert not set(traffic.prompts) & set(test.prompts)
    again, _ = split_traffic_test(eval_set, test_share=0.5, seed=0)
    assert again.prompts == traffic.prompts
    capped, small = split_traffic_test(eval_set, test_share=0.5, seed=0, requests=5, test_size=7)
    assert capped.prompts == traffic.prompts[:5] and len(small.rows) == 7


def test_users_from_scores():
    row = {"scores": {STRONG: 1.0, WEAK: 0.0}}
    assert thumb_for(row, STRONG) == "up" and thumb_for(row, WEAK) == "down"
    assert duel_winner(row, strong=STRONG, weak=WEAK) == "model_a"
    assert duel_winner({"scores": {STRONG: 0.0, WEAK: 1.0}}, strong=STRONG, weak=WEAK) == "model_b"
    assert duel_winner({"scores": {STRONG: 1.0, WEAK: 1.0}}, strong=STRONG, weak=WEAK) == "tie"
