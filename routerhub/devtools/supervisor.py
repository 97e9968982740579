"""`make run`'s supervisor: start the children, restart any that dies, stop them all on request.

A child that exits is started again after a backoff (1 s, doubling to 30 s; back to 1 s once it has
stayed up for a minute), and every exit and restart is logged, so the web server keeps serving
while the worker, beat or the simulated upstream come back. One rule keeps a broken setup from
looping forever: a child that dies before the stack has been up for `startup_grace_s` (a port in
use, a bad setting) stops everything, with the reason.
"""
from __future__ import annotations

import signal
import subprocess
import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Child:
    name: str
    command: list[str]
    proc: subprocess.Popen | None = None
    started_at: float = 0.0
    restarts: int = 0
    backoff_s: float = 0.0
    restart_at: float | None = None  # when it is due again, after an exit
    history: list[tuple[float, int]] = field(default_factory=list)  # (time, exit code)


class Supervisor:
    def __init__(self, commands: dict[str, list[str]], *, env: dict, cwd, log: Callable[[str], None],
                 startup_grace_s: float = 5.0, backoff_min_s: float = 1.0, backoff_max_s: float = 30.0,
                 stable_s: float = 60.0, popen=subprocess.Popen):
        self.children = {name: Child(name, command) for name, command in commands.items()}
        self.env, self.cwd, self.log = env, cwd, log
        self.startup_grace_s, self.stable_s = startup_grace_s, stable_s
        self.backoff_min_s, self.backoff_max_s = backoff_min_s, backoff_max_s
        self.popen = popen
        self.started = 0.0
        self.failed: str | None = None  # why the whole stack stopped, if it had to

    def start(self) -> None:
        self.started = time.monotonic()
        for child in self.children.values():
            self._spawn(child)

    def _spawn(self, child: Child) -> None:
        child.proc = self.popen(child.command, env=self.env, cwd=self.cwd)
        child.started_at, child.restart_at = time.monotonic(), None

    def poll(self, now: float | None = None) -> bool:
        """One supervision step: note exits, restart what is due. False once the stack must stop."""
        now = time.monotonic() if now is None else now
        for child in self.children.values():
            if child.restart_at is not None:
                if now >= child.restart_at:
                    child.restarts += 1
                    self.log(f"runstack: restarting {child.name} (restart {child.restarts})")
                    self._spawn(child)
                continue
            code = child.proc.poll()
            if code is None:
                continue
            child.history.append((now, code))
            if now - self.started < self.startup_grace_s:
                self.failed = (f"{child.name} exited with {code} while the stack was starting; "
                               "see its output above")
                self.log(f"runstack: {self.failed}; stopping the rest")
                return False
            up_for = now - child.started_at
            child.backoff_s = self.backoff_min_s if up_for >= self.stable_s or not child.backoff_s else min(
                child.backoff_s * 2, self.backoff_max_s)
            child.restart_at = now + child.backoff_s
            self.log(f"runstack: {child.name} exited with {code} after {up_for:.0f} s; restarting it in "
                     f"{child.backoff_s:g} s (the others keep running)")
        return True

    def stop(self, timeout: float = 15.0) -> None:
        running = [c for c in self.children.values() if c.proc is not None and c.proc.poll() is None]
        for child in running:
            child.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for child in running:
            try:
                child.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.log(f"runstack: {child.name} did not stop in time; killing it")
                child.proc.kill()
                child.proc.wait()
