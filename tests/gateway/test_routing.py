"""Routing a request as plain function calls (no HTTP, no upstream): `route_target_resolve` and
`route` with a real embedder, a real MF version in the registry and the tenant's pair."""
from __future__ import annotations

import pytest

from routerhub.errors import ApiError
from routerhub.gateway import routing
from routerhub.gateway.registry import registry
from tests.support.gateway import EASY, HARD, train_mf_version
from tests.support.tenants import make_tenant

pytestmark = pytest.mark.django_db

UNUSED_UPSTREAM = "http://127.0.0.1:9/v1"  # nothing is called: routing only decides


@pytest.fixture
def tenant():
    registry.reload()
    return make_tenant("acme", UNUSED_UPSTREAM, default_router_kind="mf", routing_threshold=0.5)


def decide(tenant, prompt: str, model: str = "router") -> routing.Decision:
    target = routing.route_target_resolve(model=model, tenant=tenant)
    return routing.route(target=target, tenant=tenant, routed_prompt=prompt)


def test_the_router_sends_hard_prompts_to_the_strong_model_and_easy_ones_to_the_weak(tenant):
    version = train_mf_version()
    registry.reload()
    hard, easy = decide(tenant, HARD[0]), decide(tenant, EASY[0])
    assert (hard.chosen.name, hard.other.name) == ("strong-model", "weak-model")
    assert (easy.chosen.name, easy.other.name) == ("weak-model", "strong-model")
    assert hard.win_rate > 0.5 > easy.win_rate and hard.router_label == f"mf:v{version.pk}"
    assert ">= threshold 0.5" in hard.reason and "< threshold 0.5" in easy.reason
    assert hard.embedding.shape == (384,)


def test_the_threshold_decides_exactly_as_routellm(tenant):
    train_mf_version()
    registry.reload()
    win_rate = decide(tenant, HARD[1]).win_rate
    at = decide(tenant, HARD[1], model=f"router-mf-{win_rate!r}")  # P(strong wins) >= threshold: strong
    above = decide(tenant, HARD[1], model=f"router-mf-{min(1.0, win_rate + 1e-6)!r}")
    assert at.chosen.name == "strong-model" and above.chosen.name == "weak-model"


def test_without_a_version_or_with_an_unknown_pair_the_strong_model_answers(tenant):
    none = decide(tenant, HARD[0])
    assert none.chosen.name == "strong-model" and none.win_rate is None and "no active mf" in none.reason
    train_mf_version()
    registry.reload()
    tenant.weak_model.name = "never-seen-model"
    tenant.weak_model.save()
    unknown = decide(tenant, EASY[0])
    assert unknown.chosen.name == "strong-model" and "has not seen" in unknown.reason


def test_random_needs_no_version_and_a_model_name_is_not_routed(tenant):
    assert decide(tenant, EASY[0], model="router-random-0.5").router_label == "random"
    plain = decide(tenant, EASY[0], model="weak-model")
    assert plain.chosen.name == "weak-model" and plain.other is None and plain.kind == ""


@pytest.mark.parametrize("model, code", [("router-knn-0.5", "invalid_router"), ("router-mf-2", "invalid_router"),
                                         ("router-mf-x", "invalid_router"), ("gpt-9", "model_not_found")])
def test_bad_model_names_are_client_errors(tenant, model, code):
    with pytest.raises(ApiError) as raised:
        routing.route_target_resolve(model=model, tenant=tenant)
    assert raised.value.get_codes() == code or raised.value.detail.code == code


def test_a_pair_keeps_the_strong_model_first_whatever_the_prices(tenant):
    """A pair's threshold means P(strong wins), even when the strong model is the cheaper one."""
    from decimal import Decimal

    train_mf_version()
    registry.reload()
    strong = tenant.strong_model
    strong.input_price_per_mtok = strong.output_price_per_mtok = Decimal("0")  # e.g. self-hosted
    strong.save()
    hard, easy = decide(tenant, HARD[0]), decide(tenant, EASY[0])
    assert hard.chosen.name == "strong-model" and hard.win_rate > 0.5
    assert easy.chosen.name == "weak-model" and easy.win_rate < 0.5
