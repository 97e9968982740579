"""Routing decisions: which model answers a request, and why.

- `route_target_resolve` reads the request's `model`: `router`, `router-<kind>-<threshold>`, or a
  configured model name (no routing).
- `route` embeds the routed prompt (`routerhub.embeddings.services.query_embedding`), asks the
  router serving the tenant (`routerhub.gateway.registry`) to decide among the tenant's models,
  strongest first (`Router.route`: its scores, then `training.core.policy`), and says why. It
  never fails for lack of a router: with none usable, the strongest model answers.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass

import numpy as np

from routerhub.embeddings.models import EmbeddingCacheEntry
from routerhub.embeddings.services import query_embedding
from routerhub.errors import ApiError
from routerhub.gateway.registry import registry
from routerhub.tenants.models import ModelEndpoint, Tenant
from routerhub.tenants.selectors import endpoint_by_name
from training.core.routers import ROUTER_KINDS, UnknownModel

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
    endpoint = endpoint_by_name(model)
    if endpoint is None:
        raise ApiError(f"The model {model!r} does not exist or you do not have access to it. GET /v1/models lists "
                       "what you may call.", status_code=404, code="model_not_found", param="model",
                       type="invalid_request_error")  # as OpenAI answers
    return RouteTarget(endpoint=endpoint)


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
    candidates = [tenant.strong_model, tenant.weak_model]  # strongest (most expensive) first
    decision = Decision(chosen=candidates[0], other=candidates[1], kind=target.kind, threshold=target.threshold,
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
        choice = active.router.scoped(tenant_id=tenant.pk).route(
            decision.embedding, [endpoint.name for endpoint in candidates], target.threshold)
    except UnknownModel as exc:
        decision.reason = f"router has not seen the model ({exc}): strong model"
        return decision
    except Exception as exc:  # a router that fails must not fail the user's request
        logger.exception("router %s failed", active.label)
        decision.reason = f"router {active.label} failed ({type(exc).__name__}): strong model"
        return decision
    decision.win_rate = choice.win_rate
    decision.chosen = candidates[choice.index]
    decision.other = candidates[0] if choice.index else candidates[1]
    relation = "<" if choice.index else ">="
    decision.reason = f"P(strong wins) {choice.win_rate:.4f} {relation} threshold {target.threshold:g}"
    return decision
