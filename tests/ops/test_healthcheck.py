"""`manage.py healthcheck ROLE` (docker-compose's health checks) against the real parts."""
from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask


def test_web_and_sim_are_healthy_when_they_answer(live_server, sim, db):
    call_command("healthcheck", "web", "--port", str(urlsplit(live_server.url).port))
    call_command("healthcheck", "sim", "--port", str(urlsplit(sim).port))
    with pytest.raises(CommandError) as caught:
        call_command("healthcheck", "web", "--port", "9")  # nothing listens there
    assert caught.value.returncode == 1 and "web unhealthy" in str(caught.value)


@pytest.mark.django_db
def test_beat_is_healthy_while_its_duel_sweep_runs():
    every = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.SECONDS)
    task = PeriodicTask.objects.create(name="dispatch-duels", task="feedback.dispatch_duels", interval=every)
    with pytest.raises(CommandError, match="has not run yet"):
        call_command("healthcheck", "beat")
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=timezone.now() - timedelta(seconds=10))
    call_command("healthcheck", "beat")
    PeriodicTask.objects.filter(pk=task.pk).update(last_run_at=timezone.now() - timedelta(minutes=5))
    with pytest.raises(CommandError, match=r"last ran 30\d s ago"):
        call_command("healthcheck", "beat")


def test_a_worker_that_does_not_answer_is_unhealthy(monkeypatch):
    # the ping is real; no worker of the tests' broker runs on a host of this name (one on this host may)
    monkeypatch.setattr("socket.gethostname", lambda: "no-worker-runs-here")
    with pytest.raises(CommandError) as caught:
        call_command("healthcheck", "worker")
    assert caught.value.returncode == 1 and "answers a ping" in str(caught.value)
