"""A tenant's limits on the request path: requests and tokens per minute, and a monthly budget.

Counted in Redis across every web process and the worker (`routerhub.tenants.usage`):
- `admit` counts the request and refuses it with a 429 `rate_limit_exceeded` (and `Retry-After`)
  when the sliding minute holds more than `rate_limit_rpm` requests, or more than `rate_limit_tpm`
  tokens with this prompt (its estimate) added;
- `budget_check` compares this month's spend (answers and duels, USD) with `monthly_budget_usd`:
  at or over it, `block` refuses with a 429 `insufficient_quota`, `cheapest` sends every routed
  request to the cheapest model (a pair: the weak one) and refuses calls naming another model;
- `usage_record` adds an answer's completion tokens and cost once it is logged.
When Redis does not answer, requests go through (logged): the counters must not take the API down.
"""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from decimal import Decimal

from django.db.models import Sum

from feedback.models import Duel
from routerhub.errors import ApiError
from routerhub.gateway.models import RoutedRequest
from routerhub.tenants import usage
from routerhub.tenants.models import Tenant

logger = logging.getLogger(__name__)


def admit(tenant: Tenant, *, prompt_tokens: int) -> None:
    """Count this request against the tenant's minute, or ApiError(429)."""
    rpm, tpm = tenant.rate_limit_rpm, tenant.rate_limit_tpm
    if not rpm and not tpm:
        return
    try:
        minute = usage.minute_count_request(tenant)
        refusal = None
        if rpm and minute.requests > rpm:
            refusal = f"{rpm} requests per minute"
            retry_s = usage.sliding_wait_s(prev=minute.prev_requests, now=minute.requests_now - 1,
                                           into=minute.into, need=1, limit=rpm)
        elif tpm and minute.tokens + prompt_tokens > tpm:
            refusal = f"{tpm} tokens per minute (this prompt: about {prompt_tokens})"
            retry_s = usage.sliding_wait_s(prev=minute.prev_tokens, now=minute.tokens_now, into=minute.into,
                                           need=prompt_tokens, limit=tpm)
        if refusal is None:
            usage.tokens_add(tenant, prompt_tokens)
            return
        usage.request_uncount(tenant, minute.window)
    except usage.Unavailable as exc:
        logger.warning("rate limits not enforced: %s", exc)
        return
    retry = max(1, int(retry_s + 0.999))  # when the refused request would fit, nothing else being sent
    raise ApiError(f"Rate limit reached for this tenant: {refusal}. Retry after {retry} s.", status_code=429,
                   code="rate_limit_exceeded", type="rate_limit_error", headers={"Retry-After": str(retry)})


def month_spend(tenant: Tenant) -> Decimal | None:
    """This month's spend (USD), answers and duels; None when the counters cannot be read."""
    try:
        return usage.spend_month(tenant, initial=lambda: _month_spend_in_database(tenant))
    except usage.Unavailable as exc:
        logger.warning("spend counter unavailable: %s", exc)
        return None


def _month_spend_in_database(tenant: Tenant) -> Decimal:
    start = datetime.now(timezone.utc).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    answers = RoutedRequest.objects.filter(tenant=tenant, created__gte=start).aggregate(s=Sum("cost"))["s"]
    duels = Duel.objects.filter(tenant=tenant, created__gte=start).aggregate(s=Sum("cost"))["s"]
    return (answers or Decimal(0)) + (duels or Decimal(0))


def budget_check(tenant: Tenant, *, routed: bool, model: str) -> bool:
    """True when requests must go to the cheapest model; ApiError(429) when they must not go at all."""
    budget = tenant.monthly_budget_usd
    if budget is None:
        return False
    spent = month_spend(tenant)
    if spent is None or spent < budget:
        return False
    message = f"This tenant's monthly budget of ${budget} is spent (${spent:.4f} this month)."
    if tenant.budget_action == Tenant.BudgetAction.CHEAPEST:
        if routed or model == cheapest_model(tenant):
            return True
        message += f" Only the cheapest model, {cheapest_model(tenant)}, answers until the month ends."
    raise ApiError(message, status_code=429, code="insufficient_quota", type="insufficient_quota")


def cheapest_model(tenant: Tenant) -> str:
    from routerhub.tenants.selectors import tenant_pool_by_price

    return tenant_pool_by_price(tenant)[-1]  # a pair: the weak model


def usage_record(tenant: Tenant, *, completion_tokens: int, cost: Decimal) -> None:
    """After an answer was logged: its completion tokens into the minute, its cost into the month."""
    try:
        if tenant.rate_limit_tpm:
            usage.tokens_add(tenant, completion_tokens)
        if tenant.monthly_budget_usd is not None:
            usage.spend_add(tenant, cost)
    except usage.Unavailable as exc:
        logger.warning("usage not counted: %s", exc)
