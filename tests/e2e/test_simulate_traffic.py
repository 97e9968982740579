"""`simulate_traffic` on the small fixtures: the real gateway (in the command's process), the
simulated upstream replaying the file's answers, a real Celery worker retraining the tenant's
routers, thumbs and duel labels from the file's scores."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.management import call_command

from feedback.models import Duel, Feedback, Preference
from feedback.store import preferences_import
from routerhub.audit.models import AuditEvent
from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.models import ModelEndpoint, Tenant
from tests.support.paths import FIXTURES
from training.core.evaluation import eval_set_load
from training.models import TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)
STRONG, WEAK = "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1"


@pytest.fixture
def pair_on_sim(sim):
    """The shared data (the cold start) and the file's pair as endpoints on the simulated upstream."""
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")  # the shared data: the cold start
    for name in (STRONG, WEAK):
        ModelEndpoint.objects.create(name=name, upstream_model=name, base_url=sim, max_retries=0, timeout_s=10,
                                     input_price_per_mtok=Decimal("1"))
    return sim


@pytest.mark.slow
def test_simulate_traffic_on_the_fixture_has_one_point_per_retrain(celery_worker_process, pair_on_sim, tmp_path):
    out, plot = tmp_path / "curve.json", tmp_path / "curve.png"
    call_command("simulate_traffic", "--scores", str(FIXTURES / "scores_eval.jsonl"), "--strong", STRONG,
                 "--weak", WEAK, "--requests", "20", "--feedback-rate", "1", "--duel-rate", "0.5",
                 "--retrain-every", "10", "--json", str(out), "--plot", str(plot), "--run-timeout", "240")
    result = json.loads(out.read_text())
    points = result["points"]
    runs = TrainingRun.objects.filter(status="succeeded").order_by("pk")
    assert runs.count() == 3  # the cold start, then one per 10 requests
    assert [(p["router"], p["run"]) for p in points] == [(k, r.pk) for r in runs for k in ("sw", "mf")]
    assert points[0]["feedback_events"] == 0 and points[-1]["feedback_events"] > points[0]["feedback_events"]
    for point in points:
        assert set(point) >= {"feedback_events", "router", "apgr", "cpt50"} and 0 <= point["cpt50"] <= 1
    tenant = Tenant.objects.get(slug="simulation")
    assert RoutedRequest.objects.filter(tenant=tenant).count() == 20
    thumbs, duels = Feedback.objects.filter(tenant=tenant).count(), Duel.objects.filter(tenant=tenant)
    assert thumbs == 20 and duels.exists() and all(d.status == "labelled" for d in duels)
    assert points[-1]["feedback_events"] == thumbs + duels.count() == result["counters"]["thumbs"] + \
        result["counters"]["duel_labels"]
    # the recorded answers were replayed, and the runs trained on the tenant's own battles
    recorded = {r["prompt"]: r["responses"] for r in eval_set_load(FIXTURES / "scores_eval.jsonl", strong=STRONG,
                                                                   weak=WEAK).rows}
    for request in RoutedRequest.objects.filter(tenant=tenant):
        assert request.answer == recorded[request.routed_prompt][request.served_model]
    by_source = runs.last().data_counts["by_source"]
    assert by_source.get("thumbs", 0) > 0 and by_source.get("duel", 0) > 0
    assert Preference.objects.filter(tenant=tenant, source="duel").count() == duels.count()
    assert plot.stat().st_size > 10_000
    # every candidate became active through the one audited service: the simulation's own promotion,
    # or, first, the worker's gate (auto-promotion is on in the test worker: it promotes a candidate
    # when nothing is active yet or when it beats the active one by the margin)
    promoted = AuditEvent.objects.filter(action=AuditEvent.Action.VERSION_PROMOTED)
    assert promoted.count() == 2 * runs.count()  # SW and MF after each run
    assert set(promoted.values_list("actor_name", flat=True)) <= {"simulate_traffic"} | {
        f"training run {run.pk}" for run in runs}


@pytest.mark.slow
def test_simulate_traffic_compares_duel_selection_rules_over_seeds(celery_worker_process, pair_on_sim, tmp_path):
    out, plot = tmp_path / "compare.json", tmp_path / "compare.png"
    call_command("simulate_traffic", "--scores", str(FIXTURES / "scores_eval.jsonl"), "--strong", STRONG,
                 "--weak", WEAK, "--requests", "20", "--feedback-rate", "0", "--duel-rate", "0.5",
                 "--duel-selection", "active,uniform", "--seeds", "0,1", "--kinds", "sw", "--route-with", "sw",
                 "--retrain-every", "10", "--checkpoints", "2,5", "--target-apgr", "0.5", "--json", str(out),
                 "--plot", str(plot), "--run-timeout", "240")
    result = json.loads(out.read_text())
    runs = result["runs"]
    assert [(r["config"]["seed"], r["config"]["duel_selection"]) for r in runs] == [
        (0, "active"), (0, "uniform"), (1, "active"), (1, "uniform")]
    # the same traffic and test part for both rules of a seed
    assert runs[0]["config"]["test_n"] == runs[1]["config"]["test_n"] and runs[0]["random"] == runs[1]["random"]
    comparison = result["comparison"]
    assert set(comparison["selections"]) == {"active", "uniform"} and comparison["checkpoints"] == [2, 5]
    for row in comparison["selections"].values():
        assert row["runs"] == 2 and len(row["labels_to_target"]) == 2 and set(row["at"]) == {"2", "5"}
    assert all(r["counters"]["thumbs"] == 0 and r["counters"]["duel_labels"] > 0 for r in runs)
    assert plot.stat().st_size > 10_000
