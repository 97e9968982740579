"""The routers this web process serves: the active version of each kind, global and per tenant
(a tenant's own version, trained with its feedback, serves it in place of the global one).

`RouterRegistry` loads every active version once per process and checks the database for
promotions at most every `ROUTERHUB_ROUTER_RELOAD_S` seconds; it loads a new version completely and
then swaps one reference, so a request sees either the old router or the new one, never half of one.
A version that fails to load is logged and the previous one kept. Kinds that read the stored
battles when they score (SW) get the process's neighbour index over the preference store
(`feedback.neighbors.BattleNeighborIndex`), which follows new battles by itself.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings

from feedback.neighbors import BattleNeighborIndex
from routerhub.embeddings.services import embedder_get
from training.core.routers import ROUTERS, TRAINABLE_KINDS, Router
from training.selectors import router_version_get, router_versions_active
from training.services import router_for_version

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActiveRouter:
    kind: str
    version_id: int | None
    router: Router

    @property
    def label(self) -> str:
        return f"{self.kind}:v{self.version_id}" if self.version_id else self.kind


# --- SW's neighbour source: one index over the preference store per process
_sw_index = None
_sw_index_lock = threading.Lock()
_sw_index_checked_at = 0.0
_sw_rebuilding = threading.Lock()


def sw_index_get():
    """The process's neighbour index (built from the preference store on first use). It reads new
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


class _ServingNeighbors:
    """The neighbour source a served SW router reads: always the process's current index (a
    rebuilt one included), narrowed to the request's scope."""

    def __init__(self, tenant_id: int | None = None):
        self.tenant_id = tenant_id

    @property
    def models(self) -> list[str]:
        return sw_index_get().models

    def scoped(self, *, tenant_id: int | None = None) -> "_ServingNeighbors":
        return _ServingNeighbors(tenant_id)

    def pair_statistics(self, queries, *, gamma: float):
        return sw_index_get().pair_statistics(queries, gamma=gamma, k=settings.ROUTERHUB_SW_SERVING_K,
                                              tenant_id=self.tenant_id)


class RouterRegistry:
    """The active router of each kind and scope in this process (global versions, and tenants' own
    versions trained with their feedback), following promotions within `reload_s`."""

    def __init__(self, reload_s: float):
        self.reload_s = reload_s
        # (kind, tenant id or None for the global version) -> router; kinds that learn nothing need no version
        self._unversioned = {(kind, None): ActiveRouter(kind, None, cls())
                             for kind, cls in ROUTERS.items() if kind not in TRAINABLE_KINDS}
        self._snapshot: dict[tuple[str, int | None], ActiveRouter] = dict(self._unversioned)
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
            snapshot = dict(self._unversioned)
            for kind, tenant_id, version_id in router_versions_active():
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
        version = router_version_get(version_id=version_id)
        serving = embedder_get().name
        if version.embedder and version.embedder != serving:  # its scores would be noise on these vectors
            raise ValueError(f"v{version.pk} was trained on {version.embedder} embeddings but this process "
                             f"embeds with {serving}: retrain it (or embed as it was trained)")
        neighbors = None
        if ROUTERS[version.kind].reads_battles:
            sw_index_get()  # build the neighbour index before the version becomes visible
            neighbors = _ServingNeighbors()
        return ActiveRouter(version.kind, version.pk, router_for_version(version, neighbors))


registry = RouterRegistry(reload_s=settings.ROUTERHUB_ROUTER_RELOAD_S)
