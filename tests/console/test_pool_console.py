"""The console for a tenant with a pool: spend against every request to its most expensive model,
each model's share of requests and spend, and the knob set by a target average cost per request
(replayed on stored scores, or read off the serving version's pool curve), each checked against
hand-made data."""
from __future__ import annotations

from decimal import Decimal

import pytest

from routerhub.audit.models import AuditEvent
from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.models import Tenant
from tests.support.factories import ModelEndpointFactory, TenantFactory
from training.models import RouterVersion
from training.services import router_version_promote

pytestmark = pytest.mark.django_db

# per request (1000 tokens in, 1000 out): strong $0.04, mid $0.006, weak $0.0004
PRICES = {"strong-model": Decimal("0.04"), "mid-model": Decimal("0.006"), "weak-model": Decimal("0.0004")}
# three groups of 20 requests: P(strong beats mid), P(strong beats weak) = σ(d)
GROUPS = [(0.0, 0.0), (1.0, 3.0), (2.0, 4.0)]


def _pooled(slug: str) -> Tenant:
    tenant = TenantFactory(slug=slug, routing_threshold=0.5)
    mid = ModelEndpointFactory(name="mid-model", input_price_per_mtok=Decimal("2"), output_price_per_mtok=Decimal("4"))
    tenant.pool.set([tenant.weak_model, mid, tenant.strong_model])
    return tenant


def _request(tenant, served: str, scores: dict | None = None) -> RoutedRequest:
    return RoutedRequest.objects.create(
        tenant=tenant, routed_prompt="q", requested_model="router", router_kind=tenant.default_router_kind,
        scores=scores or {}, chosen_model=served, served_model=served, status="ok", http_status=200,
        prompt_tokens=1000, completion_tokens=1000, cost=PRICES[served])


@pytest.fixture
def pooled(db):
    """60 routed requests that rated every pool model; each model served 20 of them."""
    tenant = _pooled("pooled")
    served = ["strong-model", "mid-model", "weak-model"]
    for group, (d_mid, d_weak) in enumerate(GROUPS):
        for _ in range(20):
            _request(tenant, served[group], {"strong-model": 0.0, "mid-model": -d_mid, "weak-model": -d_weak})
    return tenant


def test_the_overview_measures_spend_against_the_most_expensive_pool_model(staff_client, pooled):
    stats = staff_client.get("/console/?tenant=pooled&period=7d").context["stats"]
    assert stats.spend == 20 * (PRICES["strong-model"] + PRICES["mid-model"] + PRICES["weak-model"])
    assert stats.spend_reference == 60 * PRICES["strong-model"]  # every request at strong-model's prices
    assert stats.strong == 20  # answered by the pool's most expensive model
    rows = {row["model"]: row for row in stats.models}
    assert {m: row["requests"] for m, row in rows.items()} == {m: 20 for m in PRICES}
    assert all(row["request_share"] == pytest.approx(1 / 3) for row in rows.values())
    total = sum(PRICES.values())
    for model, price in PRICES.items():
        assert rows[model]["spend_share"] == pytest.approx(float(price / total))
    assert [row["model"] for row in stats.models] == ["strong-model", "mid-model", "weak-model"]  # by spend


def test_a_target_average_cost_replays_the_rule_on_the_stored_scores(staff_client, pooled):
    # t in (σ(1), σ(2)]: group 1 to the weak model, group 2 to mid, group 3 to strong
    expected_cost = float(PRICES["weak-model"] + PRICES["mid-model"] + PRICES["strong-model"]) / 3
    preview = staff_client.get("/console/tenants/pooled/?mode=cost&value=0.02")
    assert preview.status_code == 200
    cost = preview.context["preview"].cost
    assert cost.threshold == pytest.approx(0.732)  # the first knob value above σ(1) = 0.7311: the most quality
    assert cost.mean_cost == pytest.approx(expected_cost) and cost.reference_cost == pytest.approx(0.04)
    assert dict(cost.shares) == pytest.approx({m: 1 / 3 for m in PRICES})
    assert cost.n == 60 and "last 60 routed requests" in cost.basis
    page = preview.content.decode()
    assert 'data-preview="mean_cost">$0.015467' in page and "data-preview-share=\"mid-model\">33.3%" in page

    saved = staff_client.post("/console/tenants/pooled/", {"action": "threshold", "mode": "cost", "value": "0.02"})
    assert saved.status_code == 302
    assert Tenant.objects.get(slug="pooled").routing_threshold == pytest.approx(0.732)
    event = AuditEvent.objects.filter(action="threshold_changed").latest("pk")
    assert "target average cost $0.02 per request" in str(event.details)

    # a number previews its cost the same way: past σ(4) every request goes to the weak model
    number = staff_client.get("/console/tenants/pooled/?mode=number&value=0.99").context["preview"].cost
    assert number.mean_cost == pytest.approx(0.0004) and dict(number.shares)["weak-model"] == 1.0


