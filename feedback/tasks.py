"""Celery tasks of the feedback loop (queue `default`): thin wrappers around `feedback.duels`."""
from celery import shared_task

from feedback.duels import duel_fetch_answer, duel_judge_run, duels_dispatch
from feedback.models import Duel


@shared_task(name="feedback.duel_fetch", bind=True, ignore_result=True, max_retries=None)
def duel_fetch(self, duel_id: int) -> str:
    """Fetch a duel's second answer; a transient upstream failure is retried with backoff."""
    duel = duel_fetch_answer(duel_id=duel_id)
    if duel.status == Duel.Status.PENDING:  # the upstream failed and attempts are left
        raise self.retry(countdown=min(300, 10 * 2 ** duel.attempts))
    return duel.status


@shared_task(name="feedback.duel_judge", ignore_result=True)
def duel_judge(duel_id: int) -> str:
    return duel_judge_run(duel_id=duel_id).status


@shared_task(name="feedback.dispatch_duels", ignore_result=True)
def dispatch_duels() -> int:
    """Beat, every ROUTERHUB_DUEL_DISPATCH_S: queue new duels' fetches and re-send lost ones."""
    return duels_dispatch()


@shared_task(name="feedback.requeue_stale_duels", ignore_result=True)
def requeue_stale_duels() -> int:
    """The former 5-minute schedule's name (a beat table may still hold it): the same sweep."""
    return duels_dispatch()
