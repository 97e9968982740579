"""Training runs on a real Celery worker: end to end, the gate, a killed worker, the retrain command."""
from __future__ import annotations

import os
import signal
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from feedback.store import preferences_import
from tests.conftest import FIXTURES, start_worker, stop_process
from training.core.evaluation import gate_passes
from training.models import RouterVersion, TrainingRun
from training.runs import training_run_execute, training_runs_fail_stale
from training.tasks import training_run

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_for(run: TrainingRun, statuses, timeout=120) -> TrainingRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in statuses:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run.pk} still {run.status} after {timeout}s: {run.message}")


@pytest.fixture
def stored():
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")


def test_retrain_wait_runs_on_the_worker_and_promotes_first_versions(celery_worker_process, stored, capsys):
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


def test_a_run_is_claimed_once(stored, settings):
    settings.ROUTERHUB_EVAL_FILES = [str(FIXTURES / "scores_eval.jsonl")]
    settings.ROUTERHUB_ROUTER_PARAMS = {"mf": {"epochs": 5, "batch_size": 32}}
    run = TrainingRun.objects.create(kinds=["mf"])
    assert training_run_execute(run_id=run.pk).status == TrainingRun.Status.SUCCEEDED
    again = training_run_execute(run_id=run.pk)  # a redelivered task
    assert again.status == TrainingRun.Status.SUCCEEDED and RouterVersion.objects.count() == 1


def test_the_gate():
    set_metrics = lambda apgr: {"a.jsonl": {"apgr": apgr}, "held-out preferences": {"apgr": apgr}}  # noqa: E731
    assert gate_passes({"candidate": set_metrics(0.6)}, margin=0.01)  # nothing active yet
    assert gate_passes({"candidate": set_metrics(0.62), "active": {"version": 1, **set_metrics(0.6)}}, margin=0.01)
    assert not gate_passes({"candidate": set_metrics(0.605), "active": {"version": 1, **set_metrics(0.6)}},
                           margin=0.01)
    mixed = {"candidate": {"a.jsonl": {"apgr": 0.7}, "held-out preferences": {"apgr": 0.5}},
             "active": {"version": 1, "a.jsonl": {"apgr": 0.6}, "held-out preferences": {"apgr": 0.6}}}
    assert not gate_passes(mixed, margin=0.01)  # must beat it on every set
    assert not gate_passes({"candidate": {}}, margin=0.0)


def test_without_auto_promotion_a_better_candidate_waits_for_an_admin(stored, settings):
    settings.ROUTERHUB_EVAL_FILES = [str(FIXTURES / "scores_eval.jsonl")]
    settings.ROUTERHUB_AUTO_PROMOTE = False
    run = training_run_execute(run_id=TrainingRun.objects.create(kinds=["sw"]).pk)
    assert run.status == TrainingRun.Status.SUCCEEDED and run.promoted == []
    assert RouterVersion.objects.get().status == RouterVersion.Status.CANDIDATE


def test_a_killed_worker_leaves_the_run_failed_and_the_active_version_unchanged(stored, settings):
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
        wait_for(run, {TrainingRun.Status.RUNNING}, timeout=60)
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


def test_retrain_rejects_unknown_kinds():
    with pytest.raises(CommandError) as caught:
        call_command("retrain", "--kinds", "knn")
    assert caught.value.returncode == 2 and not TrainingRun.objects.exists()


def test_the_schedule_retrains_only_when_there_is_something_new(stored, settings):
    from training.tasks import scheduled_retrain

    settings.ROUTERHUB_EVAL_FILES = []
    settings.ROUTERHUB_ROUTER_PARAMS = {"mf": {"epochs": 2, "batch_size": 32}}
    assert scheduled_retrain().startswith("global: queued run")
    run = TrainingRun.objects.get()
    assert scheduled_retrain() == "global: a run is already queued or running"
    training_run_execute(run_id=run.pk)  # here, or by a test worker that took its task first
    wait_for(run, {TrainingRun.Status.SUCCEEDED})
    assert scheduled_retrain() == "global: no new preferences"
    preferences_import(path=FIXTURES / "battles.jsonl")
    assert scheduled_retrain().startswith("global: queued run")


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
