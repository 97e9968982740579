"""Training runs on a real Celery worker: `retrain --wait` end to end (global and for one tenant)
and a worker killed while it trains."""
from __future__ import annotations

import os
import signal
import time

import pytest
from django.core.management import call_command

from feedback.store import preferences_import
from tests.support.paths import FIXTURES
from tests.support.processes import start_worker, stop_process
from tests.support.runs import wait_for_run
from tests.support.tenants import pair_tenant
from training.models import RouterVersion, TrainingRun
from training.runs import training_run_execute, training_runs_fail_stale
from training.selectors import router_version_serving
from training.tasks import training_run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ACTIVE = RouterVersion.Status.ACTIVE


def test_retrain_wait_runs_on_the_worker_and_promotes_first_versions(celery_worker_process, stored_preferences,
                                                                      capsys):
    call_command("retrain", "--wait", "--timeout", "180")
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.SUCCEEDED and run.progress == 1.0 and run.started and run.finished
    assert run.data_counts["battles"] > 0 and "mf: epoch" in run.log
    for kind in ("sw", "mf"):
        version = RouterVersion.objects.get(pk=run.metrics[kind]["candidate_version"])
        assert version.training_run_id == run.pk
        metrics = version.metrics["scores_eval.jsonl"]
        assert set(metrics) >= {"apgr", "cpt50", "cpt80", "auc"} and metrics["n"] == 40
        assert metrics["apgr"] > 0.6  # the fixture is learnable: maths needs the strong model
        assert version.status == RouterVersion.Status.ACTIVE  # no active version before: the gate passes
    assert sorted(run.promoted) == sorted(run.metrics[k]["candidate_version"] for k in ("sw", "mf"))
    assert "succeeded" in capsys.readouterr().out
    # a second run: the candidates equal the active versions, so they do not beat them by the margin
    call_command("retrain", "--wait", "--timeout", "180")
    second = TrainingRun.objects.order_by("-pk").first()
    assert second.status == TrainingRun.Status.SUCCEEDED and second.promoted == []
    assert second.metrics["mf"]["active"]["version"] in run.promoted
    assert RouterVersion.objects.filter(status=RouterVersion.Status.ACTIVE).count() == 2


def test_a_killed_worker_leaves_the_run_failed_and_the_active_version_unchanged(stored_preferences, settings):
    settings.ROUTERHUB_EVAL_FILES = [str(FIXTURES / "scores_eval.jsonl")]
    settings.ROUTERHUB_ROUTER_PARAMS = {"mf": {"epochs": 5, "batch_size": 32}}
    settings.ROUTERHUB_AUTO_PROMOTE = True
    first = training_run_execute(run_id=TrainingRun.objects.create(kinds=["mf"]).pk)
    active = RouterVersion.objects.get(status=RouterVersion.Status.ACTIVE)
    assert active.pk in first.promoted
    # a worker whose MF training would take hours, killed while it trains
    # (on a queue of its own, so that no other test worker takes the run)
    queue = f"doomed-{os.getpid()}"
    worker = start_worker("doomed", queues=queue,
                          ROUTERHUB_ROUTER_PARAMS='{"mf": {"epochs": 1000000, "batch_size": 8}}')
    try:
        run = TrainingRun.objects.create(kinds=["mf"])
        training_run.apply_async(args=[run.pk], queue=queue)
        wait_for_run(run, {TrainingRun.Status.RUNNING}, timeout=60)
        deadline = time.monotonic() + 60
        while "epoch" not in run.message and time.monotonic() < deadline:  # it is training
            time.sleep(0.2)
            run.refresh_from_db()
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        stop_process(worker)
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.RUNNING  # nobody said otherwise yet
    settings.ROUTERHUB_TRAINING_HEARTBEAT_TIMEOUT_S = 1
    time.sleep(1.5)
    assert training_runs_fail_stale() == 1
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.FAILED and "stopped reporting" in run.error
    assert RouterVersion.objects.get(status=RouterVersion.Status.ACTIVE).pk == active.pk
    assert RouterVersion.objects.count() == 1  # no half-made candidate


@pytest.mark.slow
def test_a_tenant_run_on_the_worker_trains_its_own_versions_with_its_feedback(celery_worker_process):
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")  # shared
    tenant = pair_tenant("acme")
    preferences_import(path=FIXTURES / "scores_eval.jsonl", tenant=tenant, source="acme-feedback")  # its own
    call_command("retrain", "--tenant", "acme", "--wait", "--timeout", "180")
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.SUCCEEDED and run.tenant_id == tenant.pk
    assert run.data_counts["by_source"]["acme-feedback"] > 0  # its feedback is in the training data
    for kind in ("sw", "mf"):
        version = RouterVersion.objects.get(pk=run.metrics[kind]["candidate_version"])
        assert version.tenant_id == tenant.pk and version.status == ACTIVE  # nothing served it before
        assert router_version_serving(kind=kind, tenant=tenant).pk == version.pk
    assert not RouterVersion.objects.filter(tenant__isnull=True).exists()  # the global scope is untouched
