"""Writes for the audit log: one row per change, written by the service that makes the change, in
the same transaction (so a change and its audit row are stored together or not at all)."""
from __future__ import annotations

from routerhub.audit.models import AuditEvent

Action = AuditEvent.Action


def audit_record(*, actor=None, via: str = "", action: str, summary: str, tenant=None, router_version=None,
                 details: dict | None = None) -> AuditEvent:
    """`actor`: the signed-in user who made the change, if any; `via`: what made it when nobody
    signed in did (``cli``, ``training run 12``, ``simulate_traffic``), shown in place of a name."""
    person = actor if actor is not None and getattr(actor, "pk", None) else None
    name = actor.get_username() if actor is not None else via
    return AuditEvent.objects.create(actor=person, actor_name=name[:150], action=action, summary=summary[:300],
                                     tenant=tenant, router_version=router_version,
                                     details={**({"via": via} if via else {}), **(details or {})})
