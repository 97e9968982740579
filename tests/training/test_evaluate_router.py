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


def pool_file(tmp_path, costs: dict) -> str:
    """The eval fixture with a price per model on every row: a pool of three models."""
    rows = [json.loads(line) for line in (FIXTURES / "scores_eval.jsonl").read_text().splitlines() if line.strip()]
    path = tmp_path / "pool.jsonl"
    path.write_text("".join(json.dumps({**row, "costs": costs}) + "\n" for row in rows))
    return str(path)


@pytest.mark.django_db
def test_evaluate_router_on_a_pool_gives_quality_against_cost(tmp_path):
    costs = {S: 0.01, W: 0.001, "small-model": 0.0001}
    out, plot = tmp_path / "pool.json", tmp_path / "pool.png"
    call_command("evaluate_router", "--eval", pool_file(tmp_path, costs), "--pool", "all",
                 "--train", str(FIXTURES / "scores_train.jsonl.gz"), "--routers", "random,sw,mf",
                 "--param", "mf.epochs=60", "--param", "mf.batch_size=32", "--json", str(out), "--plot", str(plot))
    result = json.loads(out.read_text())
    assert result["pool"] == sorted(costs) and result["eval"]["n"] == 40
    for name, cost in costs.items():
        assert result["models"][name]["cost"] == pytest.approx(cost)
    assert set(result["oracle"]) == {"quality", "cost"}
    for kind in ("sw", "mf"):
        metrics = result["routers"][kind]
        assert set(metrics) >= {"curve", "aiq", "quality_at_third_cost", "cost_to_best"}
        assert metrics["curve"]["cost"][0] == pytest.approx(0.01)  # knob 0: all to the most expensive
        assert metrics["curve"]["cost"][-1] == pytest.approx(0.0001)  # knob 1: all to the cheapest
        assert metrics["aiq"] >= result["routers"]["random"]["aiq"]  # the random mix at equal cost
    assert plot.stat().st_size > 10_000


@pytest.mark.django_db
def test_evaluate_router_refuses_bad_pools_with_exit_2(tmp_path):
    with pytest.raises(CommandError) as caught:  # no prices in the file
        call_command("evaluate_router", "--eval", str(FIXTURES / "scores_eval.jsonl"), "--pool", "all")
    assert caught.value.returncode == 2 and "no prices" in str(caught.value)
    with pytest.raises(CommandError) as caught:
        call_command("evaluate_router", "--eval", pool_file(tmp_path, {S: 0.01, W: 0.001}), "--pool", f"{S},gpt-9")
    assert caught.value.returncode == 2 and "gpt-9" in str(caught.value)
    with pytest.raises(CommandError) as caught:  # a model twice would be routed against itself
        call_command("evaluate_router", "--eval", pool_file(tmp_path, {S: 0.01, W: 0.001}), "--pool", f"{S},{W},{S}")
    assert caught.value.returncode == 2 and "more than once" in str(caught.value)
    with pytest.raises(CommandError) as caught:  # a pair and a pool at once
        call_command("evaluate_router", "--eval", str(FIXTURES / "scores_eval.jsonl"), "--pool", "all",
                     "--strong", S, "--weak", W)
    assert caught.value.returncode == 2
    with pytest.raises(CommandError) as caught:  # the utility rule is a pool's comparison only
        call_command("evaluate_router", "--eval", str(FIXTURES / "scores_eval.jsonl"), "--strong", S, "--weak", W,
                     "--pool-rule", "utility")
    assert caught.value.returncode == 2 and "--pool-rule" in str(caught.value)


@pytest.mark.django_db
def test_the_utility_rule_is_evaluated_beside_the_served_one(tmp_path):
    costs = {S: 0.01, W: 0.001, "small-model": 0.0001}
    out = tmp_path / "utility.json"
    call_command("evaluate_router", "--eval", pool_file(tmp_path, costs), "--pool", "all", "--pool-rule", "utility",
                 "--train", str(FIXTURES / "scores_train.jsonl.gz"), "--routers", "sw", "--json", str(out))
    result = json.loads(out.read_text())
    curve = result["routers"]["sw"]["curve"]
    assert result["rule"] == "utility" and curve["threshold"][0] == 0.0  # λ = 0: the best-rated model, any cost
    assert curve["cost"][-1] == pytest.approx(0.0001)  # a large λ: every request to the cheapest
