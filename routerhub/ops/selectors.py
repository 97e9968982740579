"""Reads for operations: service health."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from django.conf import settings
from django.db import connection
from django.utils import timezone

from routerhub.embedded import redis_client
from routerhub.ops.models import WorkerHeartbeat

# the checks run here, so that a stuck database or broker costs /healthz its deadline, not a hang
_checks = ThreadPoolExecutor(max_workers=8, thread_name_prefix="healthz")


def _database_health() -> dict:
    try:
        return _database_check()
    finally:
        connection.close()  # this thread's own connection: nothing left open between checks


def _database_check() -> dict:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('server_version'), "
                           "(SELECT extversion FROM pg_extension WHERE extname = 'vector')")
            server_version, vector_version = cursor.fetchone()
    except Exception as exc:  # any failure to reach the database is "down", with the reason
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}".strip()[:300]}
    if vector_version is None:
        return {"ok": False, "server_version": server_version, "error": "the pgvector extension is not installed"}
    return {"ok": True, "server_version": server_version, "vector": vector_version}


def _broker_health() -> dict:
    url = settings.CELERY_BROKER_URL
    try:
        redis_client(url).ping()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True}


def _worker_health() -> dict:
    try:
        beat = WorkerHeartbeat.objects.order_by("-last_seen").first()
    finally:
        connection.close()
    if beat is None:
        return {"last_heartbeat_age_s": None}
    return {"hostname": beat.hostname,
            "last_heartbeat_age_s": round((timezone.now() - beat.last_seen).total_seconds(), 1)}


def service_health(*, deadline_s: float | None = None) -> dict:
    """Health of the parts RouterHub needs; `ok` is False when the database or broker is down. The
    two checks run at once, each in its own thread; one that has not answered within `deadline_s`
    (ROUTERHUB_HEALTH_DEADLINE_S) counts as down, so the answer comes in time whatever is stuck."""
    deadline_s = settings.ROUTERHUB_HEALTH_DEADLINE_S if deadline_s is None else deadline_s
    ends = time.monotonic() + deadline_s
    futures = {"database": _checks.submit(_database_health), "broker": _checks.submit(_broker_health)}
    report: dict = {}
    for name, future in futures.items():
        try:
            report[name] = future.result(timeout=max(ends - time.monotonic(), 0.0))
        except FutureTimeout:
            report[name] = {"ok": False, "error": f"no answer within {deadline_s:g} s"}
        except Exception as exc:
            report[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    report["ok"] = report["database"]["ok"] and report["broker"]["ok"]
    if report["database"]["ok"]:
        try:  # informational (a worker may be starting), within what is left of the deadline
            report["worker"] = _checks.submit(_worker_health).result(timeout=max(ends - time.monotonic(), 0.05))
        except Exception:
            report["worker"] = {"last_heartbeat_age_s": None}
    report["down"] = [name for name in ("database", "broker") if not report[name]["ok"]]
    return report
