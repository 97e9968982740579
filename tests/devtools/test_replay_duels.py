"""`manage.py replay_duels` (training.core.replay): duel selection rules replayed offline on the
fixture's pair, over seeds, paired; and what it refuses."""
from __future__ import annotations

import json
import math

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from feedback.store import preferences_import
from routerhub.devtools.management.commands.replay_duels import parse_seeds
from routerhub.devtools.simulation import paired_differences
from tests.support.paths import FIXTURES

pytestmark = pytest.mark.django_db(transaction=True)
STRONG, WEAK = "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1"


def test_replay_compares_the_rules_on_the_same_seeds(tmp_path, capsys):
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")  # the shared battles
    out, plot = tmp_path / "replay.json", tmp_path / "replay.png"
    call_command("replay_duels", "--scores", str(FIXTURES / "scores_eval.jsonl"), "--strong", STRONG, "--weak", WEAK,
                 "--duel-rate", "0.5", "--seeds", "0-2", "--every", "2", "--checkpoints", "2,4",
                 "--target-apgr", "0.5", "--json", str(out), "--plot", str(plot))
    result = json.loads(out.read_text())
    runs = result["runs"]
    assert [(r["config"]["seed"], r["config"]["duel_selection"]) for r in runs] == [
        (seed, rule) for seed in (0, 1, 2) for rule in ("uniform", "active")]
    for run in runs:
        labels = [p["duel_labels"] for p in run["points"]]
        assert labels[0] == 0 and labels == sorted(labels) and 0 < labels[-1] <= run["config"]["traffic_n"]
        assert all(math.isfinite(p["apgr"]) for p in run["points"])
    # a seed's cold start is the same for both rules: the same test part, no label yet
    assert runs[0]["points"][0]["apgr"] == runs[1]["points"][0]["apgr"]
    comparison = result["comparison"]
    assert comparison["selections"]["uniform"]["runs"] == 3 and comparison["paired"]["active"]["2"]["runs"] == 3
    assert plot.stat().st_size > 0
    printed = capsys.readouterr().out
    assert "active (3 seeds): APGR after 2:" in printed and "against uniform, paired" in printed


def test_replay_of_a_pool_scores_aiq_and_picks_each_duels_second_model(tmp_path, capsys):
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")  # the shared battles, all three models
    costs = {STRONG: 0.01, WEAK: 0.001, "small-model": 0.0001}
    rows = [json.loads(line) for line in (FIXTURES / "scores_eval.jsonl").read_text().splitlines() if line.strip()]
    scores = tmp_path / "pool.jsonl"
    scores.write_text("".join(json.dumps({**row, "costs": costs}) + "\n" for row in rows))
    out = tmp_path / "pool.json"
    call_command("replay_duels", "--scores", str(scores), "--pool", "all", "--duel-rate", "0.6", "--seeds", "0-1",
                 "--every", "2", "--checkpoints", "2,4", "--knob", "0.5", "--json", str(out))
    result = json.loads(out.read_text())
    assert result["comparison"]["metric"] == "aiq" and result["comparison"]["paired"]["active"]["2"]["runs"] == 2
    price_order = [STRONG, WEAK, "small-model"]  # most expensive first
    for run in result["runs"]:
        assert run["config"]["pool"] == price_order
        assert all(0 < p["aiq"] <= 1 for p in run["points"]) and 0 < run["random"]["aiq"] <= 1
        duels = sum(pair["duels"] for pair in run["pairs"])
        assert duels == run["points"][-1]["duel_labels"] > 0
        for pair in run["pairs"]:  # model a is the more expensive one
            assert price_order.index(pair["model_a"]) < price_order.index(pair["model_b"])
        if run["config"]["duel_selection"] == "uniform":  # the next model up in price
            assert all(price_order.index(pair["model_b"]) - price_order.index(pair["model_a"]) == 1
                       for pair in run["pairs"])
    assert "active (2 seeds): AIQ after 2:" in capsys.readouterr().out
    # at knob 0.9 cheaper models serve: uniform duels one with the next model up in price
    call_command("replay_duels", "--scores", str(scores), "--pool", "all", "--duel-rate", "0.6", "--seeds", "0",
                 "--selections", "uniform", "--every", "2", "--knob", "0.9", "--json", str(out))
    pairs = {(pair["model_a"], pair["model_b"]) for run in json.loads(out.read_text())["runs"] for pair in run["pairs"]}
    assert (WEAK, "small-model") in pairs and pairs <= {(STRONG, WEAK), (WEAK, "small-model")}
    for bad, message in ((["--pool", "all", "--strong", STRONG], "--pool"), (["--pool", f"{STRONG},gpt-9"], "gpt-9"),
                         (["--pool", "all", "--knob", "2"], "--knob"), ([], "--strong and --weak"),
                         (["--pool", f"{STRONG},{WEAK},{STRONG}"], "more than once"),
                         (["--strong", STRONG, "--weak", WEAK, "--knob", "0.6"], "apply to a pool"),
                         (["--pool", "all", "--target-apgr", "0.6"], "applies to a pair")):
        with pytest.raises(CommandError, match=message) as caught:
            call_command("replay_duels", "--scores", str(scores), "--duel-rate", "0.5", *bad)
        assert caught.value.returncode == 2


