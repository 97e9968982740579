"""Reads for operations: service health."""
from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.utils import timezone

from routerhub.ops.models import WorkerHeartbeat


def _database_health() -> dict:
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


def broker_redis_client(url: str, timeout: float = 1.0):
    import redis

    # Kombu spells a unix socket 'redis+socket:///path'; redis-py spells it 'unix:///path'.
    return redis.Redis.from_url(url.replace("redis+socket://", "unix://", 1),
                                socket_connect_timeout=timeout, socket_timeout=timeout)


def _broker_health() -> dict:
    url = settings.CELERY_BROKER_URL
    try:
        broker_redis_client(url).ping()
    except Exception as exc:
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True}


def _worker_health() -> dict:
    beat = WorkerHeartbeat.objects.order_by("-last_seen").first()
    if beat is None:
        return {"last_heartbeat_age_s": None}
    return {"hostname": beat.hostname,
            "last_heartbeat_age_s": round((timezone.now() - beat.last_seen).total_seconds(), 1)}


def service_health() -> dict:
    """Health of the parts RouterHub needs; `ok` is False when the database or broker is down."""
    database = _database_health()
    broker = _broker_health()
    report = {"ok": database["ok"] and broker["ok"], "database": database, "broker": broker}
    if database["ok"]:
        report["worker"] = _worker_health()  # informational: a worker may be starting
    report["down"] = [name for name in ("database", "broker") if not report[name]["ok"]]
    return report
