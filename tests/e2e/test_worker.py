import socket
import time

import pytest

from routerhub.ops.models import WorkerHeartbeat
from routerhub.ops.tasks import worker_heartbeat


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_real_celery_worker_runs_a_task_that_writes_a_row(celery_worker_process):
    worker_heartbeat.delay()
    deadline = time.monotonic() + 30
    while not WorkerHeartbeat.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    beat = WorkerHeartbeat.objects.get()
    assert beat.hostname.startswith("pytest-") and socket.gethostname() in beat.hostname
    assert beat.beats == 1


def test_the_worker_healthcheck_finds_a_worker_of_any_node_name_on_this_host(celery_worker_process):
    """`make run` names its worker routerhub@<host>, docker-compose celery@<container>: both pass."""
    from django.core.management import CommandError, call_command

    deadline, problem = time.monotonic() + 60, None
    while time.monotonic() < deadline:  # a probe retries while the worker starts, as docker's does
        try:
            call_command("healthcheck", "worker")
            return
        except CommandError as exc:
            problem = exc
    raise AssertionError(f"the worker never answered: {problem}")
