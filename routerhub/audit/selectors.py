"""Reads for the audit log."""
from __future__ import annotations

from routerhub.audit.models import AuditEvent


def audit_events(*, tenant=None, router_version=None, limit: int = 20):
    rows = AuditEvent.objects.select_related("tenant")
    if tenant is not None:
        rows = rows.filter(tenant=tenant)
    if router_version is not None:
        rows = rows.filter(router_version=router_version)
    return rows[:limit]
