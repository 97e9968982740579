"""Writes for the training app: fitting routers, and each router version's lifecycle
(create, promote, roll back). Every promotion and rollback goes through `router_version_promote`
and `router_version_rollback`, whoever asks (console, admin, a training run's gate, the CLI, the
simulation), and each writes its audit row in the same transaction."""
from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from routerhub.audit.services import Action, audit_record
from routerhub.embeddings.services import embedder_get
from routerhub.tenants.selectors import endpoint_by_name
from routerhub.tenants.upstream import classifier_call
from training.core.routers import ROUTERS, Battles, Router
from training.models import RouterVersion


def data_fingerprint(battles: Battles) -> str:
    digest = hashlib.sha256()
    for array in (battles.prompt_index, battles.model_a, battles.model_b, battles.outcome, battles.weight):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update("\n".join(battles.models).encode())
    return digest.hexdigest()


def router_fit(*, kind: str, battles: Battles, params: dict | None = None,
               progress: Callable[[float, str], None] | None = None) -> Router:
    if ROUTERS[kind].calls_endpoint:  # causal_llm's classifier: the configured endpoint unless params name one
        params = {"endpoint": settings.ROUTERHUB_CAUSAL_LLM_ENDPOINT, **(params or {})}
        if endpoint_by_name(params["endpoint"]) is None:
            raise ValueError(f"the causal_llm router needs its classifier: ROUTERHUB_CAUSAL_LLM_ENDPOINT "
                             f"({params['endpoint']!r}) names no model endpoint; add one (admin: Model endpoints) "
                             "that serves RouteLLM's classifier with log-probabilities")
    return _connected(ROUTERS[kind](**(params or {})).fit(battles, progress=progress))


def router_for_version(version: RouterVersion, neighbors=None) -> Router:
    """The router a stored version stands for: its artifact, or, for kinds that store none (SW),
    its hyperparameters over `neighbors` (today's battles, or the serving index)."""
    params = (version.hyperparameters or {}).get("router", {})
    artifact = bytes(version.artifact) if version.artifact else None
    if artifact and version.artifact_sha256 and hashlib.sha256(artifact).hexdigest() != version.artifact_sha256:
        raise ValueError(f"{version}: artifact checksum mismatch")
    return _connected(ROUTERS[version.kind].restore(params, artifact, neighbors=neighbors))


def _connected(router: Router) -> Router:
    """A router that calls out gets its call here: causal_llm its classifier endpoint, bounded by
    ROUTERHUB_CAUSAL_LLM_TIMEOUT_S (a failure or timeout is the gateway's router fallback)."""
    if router.calls_endpoint:
        router.attach(classifier_call(router.endpoint, timeout_s=settings.ROUTERHUB_CAUSAL_LLM_TIMEOUT_S))
    return router


@transaction.atomic
def router_version_create(*, router: Router, battles: Battles, data_params: dict | None = None,
                          metrics: dict | None = None, training_run=None, tenant=None) -> RouterVersion:
    """A candidate version: hyperparameters, artifact (for kinds that keep one), data fingerprint."""
    artifact = router.to_bytes() if router.stores_artifact else None
    counts = {"battles": int(len(battles)), "prompts": int(len(battles.prompt_embeddings)),
              "models": len(battles.models), **battles.meta.get("counts", {})}
    return RouterVersion.objects.create(
        kind=router.kind, hyperparameters={"router": router.get_params(), "data": data_params or {}},
        model_names=list(router.models_), artifact=artifact,
        artifact_sha256=hashlib.sha256(artifact).hexdigest() if artifact else "",
        data_fingerprint=data_fingerprint(battles), data_counts=counts, metrics=metrics or {},
        embedder=embedder_get().name if router.reads_embeddings else "",
        training_run=training_run, tenant=tenant)


def router_scope_lock(*, kind: str, tenant_id: int | None) -> None:
    """Serialize every change of the active version in one scope (kind, tenant or global) until the
    transaction ends: two promotions, a promotion and a rollback, or a training run's auto-promotion
    and an admin's click then run one after the other, each seeing what the other left."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s), %s)", [f"router-scope:{kind}", tenant_id or 0])


def router_version_active_locked(*, kind: str, tenant_id: int | None) -> RouterVersion | None:
    """The scope's active version, read under the scope lock (call inside a transaction)."""
    router_scope_lock(kind=kind, tenant_id=tenant_id)
    return RouterVersion.objects.filter(kind=kind, tenant_id=tenant_id, status=RouterVersion.Status.ACTIVE).first()


