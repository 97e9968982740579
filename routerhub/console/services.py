"""The console's writes. Each change is made by the service that the API and the admin use too,
and recorded as an `AuditEvent` in the same transaction."""
from __future__ import annotations

from django.db import transaction

from routerhub.console.models import AuditEvent
from routerhub.tenants.models import ApiKey, Tenant

Action = AuditEvent.Action
TENANT_FIELDS = ("default_router_kind", "duel_rate", "strong_model", "weak_model", "judge_model", "active")


class ConsoleError(Exception):
    """A change the console refuses, with a message for the person who asked."""


def audit(*, actor, action: str, summary: str, tenant=None, router_version=None, details=None) -> AuditEvent:
    return AuditEvent.objects.create(actor=actor if actor and actor.pk else None,
                                     actor_name=actor.get_username() if actor else "", action=action,
                                     summary=summary[:300], tenant=tenant, router_version=router_version,
                                     details=details or {})


@transaction.atomic
def tenant_threshold_set(*, tenant: Tenant, threshold: float, actor, how: str = "number",
                         details: dict | None = None) -> Tenant:
    """Set the routing threshold (web processes pick it up within ROUTERHUB_AUTH_CACHE_S)."""
    if not 0.0 <= threshold <= 1.0:
        raise ConsoleError("A threshold is a number in [0, 1].")
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    before = tenant.routing_threshold
    tenant.routing_threshold = float(threshold)
    tenant.save(update_fields=["routing_threshold", "updated"])
    audit(actor=actor, action=Action.THRESHOLD_CHANGED, tenant=tenant,
          summary=f"{tenant.slug}: threshold {before:.4f} → {threshold:.4f} ({how})",
          details={"before": before, "after": threshold, "how": how, **(details or {})})
    return tenant


@transaction.atomic
def tenant_settings_update(*, tenant: Tenant, actor, **fields) -> Tenant:
    """Router kind, duel rate, strong / weak / judge model, active: only what changed is audited."""
    unknown = set(fields) - set(TENANT_FIELDS)
    if unknown:
        raise ConsoleError(f"Not a tenant setting: {', '.join(sorted(unknown))}.")
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    changed = {}
    for name, value in fields.items():
        if getattr(tenant, name) != value:
            changed[name] = (str(getattr(tenant, name)), str(value))
            setattr(tenant, name, value)
    if (fields.get("strong_model") or tenant.strong_model) == (fields.get("weak_model") or tenant.weak_model):
        raise ConsoleError("The strong and the weak model must differ.")
    if not changed:
        return tenant
    tenant.full_clean()
    tenant.save()
    audit(actor=actor, action=Action.TENANT_UPDATED, tenant=tenant,
          summary=f"{tenant.slug}: " + ", ".join(f"{k} {a} → {b}" for k, (a, b) in changed.items()),
          details={k: {"before": a, "after": b} for k, (a, b) in changed.items()})
    return tenant


@transaction.atomic
def version_promote(*, version, actor):
    from training.models import RouterVersion
    from training.services import router_version_activate

    before = RouterVersion.objects.filter(kind=version.kind, tenant_id=version.tenant_id,
                                          status=RouterVersion.Status.ACTIVE).first()
    version = router_version_activate(version=version)
    scope = version.tenant.slug if version.tenant_id else "all tenants"
    audit(actor=actor, action=Action.VERSION_PROMOTED, tenant=version.tenant, router_version=version,
          summary=f"promoted {version.kind} v{version.pk} ({scope})" + (f", replacing v{before.pk}" if before else ""),
          details={"replaced": before.pk if before else None})
    return version


@transaction.atomic
def version_roll_back(*, version, actor):
    """Roll back `version`, which must still be the active one of its scope; raises ConsoleError
    when it is not, or when there is nothing to go back to."""
    from training.services import RollbackError, router_version_rollback

    try:
        back = router_version_rollback(kind=version.kind, tenant=version.tenant, expected=version)
    except RollbackError as exc:
        raise ConsoleError(str(exc)) from None
    scope = version.tenant.slug if version.tenant_id else "all tenants"
    audit(actor=actor, action=Action.VERSION_ROLLED_BACK, tenant=version.tenant, router_version=version,
          summary=f"rolled back {version.kind} v{version.pk} ({scope}) → "
                  + (f"v{back.pk}" if back else "the global version"),
          details={"from": version.pk, "to": back.pk if back else None})
    return back


@transaction.atomic
def key_create(*, tenant: Tenant, name: str, actor):
    from routerhub.tenants.services import api_key_create

    if not name.strip():
        raise ConsoleError("Give the key a name (who or what uses it).")
    created = api_key_create(tenant=tenant, name=name.strip()[:128])
    audit(actor=actor, action=Action.KEY_CREATED, tenant=tenant,
          summary=f"{tenant.slug}: key {created.api_key.prefix}… ({created.api_key.name}) created",
          details={"key": created.api_key.pk})
    return created


@transaction.atomic
def key_revoke(*, api_key: ApiKey, actor) -> ApiKey:
    from routerhub.tenants.services import api_key_revoke

    if api_key.revoked_at is not None:
        return api_key
    api_key = api_key_revoke(api_key=api_key)
    audit(actor=actor, action=Action.KEY_REVOKED, tenant=api_key.tenant,
          summary=f"{api_key.tenant.slug}: key {api_key.prefix}… ({api_key.name}) revoked", details={"key": api_key.pk})
    return api_key


@transaction.atomic
def retrain_queue(*, actor, tenant=None, kinds=("sw", "mf")):
    from training.runs import training_run_in_progress, training_run_queue

    busy = training_run_in_progress(tenant=tenant)
    if busy is not None:
        raise ConsoleError(f"Training run {busy.pk} for this scope is {busy.status}: wait for it to end.")
    run = training_run_queue(trigger="manual", kinds=kinds, tenant=tenant)
    audit(actor=actor, action=Action.RETRAIN_QUEUED, tenant=tenant,
          summary=f"training run {run.pk} queued ({', '.join(kinds)}; {tenant.slug if tenant else 'global'})",
          details={"run": run.pk})
    return run


def arena_label(*, duel_id: int, choice: str, actor, swapped: bool = False):
    """A person's arena verdict: 'left', 'right', 'tie' or 'skip'. The arena shows a duel's answers
    in an order of its own (`swapped`: model b on the left) so that people's position bias averages out."""
    from feedback.duels import duel_label, duel_skip

    if choice == "skip":
        return duel_skip(duel_id=duel_id)
    if choice not in ("left", "right", "tie"):
        raise ConsoleError("Choose left, right, tie or skip.")
    winner = "tie" if choice == "tie" else ("model_a" if (choice == "left") != swapped else "model_b")
    return duel_label(duel_id=duel_id, winner=winner, labelled_by=f"user:{actor.get_username()}")
