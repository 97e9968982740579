"""The slow end-to-end tests: real Celery workers, gunicorn, runstack, a real browser.

Every test collected under tests/e2e/ is marked `slow` here (`make test-fast` leaves them out)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.processes import start_worker, stop_process

E2E = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        if E2E in Path(item.path).resolve().parents:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real Celery worker on Redis, consuming both queues, writing to the test database."""
    proc = start_worker("pytest")
    yield proc
    stop_process(proc)
