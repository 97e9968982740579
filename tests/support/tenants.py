"""Tenants with real endpoints: on the simulated upstream, or on the fixtures' model pair."""
from __future__ import annotations

from decimal import Decimal

from routerhub.tenants.models import ModelEndpoint, Tenant


def make_tenant(slug: str, sim: str, **fields) -> Tenant:
    """A tenant whose strong and weak endpoints are the simulated upstream at `sim`."""
    strong, _ = ModelEndpoint.objects.update_or_create(
        name="strong-model", defaults=dict(upstream_model="strong-model", base_url=sim, timeout_s=5, max_retries=0,
                                           input_price_per_mtok=Decimal("10"), output_price_per_mtok=Decimal("30")))
    weak, _ = ModelEndpoint.objects.update_or_create(
        name="weak-model", defaults=dict(upstream_model="weak-model", base_url=sim, timeout_s=5, max_retries=0,
                                         input_price_per_mtok=Decimal("0.2"), output_price_per_mtok=Decimal("0.6")))
    return Tenant.objects.create(slug=slug, name=slug, strong_model=strong, weak_model=weak, **fields)


def pair_tenant(slug: str) -> Tenant:
    """A tenant whose pair is the fixtures' models (tests/fixtures/scores_*.jsonl), on no upstream."""
    strong, _ = ModelEndpoint.objects.get_or_create(name="gpt-4-1106-preview", defaults=dict(
        upstream_model="gpt-4", base_url="http://127.0.0.1:9/v1", input_price_per_mtok=Decimal("10")))
    weak, _ = ModelEndpoint.objects.get_or_create(name="mixtral-8x7b-instruct-v0.1", defaults=dict(
        upstream_model="mixtral", base_url="http://127.0.0.1:9/v1", input_price_per_mtok=Decimal("0.6")))
    return Tenant.objects.create(slug=slug, name=slug, strong_model=strong, weak_model=weak)
