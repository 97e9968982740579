"""Training runs executed here (`training.runs`): claimed once, the gate and auto-promotion, a
tenant's held-out feedback, runs no worker took or that stopped reporting. The same runs on a real
Celery worker are in tests/e2e/test_training_runs.py."""
from __future__ import annotations

import pytest

from feedback.store import preferences_import
from tests.support.paths import FIXTURES
from tests.support.tenants import pair_tenant
from training.models import RouterVersion, TrainingRun
from training.runs import training_run_execute, training_runs_fail_stale
from training.selectors import router_version_serving
from training.services import router_version_promote

pytestmark = pytest.mark.django_db(transaction=True)
ACTIVE = RouterVersion.Status.ACTIVE


def test_a_run_is_claimed_once(stored_preferences, settings):
    settings.ROUTERHUB_EVAL_FILES = [str(FIXTURES / "scores_eval.jsonl")]
    settings.ROUTERHUB_ROUTER_PARAMS = {"mf": {"epochs": 5, "batch_size": 32}}
    run = TrainingRun.objects.create(kinds=["mf"])
    assert training_run_execute(run_id=run.pk).status == TrainingRun.Status.SUCCEEDED
    again = training_run_execute(run_id=run.pk)  # a redelivered task
    assert again.status == TrainingRun.Status.SUCCEEDED and RouterVersion.objects.count() == 1


def test_without_auto_promotion_a_better_candidate_waits_for_an_admin(stored_preferences, settings):
    settings.ROUTERHUB_EVAL_FILES = [str(FIXTURES / "scores_eval.jsonl")]
    settings.ROUTERHUB_AUTO_PROMOTE = False
    run = training_run_execute(run_id=TrainingRun.objects.create(kinds=["sw"]).pk)
    assert run.status == TrainingRun.Status.SUCCEEDED and run.promoted == []
    assert RouterVersion.objects.get().status == RouterVersion.Status.CANDIDATE


def test_a_queued_run_no_worker_took_is_failed_after_its_time_limit():
    from datetime import timedelta

    from django.utils import timezone

    lost = TrainingRun.objects.create(kinds=["mf"], time_limit_s=60)
    TrainingRun.objects.filter(pk=lost.pk).update(created=timezone.now() - timedelta(seconds=61))
    fresh = TrainingRun.objects.create(kinds=["mf"], time_limit_s=60)
    assert training_runs_fail_stale() == 1
    lost.refresh_from_db()
    fresh.refresh_from_db()
    assert lost.status == TrainingRun.Status.FAILED and "no worker took it" in lost.error
    assert fresh.status == TrainingRun.Status.QUEUED


def test_a_tenant_run_holds_out_its_newest_feedback_to_measure_in_domain(settings):
    settings.ROUTERHUB_EVAL_FILES = []
    settings.ROUTERHUB_ROUTER_PARAMS = {"mf": {"epochs": 5, "batch_size": 32}}
    settings.ROUTERHUB_EVAL_TENANT_HOLDOUT_MIN = 3
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")
    tenant = pair_tenant("acme")
    preferences_import(path=FIXTURES / "scores_eval.jsonl", tenant=tenant, source="acme-feedback")
    run = training_run_execute(run_id=TrainingRun.objects.create(kinds=["mf"], tenant=tenant).pk)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    own = run.metrics["mf"]["candidate"]["held-out acme feedback"]
    assert own["n"] >= 3 and 0.0 <= own["apgr"] <= 1.0
    assert run.data_counts["held_out_prompts"] >= 4  # 10% of the shared prompts and 10% of its own
    settings.ROUTERHUB_EVAL_TENANT_HOLDOUT_MIN = 10_000  # too few of its own: all of them train
    second = training_run_execute(run_id=TrainingRun.objects.create(kinds=["mf"], tenant=tenant).pk)
    assert "held-out acme feedback" not in second.metrics["mf"]["candidate"]
    assert second.data_counts["battles"] > run.data_counts["battles"]


