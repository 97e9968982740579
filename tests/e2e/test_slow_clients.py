"""Slow clients (issue 13): nginx in front of gunicorn (`make run` when nginx is installed, and
docker-compose, from one template) buffers each request whole, so clients that send half a body
hold none of gunicorn's threads. Skips when nginx is not installed (.ci/run installs it)."""
from __future__ import annotations

import subprocess

import httpx
import pytest
from django.conf import settings

from routerhub.devtools.frontproxy import nginx_binary, nginx_command
from routerhub.devtools.management.commands.bench_slow_clients import slow_clients_open
from routerhub.tenants.services import api_key_create
from tests.support.processes import free_port, gunicorn_start, stop_process, wait_for_http
from tests.support.tenants import make_tenant

pytestmark = [pytest.mark.django_db(transaction=True),
              pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed")]


def test_slow_clients_hold_no_thread_behind_nginx_and_its_refusals_are_json(sim, tmp_path):
    key = api_key_create(tenant=make_tenant("acme", sim), name="k").raw_key
    web, web_url = gunicorn_start()  # 1 worker x 4 threads
    web_port = int(web_url.split(":")[2].split("/")[0])
    proxy_port = free_port()
    proxy = subprocess.Popen(nginx_command(nginx_binary(), tmp_path / "nginx", listen=f"127.0.0.1:{proxy_port}",
                                           upstream=f"127.0.0.1:{web_port}"))
    base = f"http://127.0.0.1:{proxy_port}"
    try:
        wait_for_http(base + "/healthz", proc=proxy, expect=200)
        held_direct = slow_clients_open(web_port, 8, key)  # twice gunicorn's threads, half a body each
        held_proxied = slow_clients_open(proxy_port, 50, key)
        try:
            with pytest.raises(httpx.TimeoutException):  # gunicorn alone: every thread waits on a body
                httpx.get(f"http://127.0.0.1:{web_port}/healthz", timeout=2)
        finally:
            for sock in held_direct:
                sock.close()
        wait_for_http(f"http://127.0.0.1:{web_port}/healthz", expect=200, timeout=15)  # its threads come back
        health = httpx.get(base + "/healthz", timeout=1)  # 50 slow clients at nginx: nothing waits
        chat = httpx.post(base + "/v1/chat/completions", timeout=5, headers={"Authorization": f"Bearer {key}"},
                          json={"model": "weak-model", "messages": [{"role": "user", "content": "hi"}]})
        for sock in held_proxied:
            sock.close()
        too_large = httpx.post(base + "/v1/chat/completions", content=b"x" * (9 * 1024 * 1024), timeout=10,
                               headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    finally:
        stop_process(proxy)
        stop_process(web)
    assert health.status_code == 200 and health.elapsed.total_seconds() < 1
    assert chat.status_code == 200 and chat.json()["choices"][0]["message"]["content"]
    assert too_large.status_code == 413 and too_large.json()["error"]["code"] == "request_too_large"
    assert "nginx/" not in (health.headers.get("server") or "")  # no version shown
    assert settings.ROUTERHUB_MAX_REQUEST_BYTES < 8 * 1024 * 1024  # smaller bodies reach the gateway's own 413
