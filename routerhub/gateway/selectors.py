"""Reads for the gateway: its request log (this app's table)."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db.models import Avg, Count, Q, Sum
from django.db.models.functions import TruncDay, TruncHour

from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.models import ModelEndpoint, Tenant
from routerhub.tenants.selectors import alias_names, tenant_reference_model
from routerhub.tenants.upstream import endpoint_cost
from training.core.routers import ROUTER_KINDS


def model_names_for_tenant(*, tenant: Tenant) -> list[str]:
    """What a tenant may ask for: `router`, `router-<kind>-<threshold>` for each kind, its aliases,
    and the configured model names (plain proxied calls)."""
    routers = ["router"] + [f"router-{kind}-{tenant.routing_threshold:g}" for kind in ROUTER_KINDS]
    endpoints = list(ModelEndpoint.objects.filter(active=True).values_list("name", flat=True))
    return routers + [name for name in alias_names(tenant=tenant) if name not in endpoints] + endpoints


def request_for_tenant(*, tenant: Tenant, request_id, details: bool = False) -> RoutedRequest | None:
    """The tenant's own request, or None: another tenant's request is as unknown as a made-up id.
    `details` also fetches its feedback, preferences and duel."""
    rows = RoutedRequest.objects.filter(pk=request_id, tenant=tenant)
    if details:
        rows = rows.select_related("feedback", "duel").prefetch_related("preferences")
    return rows.first()


def routed_prompts(*, tenant: Tenant) -> list[str]:
    """The routed prompts of every request the tenant sent (oldest first)."""
    return list(RoutedRequest.objects.filter(tenant=tenant).order_by("created").values_list("routed_prompt", flat=True))


ANSWERED = [RoutedRequest.Status.OK, RoutedRequest.Status.FALLBACK, RoutedRequest.Status.CLIENT_DISCONNECTED]
ERRORS = [RoutedRequest.Status.UPSTREAM_ERROR, RoutedRequest.Status.SERVER_ERROR]


def requests_in_period(*, tenant: Tenant | None, since: datetime, until: datetime, answered: bool = False):
    rows = RoutedRequest.objects.filter(created__gte=since, created__lt=until)
    rows = rows.filter(tenant=tenant) if tenant is not None else rows
    return rows.filter(status__in=ANSWERED) if answered else rows


def traffic_totals(*, tenant: Tenant | None, since: datetime, until: datetime) -> dict:
    """The overview's numbers for a period.

    - `requests`: every logged request; `answered`: those with an answer (ok, fallback, client
      gone); `client_errors` (4xx: refused input, limits) and `errors` (upstream and server
      failures) count every other outcome.
    - Savings are the router's: over the *routed* answered requests only (`routed`,
      `routed_spend`), against `spend_reference`, what those same requests would have cost at
      their tenant's reference model (the most expensive model of its pool by list price, or the
      strong model of a pair; same tokens, that model's prices). Calls that named a model
      (`direct`, `direct_spend`) were not the router's choice and count apart; `spend` is all of it.
    - `strong`: routed answers from the reference model.
    - `models`: each served model's share of the answered requests and of the spend.
    """
    rows = requests_in_period(tenant=tenant, since=since, until=until)
    answered = rows.filter(status__in=ANSWERED)
    routed_q = ~Q(router_kind="")
    # one grouped read, per tenant and served model, gives every total, the reference spend, the
    # strong count and the shares
    groups = list(answered.values("tenant_id", "served_model").annotate(
        n=Count("id"), spend=Sum("cost"), routed=Count("id", filter=routed_q), routed_spend=Sum("cost", filter=routed_q),
        fallbacks=Count("id", filter=Q(fallback=True)), with_feedback=Count("feedback"),
        prompt=Sum("prompt_tokens", filter=routed_q), completion=Sum("completion_tokens", filter=routed_q)))
    totals = {key: sum((row[key] or 0 for row in groups), Decimal(0) if "spend" in key else 0)
              for key in ("n", "spend", "routed", "routed_spend", "fallbacks", "with_feedback")}
    spend, routed_spend = totals["spend"], totals["routed_spend"]
    references = _reference_models(row["tenant_id"] for row in groups)
    strong, per_model, tokens = 0, {}, {}
    for row in groups:
        strong += row["routed"] if row["served_model"] == references[row["tenant_id"]].name else 0
        n, cost = per_model.get(row["served_model"], (0, Decimal(0)))
        per_model[row["served_model"]] = (n + row["n"], cost + (row["spend"] or Decimal(0)))
        prompt, completion = tokens.get(row["tenant_id"], (0, 0))
        tokens[row["tenant_id"]] = (prompt + (row["prompt"] or 0), completion + (row["completion"] or 0))
    # cost is linear in tokens: each tenant's sums priced at its reference model are exact
    reference_spend = sum((endpoint_cost(references[tenant_id], prompt, completion)
                           for tenant_id, (prompt, completion) in tokens.items()), Decimal(0))
    models = [{"model": model, "requests": n, "request_share": n / totals["n"], "spend": cost,
               "spend_share": float(cost / spend) if spend else None}
              for model, (n, cost) in sorted(per_model.items(), key=lambda item: (-item[1][1], -item[1][0], item[0]))]
    outcomes = dict(rows.values_list("status").annotate(n=Count("id")))
    return {"requests": sum(outcomes.values()), "answered": totals["n"], "routed": totals["routed"],
            "strong": strong, "spend": spend, "routed_spend": routed_spend, "spend_reference": reference_spend,
            "direct": totals["n"] - totals["routed"], "direct_spend": spend - routed_spend,
            "client_errors": outcomes.get(RoutedRequest.Status.CLIENT_ERROR, 0),
            "errors": sum(outcomes.get(status, 0) for status in ERRORS), "fallbacks": totals["fallbacks"],
            "with_feedback": totals["with_feedback"], "models": models}


def traffic_series(*, tenant: Tenant | None, since: datetime, until: datetime) -> list[dict]:
    """Answered requests per hour (periods up to two days) or per day, and the share of the routed
    ones answered by the tenant's reference model (the strong model of a pair, the most expensive of
    a pool; None in a bucket without routed requests)."""
    trunc = TruncHour if until - since <= timedelta(days=2) else TruncDay
    rows = list(requests_in_period(tenant=tenant, since=since, until=until).filter(status__in=ANSWERED)
                .annotate(bucket=trunc("created")).values("bucket", "tenant_id", "served_model")
                .annotate(n=Count("id"), routed=Count("id", filter=~Q(router_kind=""))).order_by("bucket"))
    references = _reference_models(row["tenant_id"] for row in rows)
    buckets: dict = {}
    for row in rows:
        total, routed, strong = buckets.get(row["bucket"], (0, 0, 0))
        to_reference = row["served_model"] == references[row["tenant_id"]].name
        buckets[row["bucket"]] = (total + row["n"], routed + row["routed"],
                                  strong + (row["routed"] if to_reference else 0))
    return [{"t": bucket, "requests": total, "strong_share": strong / routed if routed else None}
            for bucket, (total, routed, strong) in sorted(buckets.items())]


def _reference_models(tenant_ids) -> dict[int, ModelEndpoint]:
    """Each tenant's reference model (`tenant_reference_model`), by tenant id."""
    tenants = Tenant.objects.filter(pk__in=set(tenant_ids)).select_related("strong_model").prefetch_related("pool")
    return {t.pk: tenant_reference_model(t) for t in tenants}


