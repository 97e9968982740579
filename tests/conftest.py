"""Shared fixtures: real processes on real servers (Postgres + pgvector, Redis, HTTP)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from django.conf import settings

from routerhub.tenants.services import api_key_create
from tests.factories import TenantFactory

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("ROUTERHUB_SHARED_DATA", REPO.parent / "shared" / "data"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None,
                  expect: int | None = None) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            response = httpx.get(url, timeout=2)
            if expect is None or response.status_code == expect:
                return response
            last = response.status_code
        except httpx.HTTPError as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer in {timeout}s (last: {last})")


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def child_database_url() -> str:
    """DATABASE_URL of the test database (for processes the tests start)."""
    from django.db import connection

    parts = urlsplit(settings.DATABASE_URL)
    return urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))


def child_env(**extra) -> dict:
    return dict(os.environ, DJANGO_SETTINGS_MODULE="routerhub.settings_test", DATABASE_URL=child_database_url(),
                CELERY_BROKER_URL=settings.CELERY_BROKER_URL, ROUTERHUB_STATE_DIR=str(settings.STATE_DIR),
                PYTHONUNBUFFERED="1", **extra)


@pytest.fixture(scope="session")
def sim_upstream():
    """The simulated OpenAI-compatible upstream, started by its management command."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(REPO / "manage.py"), "sim_upstream", "--port", str(port)],
                            cwd=REPO, env=dict(os.environ, DJANGO_SETTINGS_MODULE="routerhub.settings_test"))
    base = f"http://127.0.0.1:{port}"
    wait_for_http(base + "/_sim/config", proc=proc)
    yield base + "/v1"
    stop_process(proc)


@pytest.fixture
def sim(sim_upstream):
    """The upstream with default settings for this test (latency 0, no failures)."""
    root = sim_upstream.removesuffix("/v1")
    httpx.post(root + "/_sim/config", json={"latency_ms": 0, "chunk_delay_ms": 0, "failure_rate": 0,
                                            "fail_models": [], "fail_status": 500})
    httpx.post(root + "/_sim/stats/reset")
    yield sim_upstream
    httpx.post(root + "/_sim/config", json={"fail_models": [], "failure_rate": 0, "latency_ms": 0})


FIXTURES = REPO / "tests" / "fixtures"
# what the test workers' training runs evaluate on, and how they train MF on the small fixtures
WORKER_ENV = {"ROUTERHUB_EVAL_FILES": str(FIXTURES / "scores_eval.jsonl"), "ROUTERHUB_AUTO_PROMOTE": "true",
              "ROUTERHUB_ROUTER_PARAMS": '{"mf": {"epochs": 60, "batch_size": 32}}'}


def start_worker(name: str, queues: str = "default,training", **env) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "routerhub", "worker", "-Q", queues, "--pool", "solo",
         "-n", f"{name}-{os.getpid()}@%h", "-l", "WARNING", "--without-gossip", "--without-mingle"],
        cwd=REPO, env=child_env(**{**WORKER_ENV, **env}))
    time.sleep(0.5)
    if proc.poll() is not None:
        raise RuntimeError("celery worker failed to start")
    return proc


@pytest.fixture(scope="session")
def celery_worker_process(django_db_setup, django_db_blocker):
    """A real Celery worker on Redis, consuming both queues, writing to the test database."""
    proc = start_worker("pytest")
    yield proc
    stop_process(proc)


@pytest.fixture
def tenant(db):
    return TenantFactory()


@pytest.fixture
def tenant_key(tenant):
    return api_key_create(tenant=tenant, name="test").raw_key


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """pytest-django's test database, and at the end no session of a child process left on it
    (a worker's backend may outlive its process by a moment), so the database can be dropped."""
    yield
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        for _ in range(50):
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                           "AND pid <> pg_backend_pid()")
            if cursor.fetchone()[0] == 0:
                break
            time.sleep(0.1)
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid()")
