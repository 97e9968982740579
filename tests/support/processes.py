"""Processes the tests start (a Celery worker, gunicorn, runstack, the simulated upstream): ports,
their environment (the test database and broker), waiting for them to answer, stopping them."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

import httpx
from django.conf import settings

from tests.support.paths import FIXTURES, REPO


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
    return {**os.environ, "DJANGO_SETTINGS_MODULE": "routerhub.settings_test", "DATABASE_URL": child_database_url(),
            "CELERY_BROKER_URL": settings.CELERY_BROKER_URL, "ROUTERHUB_STATE_DIR": str(settings.STATE_DIR),
            "PYTHONUNBUFFERED": "1", **extra}


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


def gunicorn_start(**env) -> tuple[subprocess.Popen, str]:
    """The web app as `make run` serves it (gunicorn, threads, its config) on a free port, on the
    test database: (process, its /v1 URL), once /healthz answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "routerhub.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "4", "--worker-class", "gthread", "--no-control-socket",
         "--config", "python:routerhub.gunicorn_conf"],
        cwd=REPO, env=child_env(**env))
    wait_for_http(f"http://127.0.0.1:{port}/healthz", proc=proc, timeout=60)
    return proc, f"http://127.0.0.1:{port}/v1"
