"""Routing decisions: which model answers a request, and why.

- `route_target_resolve` reads the request's `model`: `router`, `router-<kind>-<threshold>`, or a
  configured model name (no routing).
- `query_embedding` embeds the routed prompt once per process and text (an in-process LRU in front
  of the Postgres embedding cache shared with imports and training).
- `RouterRegistry` holds the active `RouterVersion` of each kind, global and per tenant (a tenant's
  own version, trained with its feedback, serves it in place of the global one), loaded once per process. It checks
  the database for promotions at most every `ROUTERHUB_ROUTER_RELOAD_S` seconds, loads a new
  version completely and then swaps one reference, so a request sees either the old router or the
  new one, never half of one. A version that fails to load is logged and the previous one kept.
- SW needs no artifact: it asks the process's `BattleNeighborIndex` (pgvector nearest prompts +
  cluster summaries of the rest), which follows the preference store by itself.
"""
from __future__ import annotations

import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from django.conf import settings

from routerhub.ops.errors import ApiError
from routerhub.tenants.models import ModelEndpoint, Tenant
from training.embeddings import MicroBatcher, text_sha256
from training.models import EmbeddingCacheEntry, RouterVersion
from training.routers import ROUTER_KINDS, RandomRouter, Router

logger = logging.getLogger(__name__)

_ROUTER_MODEL = re.compile(r"^router-(?P<kind>[^-]+)-(?P<threshold>.+)$")


@dataclass(frozen=True)
class RouteTarget:
    """What the request's `model` asks for: a router (kind + threshold) or one endpoint."""

    kind: str | None = None
    threshold: float | None = None
    endpoint: ModelEndpoint | None = None

    @property
    def routed(self) -> bool:
        return self.kind is not None


def route_target_resolve(*, model: str, tenant: Tenant) -> RouteTarget:
    """The target of `model`, or ApiError: 400 for a malformed router name, 404 for an unknown model."""
    if model == "router":
        return RouteTarget(kind=tenant.default_router_kind, threshold=tenant.routing_threshold)
    match = _ROUTER_MODEL.match(model)
    if match:
        kind, raw = match["kind"], match["threshold"]
        if kind not in ROUTER_KINDS:
            raise ApiError(f"Unknown router kind {kind!r} in model {model!r}; use one of {', '.join(ROUTER_KINDS)} "
                           f"(e.g. router-mf-0.5).", code="invalid_router", param="model")
        try:
            threshold = float(raw)
        except ValueError:
            raise ApiError(f"The threshold in {model!r} is not a number; use router-<kind>-<threshold in [0, 1]>.",
                           code="invalid_router", param="model") from None
        if not 0.0 <= threshold <= 1.0:  # also rejects nan
            raise ApiError(f"The threshold in {model!r} must be in [0, 1].", code="invalid_router", param="model")
        return RouteTarget(kind=kind, threshold=threshold)
    endpoint = _endpoint_by_name(model)
    if endpoint is None:
        raise ApiError(f"The model {model!r} does not exist or you do not have access to it. GET /v1/models lists "
                       "what you may call.", status_code=404, code="model_not_found", param="model",
                       type="invalid_request_error")  # as OpenAI answers
    return RouteTarget(endpoint=endpoint)


def _endpoint_by_name(name: str) -> ModelEndpoint | None:
    return ModelEndpoint.objects.filter(name=name, active=True).first()


# --- the routed prompt's embedding
class _Lru:
    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: np.ndarray) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


_embedding_lru = _Lru(getattr(settings, "ROUTERHUB_QUERY_CACHE_SIZE", 4096))


def query_embedding(text: str) -> tuple[np.ndarray, EmbeddingCacheEntry | None]:
    """The routed prompt's embedding: process LRU, then the Postgres cache, then the embedder.
    A new embedding comes back with its unsaved cache entry, which the request's log transaction
    stores (one commit per request, not two)."""
    from training.services import embedder_get

    embedder = embedder_get()
    sha = text_sha256(text)
    key = f"{embedder.name}:{sha}"
    vector = _embedding_lru.get(key)
    if vector is not None:
        return vector, None
    stored = (EmbeddingCacheEntry.objects.filter(backend=embedder.name, text_sha256=sha)
              .values_list("embedding", flat=True).first())
    entry = None
    if stored is not None:
        vector = np.asarray(stored, dtype=np.float32)
    else:
        vector = _batcher_for(embedder)(text)
        entry = EmbeddingCacheEntry(backend=embedder.name, text_sha256=sha, embedding=vector)
    _embedding_lru.put(key, vector)
    return vector, entry


_batchers: dict[int, MicroBatcher] = {}


