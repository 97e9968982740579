"""`simulate_traffic` on the small fixtures: the real gateway (in the command's process), the
simulated upstream replaying the file's answers, a real Celery worker retraining the tenant's
routers, thumbs and duel labels from the file's scores."""
from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from feedback.models import Duel, Feedback, Preference
from feedback.store import preferences_import
from routerhub.audit.models import AuditEvent
from routerhub.devtools.simulation import duel_winner, split_traffic_test, thumb_for
from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.models import ModelEndpoint, Tenant
from tests.conftest import FIXTURES
from training.core.evaluation import eval_set_load
from training.models import TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)
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


@pytest.mark.slow
def test_simulate_traffic_on_the_fixture_has_one_point_per_retrain(celery_worker_process, sim, tmp_path):
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")  # the shared data: the cold start
    for name in (STRONG, WEAK):
        ModelEndpoint.objects.create(name=name, upstream_model=name, base_url=sim, max_retries=0, timeout_s=10,
                                     input_price_per_mtok=Decimal("1"))
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
    # the simulation promotes through the one audited service, like every other path (the worker's
    # gate promoted the first candidates already: nothing was active yet)
    promoted = AuditEvent.objects.filter(action=AuditEvent.Action.VERSION_PROMOTED)
    assert promoted.count() == 2 * runs.count()  # SW and MF after each run
    assert promoted.filter(actor_name="simulate_traffic").count() >= 2 * (runs.count() - 1)


def test_simulate_traffic_refuses_to_reset_a_real_tenant(sim, tenant):
    with pytest.raises(CommandError) as caught:
        call_command("simulate_traffic", "--scores", str(FIXTURES / "scores_eval.jsonl"), "--strong", STRONG,
                     "--weak", WEAK, "--tenant", tenant.slug)
    assert caught.value.returncode == 2 and Tenant.objects.filter(pk=tenant.pk).exists()


def test_simulate_traffic_rejects_bad_arguments():
    with pytest.raises(CommandError) as caught:
        call_command("simulate_traffic", "--scores", "/nonexistent.jsonl", "--strong", STRONG, "--weak", WEAK)
    assert caught.value.returncode == 2
    with pytest.raises(CommandError) as caught:
        call_command("simulate_traffic", "--scores", str(FIXTURES / "scores_eval.jsonl"), "--strong", STRONG,
                     "--weak", WEAK, "--feedback-rate", "1.5")
    assert caught.value.returncode == 2


def test_one_simulation_per_tenant_at_a_time(sim):
    import psycopg

    from tests.conftest import child_database_url

    with psycopg.connect(child_database_url(), autocommit=True) as other:  # another simulate_traffic, running
        other.execute("SELECT pg_advisory_lock(hashtext('simulate_traffic:simulation'))")
        with pytest.raises(CommandError) as caught:
            call_command("simulate_traffic", "--scores", str(FIXTURES / "scores_eval.jsonl"), "--strong", STRONG,
                         "--weak", WEAK)
    assert caught.value.returncode == 2 and "another simulate_traffic" in str(caught.value)
    assert not Tenant.objects.filter(slug="simulation").exists()
