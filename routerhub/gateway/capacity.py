"""How many of a web process's requests may wait on upstream models at once: the thread reserve.

A web process serves requests from a fixed pool of threads (gunicorn's `--threads`). A request
waiting on a paused or very slow upstream holds its thread until the endpoint's timeout; enough of
them would take every thread, and `/healthz`, feedback, the console and everything else would wait
behind them. So at most `threads - ROUTERHUB_RESERVED_THREADS` (2 by default) requests of a process
wait on upstreams at once; one more waits a moment (`ROUTERHUB_UPSTREAM_SLOT_WAIT_S`, 0.25 s) for a
slot, then is refused with a 503 `server_overloaded` and `Retry-After` (and logged like any failed
request) instead of taking the last threads. gunicorn sets
the limit when a worker starts (`routerhub/gunicorn_conf.py`); elsewhere (tests, management
commands) there is none unless `upstream_slots_set` is called.
"""
from __future__ import annotations

import os
import threading
from collections.abc import Callable

# A request that finds every slot taken waits this long for one: a burst against a fast upstream
# goes through, a stalled upstream is refused. It also bounds how long such a request can hold a
# reserved thread, so /healthz finds one within this time.
SLOT_WAIT_S = float(os.environ.get("ROUTERHUB_UPSTREAM_SLOT_WAIT_S", 0.25))


class _Slots:
    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.limit: int | None = None
        self.in_use = 0

    def take(self, wait_s: float) -> Callable[[], None] | None:
        with self._cond:
            if not self._cond.wait_for(lambda: self.limit is None or self.in_use < self.limit, timeout=wait_s):
                return None
            self.in_use += 1
        given = False

        def give() -> None:  # idempotent: the stream's end and its close may both call it
            nonlocal given
            with self._cond:
                if not given:
                    given = True
                    self.in_use -= 1
                    self._cond.notify()

        return give


_slots = _Slots()


def upstream_slots_set(limit: int | None) -> None:
    """At most `limit` requests of this process wait on upstreams at once (None: no limit)."""
    _slots.limit = None if limit is None else max(1, int(limit))


def upstream_slot_take(wait_s: float = SLOT_WAIT_S) -> Callable[[], None] | None:
    """A slot for one request's upstream call (call what it returns when done), or None when
    every slot stays taken for `wait_s`."""
    return _slots.take(wait_s)


def upstream_slots_in_use() -> int:
    return _slots.in_use
