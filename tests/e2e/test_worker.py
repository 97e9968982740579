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