class PromotionError(ValueError):
    """A promotion or rollback that cannot be done as asked; nothing was changed."""


def _scope(version: RouterVersion) -> str:
    return version.tenant.slug if version.tenant_id else "all tenants"


@transaction.atomic
def router_version_promote(*, version: RouterVersion, actor=None, via: str = "",
                           expected_active: int | None | bool = False) -> RouterVersion:
    """Make `version` the active one of its kind in its scope (global, or its tenant's), retiring
    the one active before it, with an audit row, in one transaction. `expected_active` (a version
    id, or None for "no version"): promote only over that version, else raise PromotionError (a
    training run's gate compared the candidate with it). Web processes pick the promotion up within
    ROUTERHUB_ROUTER_RELOAD_S, without a restart."""
    if version.on_other_embedder:  # web processes would refuse it: the scope would route with nothing
        raise PromotionError(f"v{version.pk} was trained on {version.embedder} embeddings and this deployment embeds "
                             f"with {embedder_get().name}: train a new version instead")
    current = router_version_active_locked(kind=version.kind, tenant_id=version.tenant_id)
    if expected_active is not False:
        serving = current
        if serving is None and version.tenant_id is not None:  # the global version serves the tenant now
            serving = RouterVersion.objects.filter(kind=version.kind, tenant__isnull=True,
                                                   status=RouterVersion.Status.ACTIVE).first()
        if (serving.pk if serving else None) != expected_active:
            raise PromotionError(f"v{serving.pk if serving else None} became active meanwhile (the candidate was "
                                 f"compared with v{expected_active}): an admin decides")
    version = RouterVersion.objects.select_for_update().get(pk=version.pk)
    if version.status == RouterVersion.Status.ACTIVE:
        return version
    if current is not None:
        current.status = RouterVersion.Status.RETIRED
        current.save(update_fields=["status"])
    version.status, version.activated_at, version.replaced = RouterVersion.Status.ACTIVE, timezone.now(), current
    version.save(update_fields=["status", "activated_at", "replaced"])
    audit_record(actor=actor, via=via, action=Action.VERSION_PROMOTED, tenant=version.tenant, router_version=version,
                 summary=f"promoted {version.kind} v{version.pk} ({_scope(version)})"
                         + (f", replacing v{current.pk}" if current else ""),
                 details={"replaced": current.pk if current else None})
    return version


@transaction.atomic
def router_version_rollback(*, version: RouterVersion, actor=None, via: str = "") -> RouterVersion | None:
    """Undo the promotion of `version`, which must still be the active one of its scope, with an
    audit row, in one transaction: it is retired and the version it replaced is active again. A
    tenant's scope with no earlier version of its own goes back to the global version (returns
    None: the tenant is now served by the global one). The global scope never goes back to no
    router at all. Raises PromotionError (nothing changed) when it cannot."""
    tenant = version.tenant
    active = router_version_active_locked(kind=version.kind, tenant_id=version.tenant_id)
    if active is None:
        raise PromotionError(f"no active {version.kind} version{f' for {tenant}' if tenant else ''} to roll back")
    if active.pk != version.pk:
        raise PromotionError(f"v{version.pk} is not the active {version.kind} version (v{active.pk} is, since it was "
                             "promoted meanwhile): nothing was rolled back")
    previous = RouterVersion.objects.filter(pk=active.replaced_id).first() if active.replaced_id else None
    if previous is None and tenant is None:
        raise PromotionError(f"{active} is the first global {version.kind} version ever active: nothing to roll "
                             "back to")
    active.status = RouterVersion.Status.RETIRED
    active.save(update_fields=["status"])
    if previous is not None:
        previous.status = RouterVersion.Status.ACTIVE  # its own `replaced` stays: a second rollback goes further back
        previous.activated_at = timezone.now()
        previous.save(update_fields=["status", "activated_at"])
    audit_record(actor=actor, via=via, action=Action.VERSION_ROLLED_BACK, tenant=tenant, router_version=active,
                 summary=f"rolled back {version.kind} v{version.pk} ({_scope(version)}) → "
                         + (f"v{previous.pk}" if previous else "the global version"),
                 details={"from": version.pk, "to": previous.pk if previous else None})
    return previous
