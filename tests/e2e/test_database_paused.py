"""A paused Postgres (issue 13): the server keeps its connections open and answers nothing, so no
statement timeout can fire. Requests fail with a 503 in OpenAI JSON once the client-side deadline
passes (routerhub.dbbackend), /healthz answers within a second meanwhile, nothing is half-written,
and the service answers again as soon as the database does. The pause is a proxy that holds every
byte (tests/support/tcpproxy.py), between gunicorn and the test database."""
from __future__ import annotations

import time

import httpx
import pytest

from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.models import ApiKey
from routerhub.tenants.services import api_key_create
from tests.support.processes import child_database_url, gunicorn_start, stop_process
from tests.support.tcpproxy import PausableProxy
from tests.support.tenants import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_paused_database_is_a_503_after_the_deadline_and_nothing_is_half_written(sim):
    tenant = make_tenant("acme", sim)
    created = api_key_create(tenant=tenant, name="k")
    headers = {"Authorization": f"Bearer {created.raw_key}"}

    def ask(url: str, text: str) -> httpx.Response:
        return httpx.post(url + "/chat/completions", headers=headers, timeout=30,
                          json={"model": "weak-model", "messages": [{"role": "user", "content": text}]})

    with PausableProxy.for_database(child_database_url()) as proxy:
        # a 1 s statement timeout, so a 3 s client deadline; a reconnect gives up after 2 s
        server, url = gunicorn_start(DATABASE_URL=proxy.database_url, ROUTERHUB_DB_STATEMENT_TIMEOUT_MS="1000",
                                     ROUTERHUB_DB_CONNECT_TIMEOUT_S="2")
        try:
            assert ask(url, "before").status_code == 200
            proxy.pause()
            started = time.monotonic()
            paused = ask(url, "while paused")
            waited = time.monotonic() - started
            started = time.monotonic()
            health = httpx.get(url.removesuffix("/v1") + "/healthz", timeout=5)
            health_s = time.monotonic() - started
            proxy.resume()
            after = ask(url, "after")
        finally:
            stop_process(server)
    assert paused.status_code == 503 and paused.headers["Retry-After"] == "5", paused.text
    assert paused.json()["error"]["code"] == "service_unavailable"
    assert waited < 10, waited  # the deadline (3 s) and the reconnects' timeouts (2 s each), not for ever
    assert health.status_code == 503 and "database" in health.json()["down"] and health_s < 1.0
    assert after.status_code == 200
    # the two answered requests are stored whole; of the refused one nothing reached the database
    rows = RoutedRequest.objects.order_by("created")
    assert [(r.status, r.http_status) for r in rows] == [("ok", 200), ("ok", 200)]
    assert all(r.answer and r.cost > 0 for r in rows)
    assert not RoutedRequest.objects.filter(messages__contains=[{"content": "while paused"}]).exists()
    assert ApiKey.objects.get().last_used is not None
