"""Every number on the overview, against hand-made requests (issue 14): savings over routed
requests only (a direct call to a free model saves nothing), an error rate that counts every
outcome, whole-number axes and plurals, and what to do about a failed run."""
from __future__ import annotations

import re
from decimal import Decimal

import pytest

from routerhub.console import charts
from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.models import ModelEndpoint, Tenant
from training.models import TrainingRun

pytestmark = pytest.mark.django_db
Status = RoutedRequest.Status


@pytest.fixture
def traffic():
    strong = ModelEndpoint.objects.create(name="big", upstream_model="big", base_url="http://127.0.0.1:9/v1",
                                          input_price_per_mtok=Decimal("10"), output_price_per_mtok=Decimal("30"))
    weak = ModelEndpoint.objects.create(name="small", upstream_model="small", base_url="http://127.0.0.1:9/v1",
                                        input_price_per_mtok=Decimal("1"), output_price_per_mtok=Decimal("2"))
    ModelEndpoint.objects.create(name="free", upstream_model="free", base_url="http://127.0.0.1:9/v1")
    tenant = Tenant.objects.create(slug="acme", name="Acme", strong_model=strong, weak_model=weak)

    def row(status, served=None, *, routed=True, http=200, fallback=False):
        # 1,000 tokens in and out: big costs $0.04, small $0.003, free $0
        cost = {"big": Decimal("0.04"), "small": Decimal("0.003"), "free": Decimal(0), None: Decimal(0)}[served]
        return RoutedRequest.objects.create(
            tenant=tenant, status=status, http_status=http, served_model=served or "", fallback=fallback,
            chosen_model=served or "", router_kind="mf" if routed else "", win_rate=0.7 if routed else None,
            prompt_tokens=1000 if served else 0, completion_tokens=1000 if served else 0, cost=cost)

    row(Status.OK, "big")
    row(Status.OK, "big")
    row(Status.OK, "small")
    row(Status.OK, "small")
    row(Status.FALLBACK, "small", fallback=True)
    row(Status.OK, "free", routed=False)  # a direct call to a free model: not a saving
    row(Status.CLIENT_ERROR, routed=False, http=400)
    row(Status.UPSTREAM_ERROR, http=502)
    return tenant


def test_each_overview_number(staff_client, traffic):
    page = staff_client.get("/console/?tenant=acme&period=7d")
    stats = page.context["stats"]
    assert (stats.requests, stats.answered, stats.routed, stats.direct) == (8, 6, 5, 1)
    assert stats.strong == 2 and stats.strong_share == pytest.approx(2 / 5)
    assert stats.spend == Decimal("0.089") and stats.routed_spend == Decimal("0.089")
    assert stats.direct_spend == 0
    assert stats.spend_reference == Decimal("0.04") * 5  # the 5 routed answers at big's prices
    assert stats.savings == Decimal("0.2") - Decimal("0.089")
    assert stats.savings_pct == pytest.approx(float((Decimal("0.2") - Decimal("0.089")) / Decimal("0.2") * 100))
    assert (stats.client_errors, stats.errors) == (1, 1) and stats.error_rate == pytest.approx(2 / 8)
    assert stats.fallback_rate == pytest.approx(1 / 6)
    html = page.content.decode()
    shown = dict(re.findall(r'data-stat="([a-z_]+)">([^<]*)<', html))
    assert shown["requests"] == "8" and shown["routed"] == "5" and shown["direct"] == "1"
    assert shown["strong_share"] == "40.0%" and shown["error_rate"] == "25.0%" and shown["fallback_rate"] == "16.7%"
    assert shown["savings"] == "$0.1110" and shown["spend_reference"] == "$0.2000" and shown["client_errors"] == "1"
    assert "2 of 5 routed requests to" in html and "direct call (naming" in html and "direct calls" not in html


def test_plurals_and_whole_number_axes(staff_client, traffic):
    RoutedRequest.objects.exclude(pk=RoutedRequest.objects.filter(served_model="big").first().pk).delete()
    html = staff_client.get("/console/?tenant=acme&period=7d").content.decode()
    assert "1 routed request." in html and "1 of 1 routed request to" in html
    svg = charts.histogram([0.7], title="Win rates", x_label="P(strong wins)")
    ticks = [t for t in re.findall(r'text-anchor="end">([^<]+)<', svg)]
    assert ticks == ["0", "1", "2", "3", "4"]  # not 0, 0, 0, 1, 1


@pytest.mark.parametrize("error, says", [
    ("ValueError: no stored preferences to train on: import some first", "import_preferences"),
    ("failed as stale: no worker took it within its time limit", "healthcheck worker"),
    ("failed as stale: its worker stopped reporting (killed or lost)", "killed or lost"),
    ("failed as stale: ran past its time limit", "ROUTERHUB_TRAINING_TIME_LIMIT_S"),
    ("RuntimeError: something else", "Fix what the error says"),
])
def test_a_failed_run_says_what_to_do(staff_client, error, says):
    run = TrainingRun.objects.create(kinds=["mf"], status="failed", error=error)
    html = staff_client.get(f"/console/training/{run.pk}/").content.decode()
    assert 'id="run-hint"' in html and says in html


def test_the_share_over_time_counts_routed_requests_only(traffic):
    from datetime import timedelta

    from django.utils import timezone

    from routerhub.gateway.selectors import traffic_series

    now = timezone.now()
    series = traffic_series(tenant=traffic, since=now - timedelta(hours=2), until=now + timedelta(hours=1))
    assert sum(p["requests"] for p in series) == 6  # every answered request
    assert [p["strong_share"] for p in series] == [pytest.approx(2 / 5)]  # of the 5 routed, 2 to big
