"""The slow end-to-end tests: real Celery workers, gunicorn, runstack, a real browser.

Every test collected under tests/e2e/ is marked `slow` here (`make test-fast` leaves them out)."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from tests.support.processes import gunicorn_start, start_worker, stop_process

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


@pytest.fixture
def gunicorn(transactional_db, sim):
    """The web app as `make run` serves it: gunicorn with threads, in its own process; its /v1 URL."""
    proc, url = gunicorn_start(ROUTERHUB_ROUTER_RELOAD_S="1")
    yield url
    stop_process(proc)


@pytest.fixture
def duel_sweeper(transactional_db):
    """Beat's duel dispatch (`feedback.duels.duels_dispatch`, every ROUTERHUB_DUEL_DISPATCH_S in
    production) run every 0.3 s in a thread, so duel tests need not wait for beat's period."""
    from django.db import connection

    from feedback.duels import duels_dispatch

    stop = threading.Event()

    def sweep():
        try:
            while not stop.wait(0.3):
                duels_dispatch()
        finally:
            connection.close()

    thread = threading.Thread(target=sweep, name="duel-sweeper", daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join(timeout=10)