def _batcher_for(embedder):
    """Embeds one text, batched with concurrent requests' texts (ROUTERHUB_EMBEDDING_MICROBATCH)."""
    size = settings.ROUTERHUB_EMBEDDING_MICROBATCH
    if size <= 1:
        return lambda text: embedder.embed([text])[0]
    batcher = _batchers.get(id(embedder))
    if batcher is None:
        batcher = _batchers.setdefault(id(embedder), MicroBatcher(embedder.embed, max_batch=size))
    return batcher


# --- active routers
class UnknownPair(Exception):
    """The router has not seen one of the two models: it cannot compare them."""


@dataclass(frozen=True)
class ActiveRouter:
    kind: str
    version_id: int | None
    router: Router | None  # None for SW: it scores from the neighbour index
    params: dict

    @property
    def label(self) -> str:
        return f"{self.kind}:v{self.version_id}" if self.version_id else self.kind

    def win_rate(self, embedding: np.ndarray, *, strong: str, weak: str, tenant_id: int | None) -> float:
        if self.kind == "sw":
            index = sw_index_get()
            known = index.models
            if strong not in known or weak not in known:
                raise UnknownPair(_unknown_pair_message(strong, weak, known))
            return index.win_rate(embedding, strong=strong, weak=weak, k=settings.ROUTERHUB_SW_SERVING_K,
                                  tenant_id=tenant_id, gamma=float(self.params.get("gamma", 100.0)),
                                  ridge=float(self.params.get("ridge", 1.0)))
        if self.kind != "random" and (strong not in self.router.models_ or weak not in self.router.models_):
            raise UnknownPair(_unknown_pair_message(strong, weak, self.router.models_))
        return float(self.router.predict_win_rate(embedding[None, :], strong=strong, weak=weak)[0])


def _unknown_pair_message(strong: str, weak: str, known) -> str:
    missing = [name for name in (strong, weak) if name not in known]
    return f"router has not seen {', '.join(missing)}"


_sw_index = None
_sw_index_lock = threading.Lock()
_sw_index_checked_at = 0.0
_sw_rebuilding = threading.Lock()


def sw_index_get():
    """The process's SW neighbour index (built from the preference store on first use). It reads new
    rows by itself; every ROUTERHUB_SW_REBUILD_CHECK_S it also checks whether rows it holds were
    deleted or replaced (a changed thumb, a re-labelled duel) and then builds a fresh index in the
    background, swapping it in when complete."""
    global _sw_index
    if _sw_index is None:
        with _sw_index_lock:
            if _sw_index is None:
                _sw_index = _sw_index_build()
    _sw_index_maybe_rebuild()
    return _sw_index


def _sw_index_build():
    from training.neighbors import BattleNeighborIndex

    index = BattleNeighborIndex(refresh_s=settings.ROUTERHUB_SW_REFRESH_S)
    index.refresh(force=True)
    return index


def _sw_index_maybe_rebuild(force: bool = False) -> threading.Thread | None:
    global _sw_index_checked_at
    if not force and time.monotonic() - _sw_index_checked_at < settings.ROUTERHUB_SW_REBUILD_CHECK_S:
        return None
    if not _sw_rebuilding.acquire(blocking=False):
        return None  # a check or a rebuild is under way
    _sw_index_checked_at = time.monotonic()
    try:
        if not _sw_index.stale():
            _sw_rebuilding.release()
            return None
    except Exception:
        _sw_rebuilding.release()
        raise

    def rebuild():
        global _sw_index
        from django.db import connection

        try:
            fresh = _sw_index_build()
            _sw_index = fresh  # one reference swap, as for router versions
            logger.info("SW index rebuilt: %d battles", fresh._battles)
        except Exception:
            logger.exception("SW index rebuild failed; keeping the current one")
        finally:
            connection.close()  # this thread's own connection: nobody else will close it
            _sw_rebuilding.release()

    thread = threading.Thread(target=rebuild, name="sw-index-rebuild", daemon=True)
    thread.start()
    return thread


