"""Small helpers for the commands that start processes and servers of their own (runstack,
bench_gateway, bench_slow_clients, simulate_traffic): a free port, is a URL answering, wait until it
does, and stop a child process politely, then firmly."""
from __future__ import annotations

import socket
import subprocess
import time

import httpx
from django.core.management.base import CommandError


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def http_answers(url: str, timeout: float = 1.0) -> bool:
    """True when GET `url` answers 200."""
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def http_wait(url: str, proc: subprocess.Popen, timeout: float) -> None:
    """Until `url` answers 200; CommandError when `proc` exits first or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CommandError(f"{proc.args[:4]} exited with {proc.returncode}")
        if http_answers(url):
            return
        time.sleep(0.2)
    raise CommandError(f"{url} did not answer within {timeout:.0f} s")


def process_stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
