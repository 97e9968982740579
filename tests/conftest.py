"""Fixtures every test directory may use: real processes on real servers (Postgres + pgvector,
Redis, HTTP), the simulated upstream, a tenant, the live gateway and a trained MF version.
Plain helpers live in tests/support/; fixtures of one directory in that directory's conftest.py."""
from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import openai
import pytest

from feedback.store import preferences_import
from routerhub.embeddings.services import cache_writer
from routerhub.gateway import routing
from routerhub.tenants.services import api_key_create
from tests.support.factories import TenantFactory
from tests.support.gateway import Gateway, train_mf_version
from tests.support.paths import FIXTURES, REPO
from tests.support.processes import free_port, stop_process, wait_for_http
from tests.support.tenants import make_tenant


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


@pytest.fixture
def transactional_db(transactional_db):
    """pytest-django's, and before it empties the tables, the embedding cache entries that requests
    served in this process queued (`cache_writer`): none lands in the next test's tables. (A test
    marked `django_db(transaction=True)` does not come through here: one that routes requests in
    this process without `live_server` flushes `cache_writer` itself.)"""
    yield
    cache_writer.flush()


@pytest.fixture
def tenant(db):
    return TenantFactory()


@pytest.fixture
def tenant_key(tenant):
    return api_key_create(tenant=tenant, name="test").raw_key


@pytest.fixture
def gateway(live_server, sim) -> Gateway:
    """The gateway over real HTTP: Django's live server, the simulated upstream, the official client
    (see tests/support/gateway.py)."""
    routing.registry.reload()  # forget versions of earlier tests (their rows are gone)
    tenant = make_tenant("acme", sim, default_router_kind="mf", routing_threshold=0.5)
    key = api_key_create(tenant=tenant, name="test").raw_key
    url = live_server.url + "/v1"
    return Gateway(url, sim, tenant, key, openai.OpenAI(base_url=url, api_key=key, max_retries=0))


@pytest.fixture
def mf_version(gateway):
    """The active MF version: strong on hard maths, weak on small talk."""
    return train_mf_version()


@pytest.fixture
def stored_preferences():
    """The shared preference store filled from the training fixture (48 prompts x 3 battles)."""
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")


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
