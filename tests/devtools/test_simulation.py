"""The traffic simulation's rules (`routerhub.devtools.simulation`): the split and the simulated users."""
import pytest

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


def test_selection_comparison_reads_each_rule_at_equal_label_counts():
    from routerhub.devtools.simulation import labels_to_reach, selection_comparison, value_at

    def run(rule, seed, curve):
        return {"config": {"duel_selection": rule, "seed": seed},
                "points": [{"router": "sw", "duel_labels": n, "apgr": a} for n, a in curve]
                + [{"router": "mf", "duel_labels": n, "apgr": 0.0} for n, _ in curve]}

    results = [run("active", 0, [(0, 0.50), (100, 0.60), (200, 0.64)]),
               run("active", 1, [(0, 0.52), (120, 0.58), (210, 0.66)]),
               run("uniform", 0, [(0, 0.50), (100, 0.54), (200, 0.58)]),
               run("uniform", 1, [(0, 0.52), (90, 0.55), (180, 0.57)])]
    assert value_at([(0, 0.5), (100, 0.6)], 50) == pytest.approx(0.55) and value_at([(0, 0.5)], 10) is None
    assert labels_to_reach([(0, 0.5), (80, 0.61), (150, 0.7)], 0.6) == 80
    comparison = selection_comparison(results, router="sw", checkpoints=[100, 200], target=0.6)
    active, uniform = comparison["selections"]["active"], comparison["selections"]["uniform"]
    assert active["runs"] == 2 and active["seeds"] == [0, 1]
    assert active["at"]["100"]["mean"] == pytest.approx((0.60 + (0.52 + 0.06 * 100 / 120)) / 2)
    assert uniform["at"]["200"] is None  # one uniform run stopped at 180 labels: no mean over fewer runs
    assert active["labels_to_target"] == [100, 210] and uniform["labels_to_target"] == [None, None]
