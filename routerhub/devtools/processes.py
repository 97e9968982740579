"""Small helpers for the commands that start processes and servers of their own (bench_gateway,
simulate_traffic): is a URL answering, and stop a child process politely, then firmly."""
from __future__ import annotations

import subprocess

import httpx


def http_answers(url: str, timeout: float = 1.0) -> bool:
    """True when GET `url` answers 200."""
    try:
        return httpx.get(url, timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


def process_stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
