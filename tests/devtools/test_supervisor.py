"""`make run`'s supervisor on real child processes: a child that dies is restarted with backoff
while the others keep running; one that dies while the stack starts stops it."""
from __future__ import annotations

import os
import sys
import time

from routerhub.devtools.supervisor import Supervisor

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]
CRASHER = [sys.executable, "-c", "import sys, time; time.sleep(0.6); sys.exit(3)"]  # up 0.6 s, then exit 3


def run(supervisor: Supervisor, seconds: float) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if not supervisor.poll():
            return False
        time.sleep(0.05)
    return True


def test_a_dead_child_is_restarted_with_growing_backoff_and_the_others_keep_running():
    lines: list[str] = []
    supervisor = Supervisor({"web": SLEEPER, "worker": CRASHER}, env=dict(os.environ), cwd=".", log=lines.append,
                            startup_grace_s=0.3, backoff_min_s=0.2, backoff_max_s=0.4, stable_s=30)
    supervisor.start()
    web_pid = supervisor.children["web"].proc.pid
    try:
        assert run(supervisor, 4.0)  # the stack never stops for a crashing worker
        worker, web = supervisor.children["worker"], supervisor.children["web"]
        assert worker.restarts >= 2 and all(code == 3 for _, code in worker.history)
        assert web.proc.pid == web_pid and web.proc.poll() is None and web.restarts == 0  # untouched
        assert any("worker exited with 3" in line and "restarting it in 0.2 s" in line for line in lines)
        assert any("restarting it in 0.4 s" in line for line in lines)  # doubled, capped at 0.4
        assert any(line.startswith("runstack: restarting worker") for line in lines)
    finally:
        supervisor.stop()
    assert all(child.proc.poll() is not None for child in supervisor.children.values())


def test_a_child_that_dies_while_the_stack_starts_stops_it():
    lines: list[str] = []
    supervisor = Supervisor({"web": SLEEPER, "sim-upstream": [sys.executable, "-c", "raise SystemExit(2)"]},
                            env=dict(os.environ), cwd=".", log=lines.append, startup_grace_s=5)
    supervisor.start()
    try:
        assert not run(supervisor, 3.0)
        assert "sim-upstream exited with 2 while the stack was starting" in supervisor.failed
    finally:
        supervisor.stop()
    assert supervisor.children["web"].proc.poll() is not None  # stopped with the rest
