"""`python manage.py bench_slow_clients`: can slow clients hold the web service's threads?

Starts gunicorn as `make run` serves it (2 workers x 8 threads) and, when nginx is installed, nginx
in front of it from the same template as `make run` and docker-compose. For each number of slow
clients, each opens a connection and sends the headers of a chat completion and half of its body,
then nothing (with a valid API key, so the gateway waits for the body); meanwhile one well-behaved client asks `/healthz` and sends a real chat completion
(`--requests` times each, one after the other, 5-s timeout). It prints, for gunicorn alone and
behind nginx, how many of those requests were answered and their latency. The slow clients are
dropped after each round (nginx drops them itself after `client_body_timeout`, 10 s). It needs
no running `make run` (it reuses its simulated upstream when one is up) and takes a few minutes:
every request to a stalled gunicorn waits out its 5-s timeout.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx
import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from routerhub.devtools.frontproxy import nginx_binary, nginx_command
from routerhub.devtools.processes import free_port, http_answers, http_wait, process_stop
from routerhub.tenants.models import ModelEndpoint, Tenant
from routerhub.tenants.services import DEMO_ENDPOINTS, api_key_create


def slow_clients_open(port: int, n: int, key: str) -> list[socket.socket]:
    """n connections, each with a chat completion's headers (a valid key: a tenant on a bad
    network, or one that means harm) and half its body sent."""
    body_length = 2000
    head = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {body_length}\r\n\r\n").encode()
    socks = []
    for _ in range(n):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(head + b'{"model": "router", "messages": [' + b" " * (body_length // 2))
        socks.append(sock)
    return socks


class Command(BaseCommand):
    help = "Whether slow clients (half a body each) can hold the web service's threads: gunicorn alone and behind nginx."

    def add_arguments(self, parser):
        parser.add_argument("--clients", default="20,200", help="Numbers of slow clients, comma-separated.")
        parser.add_argument("--requests", type=int, default=20, help="Requests of the well-behaved client per round.")

    def handle(self, *args, **opts):
        try:
            counts = [int(c) for c in opts["clients"].split(",")]
        except ValueError:
            raise CommandError("--clients: comma-separated whole numbers, e.g. 20,200", returncode=2) from None
        if not counts or min(counts) < 0 or opts["requests"] < 1:
            raise CommandError("--clients and --requests must be positive", returncode=2)
        endpoints = {e.name: e for e in ModelEndpoint.objects.filter(name__in=[n for n, _, _ in DEMO_ENDPOINTS[:2]])}
        if len(endpoints) < 2:
            raise CommandError("the demo endpoints are missing: run manage.py seed_demo first", returncode=2)
        tenant, _ = Tenant.objects.update_or_create(
            slug="bench", defaults={"name": "Benchmark", "default_router_kind": "random", "active": True,
                                    "strong_model": endpoints[DEMO_ENDPOINTS[0][0]],
                                    "weak_model": endpoints[DEMO_ENDPOINTS[1][0]]})
        key = api_key_create(tenant=tenant, name="bench_slow_clients").raw_key
        env = dict(os.environ, DATABASE_URL=settings.DATABASE_URL, CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
                   ROUTERHUB_STATE_DIR=str(settings.STATE_DIR), PYTHONUNBUFFERED="1")
        children: list[subprocess.Popen] = []
        try:
            upstream = tenant.strong_model.base_url.rstrip("/")
            if not http_answers(upstream.removesuffix("/v1") + "/_sim/config"):
                port = int(upstream.rsplit(":", 1)[1].split("/")[0])
                children.append(subprocess.Popen([sys.executable, str(settings.BASE_DIR / "manage.py"),
                                                  "sim_upstream", "--port", str(port)], env=env))
                http_wait(upstream.removesuffix("/v1") + "/_sim/config", children[-1], 30)
            web_port = free_port()
            children.append(subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "routerhub.wsgi:application", "--bind", f"127.0.0.1:{web_port}",
                 "--workers", "2", "--threads", "8", "--config", "python:routerhub.gunicorn_conf",
                 "--no-control-socket", "--log-level", "error"], env={**env, "LOG_LEVEL": "ERROR"}, cwd=settings.BASE_DIR,
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # hundreds of dropped bodies: no log lines
            http_wait(f"http://127.0.0.1:{web_port}/healthz", children[-1], 120)
            targets = [("gunicorn alone", web_port)]
            nginx = nginx_binary()
            if nginx:
                proxy_port = free_port()
                children.append(subprocess.Popen(nginx_command(
                    nginx, settings.STATE_DIR / "bench-nginx", listen=f"127.0.0.1:{proxy_port}",
                    upstream=f"127.0.0.1:{web_port}"), env=env, stderr=subprocess.DEVNULL))
                http_wait(f"http://127.0.0.1:{proxy_port}/healthz", children[-1], 30)
                targets.append(("behind nginx", proxy_port))
            else:
                self.stdout.write("nginx is not installed: only gunicorn alone is measured")
            self.stdout.write(f"bench_slow_clients: {opts['requests']} /healthz and {opts['requests']} chat "
                              f"requests per round, one at a time, 5-s timeout; {os.cpu_count()} cores")
            for n in counts:
                for name, port in targets:
                    self._round(name, port, n, opts["requests"], key)
        finally:
            for proc in children:
                proc.terminate()
            for proc in children:
                process_stop(proc)

    def _round(self, name: str, port: int, n: int, requests: int, key: str) -> None:
        socks = slow_clients_open(port, n, key)
        try:
            time.sleep(0.5)  # let the server take them up
            base = f"http://127.0.0.1:{port}"
            with httpx.Client(timeout=5) as client:
                for what, send in (
                    ("/healthz", lambda: client.get(base + "/healthz")),
                    ("chat", lambda: client.post(base + "/v1/chat/completions",
                                                 headers={"Authorization": f"Bearer {key}"},
                                                 json={"model": "router", "messages": [
                                                     {"role": "user", "content": "What is 2 + 2?"}]})),
                ):
                    latencies, answered = [], 0
                    for _ in range(requests):
                        started = time.perf_counter()
                        try:
                            answered += send().status_code == 200
                        except httpx.HTTPError:
                            pass
                        latencies.append((time.perf_counter() - started) * 1000)
                    self.stdout.write(f"  {name:15s} {n:5d} slow clients  {what:8s} answered {answered:3d}/{requests}"
                                      f"  p50 {np.percentile(latencies, 50):8.1f} ms  max {max(latencies):8.1f} ms")
        finally:
            for sock in socks:
                sock.close()
            time.sleep(1.0)  # the server notices the closed connections