def test_a_held_out_slice_of_ties_only_is_skipped_not_a_failed_run(settings):
    """Thumbs up on weak answers are ties: a slice of nothing else has no strong-weak gap, so APGR
    is undefined there (NaN, which Postgres' jsonb refuses); the run leaves that set out."""
    from feedback.store import preferences_store
    from training.core.datasets import ParsedBattle

    settings.ROUTERHUB_EVAL_FILES = []
    settings.ROUTERHUB_ROUTER_PARAMS = {"mf": {"epochs": 2, "batch_size": 32}}
    settings.ROUTERHUB_EVAL_TENANT_HOLDOUT_MIN = 2
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")
    tenant = pair_tenant("likes")
    preferences_store(battles=[ParsedBattle(f"Say something nice about day {i}.", "gpt-4-1106-preview",
                                            "mixtral-8x7b-instruct-v0.1", "tie", "thumbs", "", f"like{i}", 0)
                               for i in range(30)], tenant=tenant)
    run = training_run_execute(run_id=TrainingRun.objects.create(kinds=["mf"], tenant=tenant).pk)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert "held-out likes feedback" not in run.metrics["mf"]["candidate"]


def test_auto_promotion_happens_only_over_the_version_the_candidate_was_compared_with():
    from training.runs import candidate_promote

    compared, meanwhile = RouterVersion.objects.create(kind="mf"), RouterVersion.objects.create(kind="mf")
    router_version_promote(version=compared)
    candidate = RouterVersion.objects.create(kind="mf")
    metrics = {"candidate": {"eval": {"apgr": 0.7}}, "active": {"version": compared.pk, "eval": {"apgr": 0.6}}}
    router_version_promote(version=meanwhile)  # an admin promoted another one during the run
    assert not candidate_promote(version=candidate, kind_metrics=metrics)
    assert RouterVersion.objects.get(status=ACTIVE).pk == meanwhile.pk and "an admin decides" in metrics["gate_note"]
    metrics["active"]["version"] = meanwhile.pk  # compared with what serves now: promoted
    assert candidate_promote(version=candidate, kind_metrics=metrics)
    assert RouterVersion.objects.get(status=ACTIVE).pk == candidate.pk
    # a tenant's first own candidate is compared with the global version that serves the tenant
    tenant = pair_tenant("acme")
    own = RouterVersion.objects.create(kind="mf", tenant=tenant)
    assert candidate_promote(version=own, kind_metrics={"active": {"version": candidate.pk}})
    assert router_version_serving(kind="mf", tenant=tenant).pk == own.pk


def test_a_run_on_a_priced_score_file_stores_each_versions_pool_curve(stored_preferences, settings, tmp_path,
                                                                       admin_client):
    import json

    rows = [json.loads(line) for line in (FIXTURES / "scores_eval.jsonl").read_text().splitlines() if line.strip()]
    costs = {"gpt-4-1106-preview": 0.01, "mixtral-8x7b-instruct-v0.1": 0.001, "small-model": 0.0001}
    priced = tmp_path / "priced.jsonl"
    priced.write_text("".join(json.dumps({**row, "costs": costs}) + "\n" for row in rows))
    settings.ROUTERHUB_EVAL_FILES = [str(priced)]
    settings.ROUTERHUB_ROUTER_PARAMS = {"mf": {"epochs": 5, "batch_size": 32}}
    run = training_run_execute(run_id=TrainingRun.objects.create(kinds=["mf"]).pk)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    version = RouterVersion.objects.get()
    pool = version.metrics["priced.jsonl (pool of 3)"]
    assert pool["pool"] == sorted(costs) and 0 < pool["aiq"] <= 1 and pool["hull"]["cost"]
    assert "apgr" in version.metrics["priced.jsonl"]  # the pair's figures stay beside it
    page = admin_client.get(f"/console/routers/{version.pk}/").content.decode()
    assert "priced.jsonl (pool of 3)" in page and "AIQ" in page
