"""Django's Postgres backend with a client-side deadline on every round trip.

`statement_timeout` is enforced by the server, so it cannot help when the server itself does not
answer: a paused (SIGSTOP) or wedged Postgres, or a network path that silently drops packets, keeps
the connection open and a request thread waiting for ever. Here every statement, commit, rollback
and health check of a connection whose settings name `DEADLINE_S` is registered with one watchdog
thread per process; a round trip still waiting when its deadline passes has its socket shut down,
so libpq returns at once with "server closed the connection", Django raises `OperationalError`
(a 503 in OpenAI JSON on the API, `routerhub.errors`) and throws the connection away. The server
rolls back whatever the closed session had not committed, so nothing is half-written.

The web processes set the deadline a little past their statement timeout (settings), so a slow but
living server still ends the statement itself, with its own error, first. The per-request health
check (`is_usable`) costs no round trip unless the server has sent something.
"""
from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import os
import select
import socket
import threading
import time

import psycopg
from django.db.backends.postgresql import base

log = logging.getLogger(__name__)


class _Watchdog:
    """Shuts down the socket of any registered round trip still waiting past its deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._live: dict[int, tuple[float, int]] = {}  # token -> (deadline, socket fd)
        self._heap: list[tuple[float, int]] = []
        self._tokens = itertools.count()
        self._pid = 0  # the process the thread runs in (a forked child starts its own)

    def register(self, fd: int, seconds: float) -> int:
        deadline = time.monotonic() + seconds
        with self._cond:
            if self._pid != os.getpid():
                self._pid = os.getpid()
                self._live.clear()
                self._heap.clear()
                threading.Thread(target=self._run, name="routerhub-db-deadline", daemon=True).start()
            token = next(self._tokens)
            self._live[token] = (deadline, fd)
            first = not self._heap or deadline < self._heap[0][0]
            heapq.heappush(self._heap, (deadline, token))
            if first:
                self._cond.notify()
        return token

    def release(self, token: int) -> None:
        with self._cond:  # while the entry is here its connection is open, so the fd is still its socket
            self._live.pop(token, None)

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._heap and (self._heap[0][1] not in self._live or self._heap[0][0] <= now):
                    _, token = heapq.heappop(self._heap)
                    entry = self._live.pop(token, None)
                    if entry is not None:
                        self._shut(entry[1])
                self._cond.wait(None if not self._heap else self._heap[0][0] - now)

    @staticmethod
    def _shut(fd: int) -> None:
        log.error("the database did not answer before the client deadline: connection closed")
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)  # acts on the connection, not just this descriptor
        except OSError:
            pass
        finally:
            sock.close()


_watchdog = _Watchdog()


def _readable(fd: int) -> bool:
    """Whether the socket has something to read (or has been closed), without waiting; poll, not
    select, so a descriptor above 1023 works too."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


class DatabaseWrapper(base.DatabaseWrapper):
    def __init__(self, settings_dict, *args, **kwargs):
        super().__init__(settings_dict, *args, **kwargs)
        self.deadline_s = float(settings_dict.get("DEADLINE_S") or 0)
        if self.deadline_s > 0:
            self.execute_wrappers.append(self._execute_within_deadline)

    @contextlib.contextmanager
    def within_deadline(self):
        """Run one round trip under the client-side deadline (no-op without one)."""
        token = None
        if self.deadline_s > 0 and self.connection is not None:
            try:
                token = _watchdog.register(self.connection.pgconn.socket, self.deadline_s)
            except Exception:  # a closed connection has no socket; the call itself will say so
                token = None
        try:
            yield
        finally:
            if token is not None:
                _watchdog.release(token)

    def _execute_within_deadline(self, execute, sql, params, many, context):
        with self.within_deadline():
            return execute(sql, params, many, context)

    def _commit(self):
        with self.within_deadline():
            return super()._commit()

    def _rollback(self):
        with self.within_deadline():
            return super()._rollback()

    def _set_autocommit(self, autocommit):
        with self.within_deadline():
            return super()._set_autocommit(autocommit)

    def is_usable(self):
        """Django's health check without a round trip, where one can tell: an idle connection
        whose socket has nothing to read has not been closed by the server (a restart, a
        terminated backend or a dropped proxy all send something, if only the end of the stream);
        otherwise Django's `SELECT 1`, under the deadline. Saves one round trip per request."""
        conn = self.connection
        if conn is None or conn.closed or conn.broken:
            return False
        try:
            idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            readable = _readable(conn.pgconn.socket) if idle else True
        except (OSError, ValueError, psycopg.Error):
            return False
        if not readable:
            return True
        with self.within_deadline():
            return super().is_usable()
