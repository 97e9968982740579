"""Reads for tenants and API keys."""
from __future__ import annotations

import re
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from routerhub.tenants.models import ApiKey, ModelAlias, ModelEndpoint, Tenant
from routerhub.tenants.services import api_key_hash

# last_used is written at most this often per key, so authentication stays one read per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


_cache: dict[str, tuple[float, ApiKey]] = {}
_cache_lock = threading.Lock()


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The active key with this secret on an active tenant, or None.

    A found key (with its tenant and endpoints) is kept in this process for
    ROUTERHUB_AUTH_CACHE_S seconds, so a request costs no query for it: a revoked key, a paused
    tenant or a new threshold takes effect in every web process within that time (at once in the
    process that made the change). Unknown keys are never cached."""
    if not raw_key:
        return None
    key_hash = api_key_hash(raw_key)
    ttl = settings.ROUTERHUB_AUTH_CACHE_S
    cached = _cache.get(key_hash)
    if cached is not None and cached[0] > time.monotonic():
        api_key = cached[1]
    else:
        api_key = (
            ApiKey.objects.select_related("tenant", "tenant__strong_model", "tenant__weak_model")
            .prefetch_related("tenant__pool")
            .filter(key_hash=key_hash, revoked_at__isnull=True, tenant__active=True)
            .first()
        )
        if api_key is None:
            _cache.pop(key_hash, None)
            return None
        if ttl > 0:
            with _cache_lock:
                if len(_cache) > 10_000:
                    _cache.clear()
                _cache[key_hash] = (time.monotonic() + ttl, api_key)
    now = timezone.now()
    if api_key.last_used is None or now - api_key.last_used > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=api_key.pk).update(last_used=now)
        api_key.last_used = now
    return api_key


def api_key_cache_clear() -> None:
    """Forget cached keys (after a revocation or a tenant change in this process)."""
    with _cache_lock:
        _cache.clear()


def tenants_active(*, ids=None) -> list[Tenant]:
    """Active tenants (of `ids`, when given), oldest first."""
    rows = Tenant.objects.filter(active=True)
    if ids is not None:
        rows = rows.filter(pk__in=list(ids))
    return list(rows.order_by("pk"))


def endpoint_by_name(name: str) -> ModelEndpoint | None:
    """The active endpoint that serves model `name`, if any."""
    return ModelEndpoint.objects.filter(name=name, active=True).first()


def endpoint_names_active() -> set[str]:
    """The names of every active endpoint: the models a client may call or name in feedback."""
    return set(ModelEndpoint.objects.filter(active=True).values_list("name", flat=True))


def tenant_by_slug(slug: str) -> Tenant | None:
    return Tenant.objects.filter(slug=slug).first()


def tenant_pool_members(tenant: Tenant) -> list[ModelEndpoint]:
    """The active endpoints of the tenant's pool; none means the tenant routes its strong/weak
    pair (which keeps strong first, whatever the prices)."""
    return [endpoint for endpoint in tenant.pool.all() if endpoint.active]


def _pool_by_price(tenant: Tenant) -> list[ModelEndpoint]:
    """The pool's endpoints, most expensive first by list price (input + output per 1M tokens, then
    name); a pair: strong, weak, whatever the prices."""
    members = tenant_pool_members(tenant)
    if not members:
        return [tenant.strong_model, tenant.weak_model]
    return sorted(members, key=lambda e: (e.input_price_per_mtok + e.output_price_per_mtok, e.name), reverse=True)


def tenant_pool_by_price(tenant: Tenant) -> list[str]:
    """The names of the tenant's pool, most expensive first by list price: the order feedback and
    duels use. A pair stays strong first."""
    return [endpoint.name for endpoint in _pool_by_price(tenant)]


def tenant_reference_model(tenant: Tenant) -> ModelEndpoint:
    """What the tenant's spend is measured against: the first of `tenant_pool_by_price` (the most
    expensive model of its pool by list price, or the strong model of a pair)."""
    return _pool_by_price(tenant)[0]


ROUTER_NAME = re.compile(r"^router-(?P<kind>[^-]+)-(?P<threshold>.+)$")


def router_name_problem(name: str) -> str | None:
    """Why `router-<kind>-<threshold>` is malformed, or None (also None for other names)."""
    from training.core.routers import ROUTER_KINDS

    match = ROUTER_NAME.match(name)
    if not match:
        return None
    kind, raw = match["kind"], match["threshold"]
    if kind not in ROUTER_KINDS:
        return f"Unknown router kind {kind!r} in model {name!r}; use one of {', '.join(ROUTER_KINDS)} (e.g. router-mf-0.5)."
    try:
        threshold = float(raw)
    except ValueError:
        return f"The threshold in {name!r} is not a number; use router-<kind>-<threshold in [0, 1]>."
    if not 0.0 <= threshold <= 1.0:  # also rejects nan
        return f"The threshold in {name!r} must be in [0, 1]."
    return None


def alias_problem(*, name: str, target: str) -> str | None:
    """Why an alias `name` → `target` cannot be saved, or None."""
    name, target = (name or "").strip(), (target or "").strip()
    if not name or not target:
        return "An alias needs a name and a target."
    if name == "router" or ROUTER_NAME.match(name):
        return f"{name!r} is a router name already; an alias needs a name of its own."
    if target == "router" or ROUTER_NAME.match(target):
        return router_name_problem(target)
    if endpoint_by_name(target) is None:
        return (f"The target {target!r} is neither router, router-<kind>-<threshold> nor an active "
                f"configured model.")
    return None


def alias_target(*, tenant: Tenant, name: str) -> str | None:
    """What this tenant's alias `name` stands for, or None (not an alias)."""
    return ModelAlias.objects.filter(tenant=tenant, name=name).values_list("target", flat=True).first()


def alias_names(*, tenant: Tenant) -> list[str]:
    return list(ModelAlias.objects.filter(tenant=tenant).values_list("name", flat=True))
