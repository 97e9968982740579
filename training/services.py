"""Writes for the training app: the embedding cache, router training and version lifecycle."""
from __future__ import annotations

import hashlib
import os
import threading
from typing import Callable, Sequence

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from training.embeddings import Embedder, MiniLMEmbedder, OpenAIEmbedder, text_sha256
from training.models import EmbeddingCacheEntry, RouterVersion
from training.routers import ROUTERS, Battles, Router

_embedder: Embedder | None = None
_embedder_lock = threading.Lock()


def embedder_get() -> Embedder:
    """The process's embedder, built from settings on first use (loading happens on first embed)."""
    global _embedder
    if _embedder is None:
        with _embedder_lock:
            if _embedder is None:
                _embedder = _embedder_from_settings()
    return _embedder


def _embedder_from_settings() -> Embedder:
    backend = settings.ROUTERHUB_EMBEDDING_BACKEND
    if backend == "local":
        return MiniLMEmbedder(runtime=settings.ROUTERHUB_EMBEDDING_RUNTIME, quantize=settings.ROUTERHUB_EMBEDDING_INT8,
                              threads=settings.ROUTERHUB_EMBEDDING_THREADS, spin=settings.ROUTERHUB_EMBEDDING_SPIN,
                              cache_dir=settings.ROUTERHUB_MODEL_CACHE_DIR)
    if backend == "openai":
        return OpenAIEmbedder(model=settings.ROUTERHUB_OPENAI_EMBEDDING_MODEL, dim=settings.ROUTERHUB_EMBEDDING_DIM,
                              base_url=settings.ROUTERHUB_OPENAI_EMBEDDING_BASE_URL,
                              api_key=os.environ.get(settings.ROUTERHUB_OPENAI_EMBEDDING_API_KEY_ENV))
    raise ValueError(f"unknown ROUTERHUB_EMBEDDING_BACKEND {backend!r}: use 'local' or 'openai'")


def embeddings_for_texts(texts: Sequence[str], *, progress: bool = False, embedder: Embedder | None = None,
                         chunk: int = 5000) -> np.ndarray:
    """Embeddings of `texts` (rows in order), computing only those not in the Postgres cache."""
    embedder = embedder or embedder_get()
    hashes = [text_sha256(text) for text in texts]
    unique = dict(zip(hashes, texts))
    found: dict[str, np.ndarray] = {}
    keys = list(unique)
    for start in range(0, len(keys), chunk):
        rows = EmbeddingCacheEntry.objects.filter(backend=embedder.name, text_sha256__in=keys[start:start + chunk])
        found.update((sha, np.asarray(vector, dtype=np.float32)) for sha, vector in rows.values_list("text_sha256", "embedding"))
    missing = [sha for sha in keys if sha not in found]
    if missing:
        vectors = embedder.embed([unique[sha] for sha in missing], progress=progress)
        EmbeddingCacheEntry.objects.bulk_create(
            [EmbeddingCacheEntry(backend=embedder.name, text_sha256=sha, embedding=vector)
             for sha, vector in zip(missing, vectors)], batch_size=1000, ignore_conflicts=True)
        found.update(zip(missing, vectors))
    if not hashes:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.stack([found[sha] for sha in hashes])


def data_fingerprint(battles: Battles) -> str:
    digest = hashlib.sha256()
    for array in (battles.prompt_index, battles.model_a, battles.model_b, battles.outcome, battles.weight):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update("\n".join(battles.models).encode())
    return digest.hexdigest()


def router_fit(*, kind: str, battles: Battles, params: dict | None = None,
               progress: Callable[[float, str], None] | None = None) -> Router:
    router = ROUTERS[kind](**(params or {}))
    if kind == "mf" and progress is not None:
        return router.fit(battles, progress=progress)
    return router.fit(battles)


def router_for_version(version: RouterVersion, battles: Battles) -> Router:
    """The router a stored version stands for. SW keeps no arrays: its hyperparameters are fitted
    on `battles` (today's store); the others load their artifact."""
    from training.routers import RandomRouter, SWRankingRouter

    if version.kind == "sw":
        return SWRankingRouter(**(version.hyperparameters or {}).get("router", {})).fit(battles)
    if version.kind == "random":
        return RandomRouter()
    return Router.from_bytes(bytes(version.artifact))