def test_paired_differences_pair_each_rule_with_the_baseline_on_its_seed():
    def run(rule, seed, curve):
        return {"config": {"duel_selection": rule, "seed": seed},
                "points": [{"router": "sw", "duel_labels": n, "apgr": a} for n, a in curve]}

    results = [run("uniform", 0, [(0, 0.5), (10, 0.55)]), run("active", 0, [(0, 0.5), (10, 0.58)]),
               run("uniform", 1, [(0, 0.6), (10, 0.62)]), run("active", 1, [(0, 0.6), (10, 0.61)]),
               run("uniform", 2, [(0, 0.5), (5, 0.5)]), run("active", 2, [(0, 0.5), (10, 0.9)])]
    paired = paired_differences(results, router="sw", checkpoints=[10, 20], baseline="uniform")
    # seed 2's uniform run stopped before 10 labels: left out of the pairs at 10
    assert paired["active"]["10"]["runs"] == 2 and paired["active"]["10"]["wins"] == 1
    assert paired["active"]["10"]["mean"] == pytest.approx((0.03 - 0.01) / 2)
    assert paired["active"]["20"] is None and "uniform" not in paired


def test_replay_refuses_bad_arguments():
    assert parse_seeds("0-2,7") == [0, 1, 2, 7]
    for bad in ("3-1", "0,0", "a-b"):
        with pytest.raises(ValueError):
            parse_seeds(bad)
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")  # so that only the bad argument can fail
    for bad, names in ((["--duel-rate", "0"], "--duel-rate"), (["--selections", "greedy"], "--selections"),
                       (["--seeds", "a-b"], "--seeds"), (["--block", "0"], "--block"),
                       (["--test-size", "0"], "--test-size"), (["--scores", "/nonexistent.jsonl"], "--scores"),
                       (["--test-size", "5"], "too few prompts")):
        args = ["--scores", str(FIXTURES / "scores_eval.jsonl"), "--strong", STRONG, "--weak", WEAK,
                "--duel-rate", "0.3", *bad]
        with pytest.raises(CommandError, match=names) as caught:
            call_command("replay_duels", *args)
        assert caught.value.returncode == 2


def test_replay_needs_the_shared_battles():
    with pytest.raises(CommandError, match="import them first") as caught:  # no shared battles stored
        call_command("replay_duels", "--scores", str(FIXTURES / "scores_eval.jsonl"), "--strong", STRONG,
                     "--weak", WEAK, "--duel-rate", "0.3")
    assert caught.value.returncode == 2
