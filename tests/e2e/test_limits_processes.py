"""A tenant's rate limit holds across web processes (issue 13): two gunicorn servers on the same
database and Redis, requests sent to both at once; exactly the limit is answered."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.services import api_key_create
from tests.support.processes import gunicorn_start, stop_process
from tests.support.tenants import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_rate_limit_holds_across_two_web_processes(sim):
    tenant = make_tenant("acme", sim, rate_limit_rpm=10)
    key = api_key_create(tenant=tenant, name="k").raw_key
    # a generous wait for an upstream slot: this test is about the limiter, not the thread reserve
    servers = [gunicorn_start(ROUTERHUB_UPSTREAM_SLOT_WAIT_S="10") for _ in range(2)]
    try:
        def send(i: int) -> int:
            url = servers[i % 2][1]
            return httpx.post(url + "/chat/completions", timeout=30, headers={"Authorization": f"Bearer {key}"},
                              json={"model": "weak-model", "messages": [{"role": "user", "content": f"hi {i}"}]}
                              ).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(send, range(30)))
    finally:
        for proc, _ in servers:
            stop_process(proc)
    assert statuses.count(200) == 10 and statuses.count(429) == 20  # one count for both processes
    assert RoutedRequest.objects.filter(status="ok").count() == 10
    assert RoutedRequest.objects.filter(http_status=429).count() == 20
