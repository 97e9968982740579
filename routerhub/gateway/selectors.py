"""Reads for the gateway: its request log (this app's table)."""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.db.models import Avg, Count, DecimalField, ExpressionWrapper, F, Q, Sum
from django.db.models.functions import TruncDay, TruncHour

from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.models import ModelEndpoint, Tenant
from training.core.routers import ROUTER_KINDS


def model_names_for_tenant(*, tenant: Tenant) -> list[str]:
    """What a tenant may ask for: `router`, `router-<kind>-<threshold>` for each kind, and the
    configured model names (plain proxied calls)."""
    routers = ["router"] + [f"router-{kind}-{tenant.routing_threshold:g}" for kind in ROUTER_KINDS]
    endpoints = list(ModelEndpoint.objects.filter(active=True).values_list("name", flat=True))
    return routers + endpoints


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
    """Requests, answered, strong-model answers, spend, the spend had every answered request gone to
    its tenant's strong model (same tokens, the strong model's prices), fallbacks, errors, and how
    many answered requests got feedback."""
    rows = requests_in_period(tenant=tenant, since=since, until=until)
    answered = rows.filter(status__in=ANSWERED)
    price = DecimalField(max_digits=20, decimal_places=8)
    all_strong = ExpressionWrapper(
        (F("tenant__strong_model__input_price_per_mtok") * F("prompt_tokens")
         + F("tenant__strong_model__output_price_per_mtok") * F("completion_tokens")) / Decimal(1_000_000),
        output_field=price)
    totals = answered.aggregate(
        n=Count("id"), strong=Count("id", filter=Q(served_model=F("tenant__strong_model__name"))),
        spend=Sum("cost"), all_strong=Sum(all_strong), fallbacks=Count("id", filter=Q(fallback=True)),
        with_feedback=Count("feedback"))
    return {"requests": rows.count(), "answered": totals["n"], "strong": totals["strong"],
            "spend": totals["spend"] or Decimal(0), "spend_all_strong": totals["all_strong"] or Decimal(0),
            "errors": rows.filter(status__in=ERRORS).count(), "fallbacks": totals["fallbacks"],
            "with_feedback": totals["with_feedback"]}


def traffic_series(*, tenant: Tenant | None, since: datetime, until: datetime) -> list[dict]:
    """Requests and strong share per hour (periods up to two days) or per day."""
    trunc = TruncHour if until - since <= timedelta(days=2) else TruncDay
    rows = (requests_in_period(tenant=tenant, since=since, until=until).filter(status__in=ANSWERED).annotate(bucket=trunc("created"))
            .values("bucket").annotate(n=Count("id"), strong=Count("id", filter=Q(
                served_model=F("tenant__strong_model__name")))).order_by("bucket"))
    return [{"t": row["bucket"], "requests": row["n"], "strong_share": row["strong"] / row["n"]} for row in rows]


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