def win_rates_recent(*, tenant: Tenant, limit: int = 2000, since: datetime | None = None,
                     until: datetime | None = None) -> np.ndarray:
    """The tenant's latest routed requests' win rates (its own router kind), newest first."""
    rows = RoutedRequest.objects.filter(tenant=tenant, win_rate__isnull=False, router_kind=tenant.default_router_kind)
    if since is not None:
        rows = rows.filter(created__gte=since)
    if until is not None:
        rows = rows.filter(created__lt=until)
    return np.array(list(rows.order_by("-created").values_list("win_rate", flat=True)[:limit]), dtype=np.float64)


def win_rates_window(*, tenant: Tenant | None, since: datetime, until: datetime, limit: int = 20000) -> np.ndarray:
    rows = requests_in_period(tenant=tenant, since=since, until=until).filter(win_rate__isnull=False)
    return np.array(list(rows.values_list("win_rate", flat=True)[:limit]), dtype=np.float64)


def scores_recent(*, tenant: Tenant, models: list[str], limit: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """The router's ratings of `models` (n, m) and the prompt tokens (n,) of the tenant's latest
    routed requests (its own router kind) that rated every one of them, newest first."""
    rows = list(RoutedRequest.objects.filter(tenant=tenant, router_kind=tenant.default_router_kind,
                                             scores__has_keys=list(models))
                .order_by("-created").values_list("scores", "prompt_tokens")[:limit])
    ratings = np.array([[scores[name] for name in models] for scores, _ in rows], dtype=np.float64)
    return ratings.reshape(len(rows), len(models)), np.array([tokens for _, tokens in rows], dtype=np.float64)


def prompt_tokens_mean(*, tenant: Tenant, limit: int = 2000) -> float | None:
    """The mean prompt tokens of the tenant's latest answered requests (None before any)."""
    tokens = list(RoutedRequest.objects.filter(tenant=tenant, status__in=ANSWERED).order_by("-created")
                  .values_list("prompt_tokens", flat=True)[:limit])
    return float(np.mean(tokens)) if tokens else None


def requests_filtered(*, tenant=None, model: str = "", status: str = "", win_min=None, win_max=None,
                      feedback: str = ""):
    rows = RoutedRequest.objects.select_related("tenant", "feedback").defer("embedding", "messages")
    if tenant is not None:
        rows = rows.filter(tenant=tenant)
    if model:
        rows = rows.filter(served_model=model)
    if status:
        rows = rows.filter(status=status)
    if win_min is not None:
        rows = rows.filter(win_rate__gte=win_min)
    if win_max is not None:
        rows = rows.filter(win_rate__lte=win_max)
    if feedback == "with":
        rows = rows.filter(feedback__isnull=False)
    elif feedback == "without":
        rows = rows.filter(feedback__isnull=True)
    return rows.order_by("-created")


def served_models() -> list[str]:
    return list(RoutedRequest.objects.exclude(served_model="").values_list("served_model", flat=True)
                .distinct().order_by("served_model"))


_completion_stats: dict[int, tuple[float, dict[str, float]]] = {}
_completion_stats_lock = threading.Lock()
logger = logging.getLogger(__name__)


def completion_tokens_expected(*, tenant: Tenant) -> dict[str, float]:
    """Each model's mean completion tokens in its answers to this tenant over the last 7 days (what
    a pool's expected cost uses), read at most every ROUTERHUB_COST_STATS_S per process."""
    import time

    from django.conf import settings
    from django.utils import timezone

    cached = _completion_stats.get(tenant.pk)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1]
    # one reader per process at a time; the others go on with what is there (or the defaults)
    if not _completion_stats_lock.acquire(blocking=False):
        return cached[1] if cached is not None else {}
    try:
        rows = (RoutedRequest.objects.filter(tenant=tenant, status__in=ANSWERED, completion_tokens__gt=0,
                                             created__gte=timezone.now() - timedelta(days=7))
                .values("served_model").annotate(mean=Avg("completion_tokens")))
        stats = {row["served_model"]: float(row["mean"]) for row in rows}
    except Exception:  # the log is unreadable now: expected costs fall back to the defaults for a while
        logger.exception("completion-token statistics unavailable")
        stats = cached[1] if cached is not None else {}
    finally:
        _completion_stats_lock.release()
    _completion_stats[tenant.pk] = (time.monotonic() + settings.ROUTERHUB_COST_STATS_S, stats)
    return stats


def completion_tokens_for(*, tenant: Tenant, names: list[str]) -> list[float]:
    """The expected completion tokens of each of `names` for this tenant: its mean over the log
    (`completion_tokens_expected`), or ROUTERHUB_DEFAULT_COMPLETION_TOKENS before there is one."""
    from django.conf import settings

    stats = completion_tokens_expected(tenant=tenant)
    return [stats.get(name, settings.ROUTERHUB_DEFAULT_COMPLETION_TOKENS) for name in names]
