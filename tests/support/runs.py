"""Waiting for a training run (queued on a worker, or run here) to reach a status."""
from __future__ import annotations

import time

from training.models import TrainingRun


def wait_for_run(run: TrainingRun, statuses, timeout=120) -> TrainingRun:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db()
        if run.status in statuses:
            return run
        time.sleep(0.2)
    raise AssertionError(f"run {run.pk} still {run.status} after {timeout}s: {run.message}")
