"""Celery tasks of training (queue `training`): thin wrappers around `training.runs`."""
from celery import shared_task
from django.conf import settings

from training.runs import scheduled_retrain_queue, training_run_execute, training_runs_fail_stale


@shared_task(name="training.run", soft_time_limit=settings.ROUTERHUB_TRAINING_TIME_LIMIT_S,
             time_limit=settings.ROUTERHUB_TRAINING_TIME_LIMIT_S + 60, ignore_result=True, acks_late=False)
def training_run(run_id: int) -> None:
    # acks_late off: a run that killed its worker is not redelivered to kill the next one; the
    # stale-run check fails it instead
    training_run_execute(run_id=run_id)


@shared_task(name="training.scheduled_retrain", ignore_result=True)
def scheduled_retrain() -> str:
    """Queue a run per scope (global, and each tenant with its own feedback) that has new
    preferences since its last good run and no run queued or running."""
    return "; ".join(scheduled_retrain_queue())


@shared_task(name="training.fail_stale_runs", ignore_result=True)
def fail_stale_runs() -> int:
    return training_runs_fail_stale()
