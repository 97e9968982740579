"""`manage.py healthcheck ROLE`: a container's health check (docker-compose), exit 0 when healthy.

- web: `/healthz` answers 200 on this host;
- worker: this host's Celery worker answers a ping (its node name: celery@<hostname>);
- beat: beat ran the duel dispatch sweep lately (its last run in django-celery-beat's table is no
  older than three periods plus a minute);
- sim: the simulated upstream lists its models.
"""
from __future__ import annotations

import socket
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

ROLES = ("web", "worker", "beat", "sim")


class Command(BaseCommand):
    help = "Exit 0 when this container's part of RouterHub is healthy (web, worker, beat or sim)."

    def add_arguments(self, parser):
        parser.add_argument("role", choices=ROLES)
        parser.add_argument("--port", type=int, default=None, help="web: 8000, sim: 9100")

    def handle(self, *args, role: str, port: int | None, **opts):
        problem = getattr(self, f"_{role}")(port)
        if problem:
            raise CommandError(f"{role} unhealthy: {problem}", returncode=1)
        self.stdout.write(f"{role} healthy")

    def _web(self, port):
        return _http_problem(f"http://127.0.0.1:{port or 8000}/healthz")

    def _sim(self, port):
        return _http_problem(f"http://127.0.0.1:{port or 9100}/v1/models")

    def _worker(self, port):
        from routerhub.celery import app

        # a worker of this deployment on this host answers, whatever its node name (docker-compose's
        # celery@<container>, make run's routerhub@<host>); the broker's key prefix scopes the ping
        host = socket.gethostname()
        replies = app.control.ping(timeout=3.0) or []
        names = [name for reply in replies for name in reply]
        return None if any(name.endswith("@" + host) for name in names) else (
            f"no worker on {host} answers a ping" + (f" (others do: {', '.join(names)})" if names else ""))

    def _beat(self, port):
        from django_celery_beat.models import PeriodicTask

        task = PeriodicTask.objects.filter(name="dispatch-duels").first()
        if task is None or task.last_run_at is None:
            return "the dispatch-duels schedule has not run yet"
        limit = timedelta(seconds=3 * settings.ROUTERHUB_DUEL_DISPATCH_S + 60)
        age = timezone.now() - task.last_run_at
        return None if age <= limit else f"dispatch-duels last ran {age.total_seconds():.0f} s ago"


def _http_problem(url: str) -> str | None:
    try:
        response = httpx.get(url, timeout=3.0)
    except httpx.HTTPError as exc:
        return f"{url}: {type(exc).__name__}"
    return None if response.status_code == 200 else f"{url}: HTTP {response.status_code}"
