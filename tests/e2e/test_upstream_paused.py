"""A stalled upstream (issue 13): requests waiting on it may take every web thread but the reserve
(routerhub/gateway/capacity.py), so /healthz still answers within a second; a request past the
upstream slots is a 503 `server_overloaded` at once, logged, instead of queueing for a thread."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.services import api_key_create
from tests.support.processes import gunicorn_start, stop_process
from tests.support.tenants import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_stalled_upstream_leaves_the_reserve_for_healthz(sim):
    key = api_key_create(tenant=make_tenant("acme", sim), name="k").raw_key  # endpoints: 5-s timeout, no retry
    server, url = gunicorn_start()  # 1 worker x 4 threads: 2 upstream slots, 2 threads in reserve
    root = sim.removesuffix("/v1")
    httpx.post(root + "/_sim/config", json={"latency_ms": 30_000})  # the upstream stalls
    try:
        def ask(i: int) -> tuple[int, dict, float]:
            started = time.monotonic()
            response = httpx.post(url + "/chat/completions", timeout=30, headers={"Authorization": f"Bearer {key}"},
                                  json={"model": "weak-model", "messages": [{"role": "user", "content": f"hi {i}"}]})
            return response.status_code, response.json(), time.monotonic() - started

        with ThreadPoolExecutor(max_workers=4) as pool:
            stalled = [pool.submit(ask, i) for i in range(2)]
            time.sleep(1.0)  # both wait on the upstream now
            refused = [ask(2), ask(3)]
            started = time.monotonic()
            health = httpx.get(url.removesuffix("/v1") + "/healthz", timeout=5)
            health_s = time.monotonic() - started
            answers = [future.result() for future in stalled]
    finally:
        httpx.post(root + "/_sim/config", json={"latency_ms": 0})
        stop_process(server)
    assert health.status_code == 200 and health_s < 1.0
    for status, body, seconds in refused:
        assert status == 503 and body["error"]["code"] == "server_overloaded" and seconds < 1.0
    assert [status for status, _, _ in answers] == [502, 502]  # the model timed out (5 s), no fallback for a named model
    rows = RoutedRequest.objects.all()
    assert sorted(r.http_status for r in rows) == [502, 502, 503, 503]
    assert all(r.status == "upstream_error" for r in rows)
