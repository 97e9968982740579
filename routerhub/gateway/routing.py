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
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from routerhub.embeddings.services import query_embedding
from routerhub.errors import ApiError
from routerhub.gateway.registry import registry
from routerhub.gateway.selectors import completion_tokens_for
from routerhub.tenants.models import ModelEndpoint, Tenant
from routerhub.tenants.selectors import (
    ROUTER_NAME,
    alias_target,
    endpoint_by_name,
    router_name_problem,
    tenant_pool_members,
)
from routerhub.tenants.upstream import endpoint_cost
from training.core.routers import UnknownModel

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class RouteTarget:
    """What the request's `model` asks for: a router (kind + threshold) or one endpoint."""

    kind: str | None = None
    threshold: float | None = None
    endpoint: ModelEndpoint | None = None

    @property
    def routed(self) -> bool:
        return self.kind is not None


def route_target_resolve(*, model: str, tenant: Tenant, aliases: bool = True) -> RouteTarget:
    """The target of `model`, or ApiError: 400 for a malformed router name, 404 for an unknown model.
    A tenant's alias (`ModelAlias`) stands for its target; aliases do not chain."""
    if model == "router":
        return RouteTarget(kind=tenant.default_router_kind, threshold=tenant.routing_threshold)
    match = ROUTER_NAME.match(model)
    if match:
        problem = router_name_problem(model)
        if problem:
            raise ApiError(problem, code="invalid_router", param="model")
        return RouteTarget(kind=match["kind"], threshold=float(match["threshold"]))
    if aliases:
        target = alias_target(tenant=tenant, name=model)
        if target is not None:
            return route_target_resolve(model=target, tenant=tenant, aliases=False)
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
    routed_prompt: str = ""
    scores: dict = field(default_factory=dict)  # the router's rating of each candidate
    estimated_cost: Decimal | None = None  # the chosen model's expected cost (USD)


@dataclass(frozen=True)
class Constraints:
    """What a request narrows the tenant's pool to: an allow-list and a cost ceiling."""

    models: list[str] | None = None
    max_cost: float | None = None
    prompt_tokens: int = 0


def expected_cost(endpoint: ModelEndpoint, *, prompt_tokens: int, completion_tokens: float) -> Decimal:
    """The cost of an answer: the prompt at the input price, the model's expected completion at
    the output price."""
    return endpoint_cost(endpoint, prompt_tokens, int(round(completion_tokens)))


def candidates_for(*, tenant: Tenant, constraints: Constraints) -> list[tuple[ModelEndpoint, Decimal]]:
    """The tenant's pool narrowed by the request, with each model's expected cost, most expensive
    first. ApiError (400) for a name outside the pool or a ceiling no model fits under."""
    members = tenant_pool_members(tenant)
    pool = members or [tenant.strong_model, tenant.weak_model]
    if constraints.models is not None:
        names = {endpoint.name for endpoint in pool}
        outside = [name for name in constraints.models if name not in names]
        if outside:
            raise ApiError(f"'models' names {', '.join(map(repr, outside))}, not in this tenant's pool "
                           f"({', '.join(sorted(names))}).", code="model_not_in_pool", param="models")
        pool = [endpoint for endpoint in pool if endpoint.name in set(constraints.models)]
    completions = completion_tokens_for(tenant=tenant, names=[endpoint.name for endpoint in pool])
    priced = [(endpoint, expected_cost(endpoint, prompt_tokens=constraints.prompt_tokens, completion_tokens=tokens))
              for endpoint, tokens in zip(pool, completions)]
    if constraints.max_cost is not None:
        within = [(endpoint, cost) for endpoint, cost in priced if cost <= Decimal(str(constraints.max_cost))]
        if not within:
            cheapest = min(priced, key=lambda item: item[1])
            raise ApiError(f"No model of the pool is expected to cost at most max_cost = ${constraints.max_cost:g}: "
                           f"the cheapest, {cheapest[0].name}, is expected to cost ${cheapest[1]:f}.",
                           code="max_cost_too_low", param="max_cost")
        priced = within
    return sorted(priced, key=lambda item: item[1], reverse=True) if members else priced  # a pair: strong first


def route(*, target: RouteTarget, tenant: Tenant, routed_prompt: str,
          constraints: Constraints = Constraints()) -> Decision:
    """Which model answers. Never fails for lack of a router: with no usable router, the most
    expensive candidate (for a pair: the strong model)."""
    if not target.routed:
        return Decision(chosen=target.endpoint, other=None, reason="model named in the request: no routing",
                        routed_prompt=routed_prompt)
    priced = candidates_for(tenant=tenant, constraints=constraints)
    candidates, costs = [endpoint for endpoint, _ in priced], dict((e.name, c) for e, c in priced)
    decision = Decision(chosen=candidates[0], other=candidates[1] if len(candidates) > 1 else None, kind=target.kind,
                        threshold=target.threshold, routed_prompt=routed_prompt,
                        estimated_cost=costs[candidates[0].name])
    if len(candidates) == 1:
        decision.reason = "one model left after the request's constraints: no routing"
        return decision
    try:
        decision.embedding = query_embedding(routed_prompt)
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
        router = active.router.scoped(tenant_id=tenant.pk)
        # the stated rule for models the router never saw: it chooses among the ones it knows
        seen = [endpoint for endpoint in candidates if router.knows(endpoint.name)]
        unseen = [endpoint.name for endpoint in candidates if endpoint not in seen]
        if len(seen) < 2:
            decision.reason = f"router has not seen {', '.join(unseen)}: strong model"
            return decision
        names = [endpoint.name for endpoint in seen]
        choice = router.route(decision.embedding, names, target.threshold, text=routed_prompt)
    except UnknownModel as exc:
        decision.reason = f"router has not seen the model ({exc}): strong model"
        return decision
    except Exception as exc:  # a router that fails must not fail the user's request
        logger.exception("router %s failed", active.label)
        decision.reason = f"router {active.label} failed ({type(exc).__name__}): strong model"
        return decision
    decision.scores = {name: round(rating, 6) for name, rating in zip(names, choice.ratings)}
    decision.win_rate = choice.win_rate
    decision.chosen = seen[choice.index]
    decision.other = seen[choice.index - 1] if choice.index else seen[1]  # fallback: the next model up in cost
    decision.estimated_cost = costs[decision.chosen.name]
    if len(seen) == 2:
        relation = "<" if choice.index else ">="
        decision.reason = f"P(strong wins) {choice.win_rate:.4f} {relation} threshold {target.threshold:g}"
    else:
        first = seen[0].name
        decision.reason = (f"cheapest of {len(seen)} with P({first} wins) < threshold {target.threshold:g}: "
                           f"{decision.chosen.name} (P {choice.win_rates[choice.index]:.4f})"
                           if choice.index else f"no cheaper model with P({first} wins) < threshold "
                                                f"{target.threshold:g}: {first}")
        if unseen:
            decision.reason += f"; not seen by the router: {', '.join(unseen)}"
    return decision