def test_an_unreachable_target_cost_or_a_share_for_a_pool_is_a_clear_400(staff_client, pooled):
    low = staff_client.get("/console/tenants/pooled/?mode=cost&value=0.0001")
    assert low.status_code == 400 and "lowest reachable is $0.000400" in low.content.decode()
    share = staff_client.post("/console/tenants/pooled/", {"action": "threshold", "mode": "share", "value": "30"})
    assert share.status_code == 400 and "a strong-call share is a pair" in share.content.decode()
    assert Tenant.objects.get(slug="pooled").routing_threshold == 0.5  # nothing saved


def test_with_little_traffic_the_target_cost_is_read_off_the_pool_curve(staff_client, db):
    tenant = _pooled("fresh")
    _request(tenant, "strong-model")  # one answered request: the mean prompt it is priced at
    curve = {"threshold": [0.0, 0.5, 1.0], "cost": [0.04, 0.02, 0.001], "quality": [0.9, 0.85, 0.6]}
    version = RouterVersion.objects.create(kind=tenant.default_router_kind, metrics={"rb (pool of 3)": {
        "pool": list(PRICES), "n": 100, "curve": curve, "reference": {"max_cost": 0.04, "best_cost": 0.04,
                                                                        "best_quality": 0.9},
        "hull": {"cost": [0.001, 0.02, 0.04], "quality": [0.6, 0.85, 0.9]}, "aiq": 0.8, "random_mix_aiq": 0.7}})
    router_version_promote(version=version, via="test")
    cost = staff_client.get("/console/tenants/fresh/?mode=cost&value=0.02").context["preview"].cost
    # $0.02 is half of strong-model's $0.04 per request: the curve's half of its most expensive cost
    assert cost.threshold == 0.5 and cost.mean_cost == pytest.approx(0.02)
    assert cost.quality == pytest.approx(0.85) and "pool curve" in cost.basis and "rb (pool of 3)" in cost.quality_basis
    router_page = staff_client.get(f"/console/routers/{version.pk}/")
    assert router_page.status_code == 200 and "AIQ 0.800" in router_page.content.decode()


def test_a_pool_curve_over_other_models_is_not_read_for_this_pool(staff_client, db):
    tenant = _pooled("other")
    _request(tenant, "strong-model")
    version = RouterVersion.objects.create(kind=tenant.default_router_kind, metrics={"rb (pool of 11)": {
        "pool": ["strong-model", "weak-model", "gpt-3.5"], "n": 100,
        "curve": {"threshold": [0.0, 1.0], "cost": [0.04, 0.001], "quality": [0.9, 0.6]},
        "reference": {"max_cost": 0.04}}})
    router_version_promote(version=version, via="test")
    response = staff_client.get("/console/tenants/other/?mode=cost&value=0.02")
    assert response.status_code == 400
    assert "no pool curve over exactly these models" in response.content.decode()
    number = staff_client.get("/console/tenants/other/?mode=number&value=0.3")
    page = number.content.decode()
    assert number.status_code == 200 and 'data-preview="threshold">0.3000' in page  # the threshold, still shown
    assert "set a number instead" not in page


def test_a_pair_with_little_traffic_reads_its_evaluation_curve_for_a_target_cost(staff_client, seeded):
    # the seeded pair: 60 requests of 1000 + 1000 tokens, strong $0.04 and weak $0.0004 per request,
    # no stored scores; a strong share s costs 0.0004 + s × 0.0396, so $0.0202 is s = 0.5
    cost = staff_client.get("/console/tenants/acme/?mode=cost&value=0.0202").context["preview"].cost
    assert cost.strong_share == pytest.approx(0.5) and cost.threshold == pytest.approx(0.5)  # the curve's
    assert cost.mean_cost == pytest.approx(0.0202) and cost.quality == pytest.approx(0.8)
    assert "eval.jsonl" in cost.basis
