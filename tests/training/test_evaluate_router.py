"""`manage.py evaluate_router`: routers trained and scored on evaluation sets."""
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.support.paths import FIXTURES, SHARED_DATA

S, W = "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1"


@pytest.mark.django_db
def test_evaluate_router_end_to_end_on_fixtures(tmp_path):
    out, plot = tmp_path / "result.json", tmp_path / "curves.png"
    call_command("evaluate_router", "--eval", str(FIXTURES / "scores_eval.jsonl"), "--strong", S, "--weak", W,
                 "--train", str(FIXTURES / "scores_train.jsonl.gz"), "--routers", "random,sw,mf",
                 "--param", "mf.epochs=60", "--param", "mf.batch_size=32", "--json", str(out), "--plot", str(plot))
    result = json.loads(out.read_text())
    assert result["eval"]["n"] == 40
    assert set(result["routers"]) == {"random", "sw", "mf"}
    for name in ("sw", "mf"):
        metrics = result["routers"][name]
        assert set(metrics) >= {"apgr", "cpt20", "cpt50", "cpt80", "auc"}
        assert 0.0 <= metrics["cpt50"] <= 1.0
        # the fixture's math prompts need the strong model, chit-chat does not: learnable
        assert metrics["apgr"] > result["routers"]["random"]["apgr"] + 0.15
    assert result["oracle"]["apgr"] >= max(m["apgr"] for m in result["routers"].values())
    assert plot.stat().st_size > 10_000


@pytest.mark.django_db
def test_evaluate_router_holdout_never_trains_on_test_prompts(tmp_path):
    out = tmp_path / "r.json"
    call_command("evaluate_router", "--eval", str(FIXTURES / "scores_eval.jsonl"), "--strong", S, "--weak", W,
                 "--holdout", "0.5", "--routers", "sw", "--json", str(out))
    result = json.loads(out.read_text())
    assert result["eval"]["n"] == 20
    assert result["train"]["battles"] == 20 * 3  # the train half's rows, 3 model pairs each


@pytest.mark.django_db
def test_evaluate_router_bad_input_exits_2():
    for args in (["--eval", str(FIXTURES / "arena.csv")], ["--eval", "/missing.jsonl"],
                 ["--eval", str(FIXTURES / "scores_eval.jsonl"), "--routers", "sw,bogus"],
                 ["--eval", str(FIXTURES / "scores_eval.jsonl"), "--holdout", "1.5"]):
        with pytest.raises(CommandError) as caught:
            call_command("evaluate_router", *args, "--strong", S, "--weak", W)
        assert caught.value.returncode == 2


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_DATA / "dev_eval" / "gsm8k_scores.jsonl").exists(), reason="../shared/data absent")
@pytest.mark.django_db
def test_evaluate_router_on_shared_gsm8k_holdout_beats_random(tmp_path):
    out = tmp_path / "gsm8k.json"
    call_command("evaluate_router", "--eval", str(SHARED_DATA / "dev_eval" / "gsm8k_scores.jsonl"),
                 "--strong", S, "--weak", W, "--holdout", "0.5", "--routers", "random,sw", "--json", str(out))
    result = json.loads(out.read_text())
    assert result["eval"]["n"] == 1307 - 654  # the test half
    assert result["routers"]["sw"]["apgr"] > result["routers"]["random"]["apgr"]


@pytest.mark.django_db
def test_evaluate_router_exits_2_for_bad_scores_and_unknown_pairs(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"prompt": "p", "scores": {S: "high", W: 0.1}}) + "\n")
    with pytest.raises(CommandError) as caught:
        call_command("evaluate_router", "--eval", str(bad), "--strong", S, "--weak", W)
    assert caught.value.returncode == 2 and "scores must be numbers" in str(caught.value)
    call_command("import_preferences", str(FIXTURES / "battles.jsonl"))  # no battle of this pair
    with pytest.raises(CommandError) as caught:
        call_command("evaluate_router", "--eval", str(FIXTURES / "scores_eval.jsonl"), "--strong", S,
                     "--weak", W, "--train", "--routers", "mf", "--param", "mf.epochs=1")
    assert caught.value.returncode == 2 and "not seen in training" in str(caught.value)
