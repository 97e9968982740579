"""Celery tasks of training (queue `training`): thin wrappers around `training.runs`."""
from celery import shared_task
from django.conf import settings

from training.models import TrainingRun
from training.runs import (newest_shared_preference_id, training_run_execute, training_run_queue,
                           training_runs_fail_stale)


@shared_task(name="training.run", soft_time_limit=settings.ROUTERHUB_TRAINING_TIME_LIMIT_S,
             time_limit=settings.ROUTERHUB_TRAINING_TIME_LIMIT_S + 60, ignore_result=True, acks_late=False)
def training_run(run_id: int) -> None:
    # acks_late off: a run that killed its worker is not redelivered to kill the next one; the
    # stale-run check fails it instead
    training_run_execute(run_id=run_id)


@shared_task(name="training.scheduled_retrain", ignore_result=True)
def scheduled_retrain() -> str:
    """Queue a run, unless one is queued or running, or nothing was stored since the last good run."""
    training_runs_fail_stale()
    if TrainingRun.objects.filter(status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING]).exists():
        return "a run is already queued or running"
    newest = newest_shared_preference_id()
    last = TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED).order_by("-finished").first()
    if newest is None or (last is not None and last.data_counts.get("newest_preference_id") == newest):
        return "no new preferences"
    return f"queued run {training_run_queue(trigger='schedule').pk}"


@shared_task(name="training.fail_stale_runs", ignore_result=True)
def fail_stale_runs() -> int:
    return training_runs_fail_stale()
