"""Reads for the gateway."""
from __future__ import annotations

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