@transaction.atomic
def router_version_create(*, router: Router, battles: Battles, data_params: dict | None = None,
                          metrics: dict | None = None, store_artifact: bool | None = None,
                          training_run=None, tenant=None) -> RouterVersion:
    """A candidate version. SW keeps no arrays: it reads its neighbours from the preference store."""
    store_artifact = router.kind != "sw" if store_artifact is None else store_artifact
    artifact = router.to_bytes() if store_artifact else None
    counts = {"battles": int(len(battles)), "prompts": int(len(battles.prompt_embeddings)),
              "models": len(battles.models), **battles.meta.get("counts", {})}
    return RouterVersion.objects.create(
        kind=router.kind, hyperparameters={"router": router.get_params(), "data": data_params or {}},
        model_names=list(router.models_), artifact=artifact,
        artifact_sha256=hashlib.sha256(artifact).hexdigest() if artifact else "",
        data_fingerprint=data_fingerprint(battles), data_counts=counts, metrics=metrics or {},
        training_run=training_run, tenant=tenant)


def router_scope_lock(*, kind: str, tenant_id: int | None) -> None:
    """Serialize every change of the active version in one scope (kind, tenant or global) until the
    transaction ends: two promotions, a promotion and a rollback, or a training run's auto-promotion
    and an admin's click then run one after the other, each seeing what the other left."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s), %s)", [f"router-scope:{kind}", tenant_id or 0])


def router_version_active_locked(*, kind: str, tenant_id: int | None) -> RouterVersion | None:
    """The scope's active version, read under the scope lock (call inside a transaction)."""
    router_scope_lock(kind=kind, tenant_id=tenant_id)
    return RouterVersion.objects.filter(kind=kind, tenant_id=tenant_id, status=RouterVersion.Status.ACTIVE).first()


@transaction.atomic
def router_version_activate(*, version: RouterVersion) -> RouterVersion:
    """Make `version` the active one of its kind in its scope (global, or its tenant's), retiring
    the one active before it, in one transaction. Web processes pick it up within
    ROUTERHUB_ROUTER_RELOAD_S, without a restart."""
    current = router_version_active_locked(kind=version.kind, tenant_id=version.tenant_id)
    version = RouterVersion.objects.select_for_update().get(pk=version.pk)
    if version.status == RouterVersion.Status.ACTIVE:
        return version
    if current is not None:
        current.status = RouterVersion.Status.RETIRED
        current.save(update_fields=["status"])
    version.status, version.activated_at, version.replaced = RouterVersion.Status.ACTIVE, timezone.now(), current
    version.save(update_fields=["status", "activated_at", "replaced"])
    return version


class RollbackError(Exception):
    """A rollback that cannot be done (nothing active, or nothing to go back to)."""


@transaction.atomic
def router_version_rollback(*, kind: str, tenant=None, expected: RouterVersion | None = None) -> RouterVersion | None:
    """Undo the last promotion of `kind` in one scope, in one transaction: the active version is
    retired and the version it replaced is active again. `expected`: the version the person asked
    to roll back; if another one is active by now (promoted meanwhile), nothing changes. A tenant's
    scope with no earlier version of its own goes back to the global version (returns None: the
    tenant is now served by the global one). The global scope never goes back to no router at all."""
    active = router_version_active_locked(kind=kind, tenant_id=tenant.pk if tenant else None)
    if active is None:
        raise RollbackError(f"no active {kind} version{f' for {tenant}' if tenant else ''} to roll back")
    if expected is not None and active.pk != expected.pk:
        raise RollbackError(f"v{expected.pk} is not the active {kind} version (v{active.pk} is, since it was "
                            "promoted meanwhile): nothing was rolled back")
    previous = RouterVersion.objects.filter(pk=active.replaced_id).first() if active.replaced_id else None
    if previous is None and tenant is None:
        raise RollbackError(f"{active} is the first global {kind} version ever active: nothing to roll back to")
    active.status = RouterVersion.Status.RETIRED
    active.save(update_fields=["status"])
    if previous is None:
        return None
    previous.status = RouterVersion.Status.ACTIVE  # its own `replaced` stays: a second rollback goes further back
    previous.activated_at = timezone.now()
    previous.save(update_fields=["status", "activated_at"])
    return previous