class RouterRegistry:
    """The active router of each kind and scope in this process (global versions, and tenants' own
    versions trained with their feedback), following promotions within `reload_s`."""

    def __init__(self, reload_s: float):
        self.reload_s = reload_s
        # (kind, tenant id or None for the global version) -> router
        self._snapshot: dict[tuple[str, int | None], ActiveRouter] = {
            ("random", None): ActiveRouter("random", None, RandomRouter(), {})}
        self._checked_at: float | None = None
        self._lock = threading.Lock()

    def get(self, kind: str, tenant_id: int | None = None) -> ActiveRouter | None:
        """The router serving `tenant_id`'s requests of `kind`: its own active version, else the global one."""
        if self._checked_at is None or time.monotonic() - self._checked_at >= self.reload_s:
            # the first load blocks every request (nothing to serve yet); later ones run in one
            # request's thread while the others go on with the current snapshot
            self.reload(block=self._checked_at is None)
        snapshot = self._snapshot  # one read: both lookups see the same snapshot
        return snapshot.get((kind, tenant_id)) or snapshot.get((kind, None))

    def reload(self, block: bool = True) -> None:
        if not self._lock.acquire(blocking=block):
            return
        try:
            if not block and self._checked_at is not None and time.monotonic() - self._checked_at < self.reload_s:
                return
            active = RouterVersion.objects.filter(status=RouterVersion.Status.ACTIVE).values_list(
                "kind", "tenant_id", "id")
            snapshot = {("random", None): self._snapshot[("random", None)]}
            for kind, tenant_id, version_id in active:
                key = (kind, tenant_id)
                current = self._snapshot.get(key)
                if current is not None and current.version_id == version_id:
                    snapshot[key] = current
                    continue
                try:
                    snapshot[key] = self._load(version_id)
                    logger.info("router %s v%s (tenant %s) loaded", kind, version_id, tenant_id or "all")
                except Exception:  # keep serving what we had: a bad artifact must not take routing down
                    logger.exception("router %s v%s failed to load; keeping %s", kind, version_id,
                                     current.label if current else "none")
                    if current is not None:
                        snapshot[key] = current
            self._snapshot = snapshot  # one reference swap: readers see the old or the new dict
            self._checked_at = time.monotonic()
        finally:
            self._lock.release()

    @staticmethod
    def _load(version_id: int) -> ActiveRouter:
        version = RouterVersion.objects.get(pk=version_id)
        params = (version.hyperparameters or {}).get("router", {})
        if version.kind == "sw":
            sw_index_get()  # build the neighbour index before the version becomes visible
            return ActiveRouter("sw", version.pk, None, params)
        artifact = bytes(version.artifact or b"")
        if not artifact:
            raise ValueError(f"{version} has no artifact")
        if version.artifact_sha256 and hashlib.sha256(artifact).hexdigest() != version.artifact_sha256:
            raise ValueError(f"{version}: artifact checksum mismatch")
        return ActiveRouter(version.kind, version.pk, Router.from_bytes(artifact), params)


registry = RouterRegistry(reload_s=settings.ROUTERHUB_ROUTER_RELOAD_S)


@dataclass
class Decision:
    chosen: ModelEndpoint
    other: ModelEndpoint | None  # the fallback
    kind: str = ""
    version_id: int | None = None
    router_label: str = "none"
    win_rate: float | None = None
    threshold: float | None = None
    reason: str = ""
    embedding: np.ndarray | None = None
    cache_entry: EmbeddingCacheEntry | None = None  # a new embedding, stored with the request's log row
    routed_prompt: str = ""


def route(*, target: RouteTarget, tenant: Tenant, routed_prompt: str) -> Decision:
    """Which model answers. Never fails for lack of a router: with no usable router, the strong one."""
    if not target.routed:
        return Decision(chosen=target.endpoint, other=None, reason="model named in the request: no routing",
                        routed_prompt=routed_prompt)
    strong, weak = tenant.strong_model, tenant.weak_model
    decision = Decision(chosen=strong, other=weak, kind=target.kind, threshold=target.threshold,
                        routed_prompt=routed_prompt)
    try:
        decision.embedding, decision.cache_entry = query_embedding(routed_prompt)
    except Exception as exc:  # the embedder is down (e.g. the OpenAI backend): still answer
        logger.exception("embedding failed")
        decision.reason = f"embedding failed ({type(exc).__name__}): strong model"
        return decision
    try:
        active = registry.get(target.kind, tenant.pk)
    except Exception as exc:  # e.g. the database is unreachable for the reload check
        logger.exception("router registry failed")
        decision.reason = f"router unavailable ({type(exc).__name__}): strong model"
        return decision
    if active is None:
        decision.reason = f"no active {target.kind} router version: strong model"
        return decision
    decision.version_id, decision.router_label = active.version_id, active.label
    try:
        win_rate = active.win_rate(decision.embedding, strong=strong.name, weak=weak.name, tenant_id=tenant.pk)
    except UnknownPair as exc:
        decision.reason = f"{exc}: strong model"
        return decision
    except Exception as exc:  # a router that fails must not fail the user's request
        logger.exception("router %s failed", active.label)
        decision.reason = f"router {active.label} failed ({type(exc).__name__}): strong model"
        return decision
    decision.win_rate = win_rate
    if win_rate >= target.threshold:
        decision.reason = f"P(strong wins) {win_rate:.4f} >= threshold {target.threshold:g}"
    else:
        decision.chosen, decision.other = weak, strong
        decision.reason = f"P(strong wins) {win_rate:.4f} < threshold {target.threshold:g}"
    return decision
