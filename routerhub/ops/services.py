"""Writes for operations."""
from __future__ import annotations

from django.db.models import F
from django.utils import timezone

from routerhub.ops.models import WorkerHeartbeat


def worker_heartbeat_record(*, hostname: str) -> WorkerHeartbeat:
    beat, created = WorkerHeartbeat.objects.get_or_create(hostname=hostname,
                                                          defaults={"last_seen": timezone.now(), "beats": 1})
    if not created:
        WorkerHeartbeat.objects.filter(pk=beat.pk).update(last_seen=timezone.now(), beats=F("beats") + 1)
        beat.refresh_from_db()
    return beat
