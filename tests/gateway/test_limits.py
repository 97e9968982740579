"""Per-tenant limits through the real gateway and the official client (issue 13): requests and
tokens per minute (429 rate_limit_exceeded with Retry-After), a monthly budget (429
insufficient_quota, or every request to the cheapest model), counted in Redis; with the counters'
Redis down, requests go through."""
from __future__ import annotations

from decimal import Decimal

import openai
import pytest

from routerhub.gateway.limits import month_spend
from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.selectors import api_key_cache_clear
from tests.support.gateway import EASY, HARD

pytestmark = pytest.mark.django_db(transaction=True)


def limit(gateway, **fields):
    for name, value in fields.items():
        setattr(gateway.tenant, name, value)
    gateway.tenant.save()
    api_key_cache_clear()  # the gateway (this process: the live server) reads the tenant anew


def ask(gateway, model="weak-model", content="hello"):
    return gateway.client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": content}])


def test_requests_per_minute_are_limited_with_retry_after(gateway):
    limit(gateway, rate_limit_rpm=3)
    for _ in range(3):
        ask(gateway)
    with pytest.raises(openai.RateLimitError) as caught:
        ask(gateway)
    response = caught.value.response
    assert response.json()["error"]["code"] == "rate_limit_exceeded"
    # the sliding minute: up to the next minute plus the share of it the current one still weighs
    assert 1 <= int(response.headers["retry-after"]) <= 120
    row = RoutedRequest.objects.get(pk=response.headers["x-routerhub-request-id"])
    assert (row.status, row.http_status) == ("client_error", 429)
    assert RoutedRequest.objects.filter(status="ok").count() == 3


def test_tokens_per_minute_count_prompt_and_completion(gateway):
    limit(gateway, rate_limit_tpm=200)
    with pytest.raises(openai.RateLimitError) as caught:  # one prompt larger than the whole minute
        ask(gateway, content="word " * 400)
    assert "tokens per minute" in caught.value.response.json()["error"]["message"]
    served = 0
    try:
        for _ in range(50):
            ask(gateway, content="hello there")
            served += 1
    except openai.RateLimitError:
        pass
    rows = RoutedRequest.objects.filter(status="ok")
    used = sum(r.prompt_tokens + r.completion_tokens for r in rows)
    assert 0 < served < 50 and served == rows.count() and used <= 200 + 40  # the last one may straddle


def test_a_spent_budget_blocks_or_sends_everything_to_the_cheapest_model(gateway, mf_version):
    ask(gateway, model="router", content=HARD[0])
    spent = month_spend(gateway.tenant)
    assert spent == sum(r.cost for r in RoutedRequest.objects.all()) > 0  # counted from the database
    limit(gateway, monthly_budget_usd=spent)
    with pytest.raises(openai.RateLimitError) as caught:
        ask(gateway, model="router", content=HARD[1])
    assert caught.value.response.json()["error"]["code"] == "insufficient_quota"

    limit(gateway, budget_action="cheapest")
    routed = ask(gateway, model="router", content=HARD[2])
    assert routed.headers["x-routerhub-model"] == "weak-model"  # the pair's cheaper model, whatever the router says
    row = RoutedRequest.objects.get(pk=routed.headers["x-routerhub-request-id"])
    assert "budget" in row.routing_reason
    with pytest.raises(openai.RateLimitError):
        ask(gateway, model="strong-model")  # naming another model: refused
    ask(gateway, model="weak-model", content=EASY[0])
    assert month_spend(gateway.tenant) == sum(r.cost for r in RoutedRequest.objects.all())  # each answer added


def test_with_the_counters_redis_down_requests_go_through(gateway, settings):
    settings.ROUTERHUB_LIMITS_REDIS_URL = "redis://127.0.0.1:1/0"
    limit(gateway, rate_limit_rpm=1, monthly_budget_usd=Decimal("0"))
    for _ in range(3):
        assert ask(gateway).http_response.status_code == 200
