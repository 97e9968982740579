"""Writes for tenants, API keys and endpoints (HackSoft style: keyword-only, atomic)."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from routerhub.tenants.models import ApiKey, ModelEndpoint, Tenant

KEY_PREFIX = "rh-"


def api_key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


@transaction.atomic
def api_key_create(*, tenant: Tenant, name: str, raw_key: str | None = None) -> CreatedApiKey:
    """Create a key for `tenant`. `raw_key` lets deployments fix a known key (demo, scripts)."""
    raw_key = raw_key or KEY_PREFIX + secrets.token_urlsafe(32)
    if len(raw_key) < 20:
        raise ValueError("an API key must be at least 20 characters long")
    api_key = ApiKey.objects.create(tenant=tenant, name=name, prefix=raw_key[:10], key_hash=api_key_hash(raw_key))
    return CreatedApiKey(api_key=api_key, raw_key=raw_key)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    if api_key.revoked_at is None:
        api_key.revoked_at = timezone.now()
        api_key.save(update_fields=["revoked_at"])
    return api_key


# --- The demo: a staff user, a tenant with a key, and the canonical strong/weak pair.

DEMO_ENDPOINTS = (
    # name, USD per 1M input tokens, per 1M output tokens (list prices of the RouteLLM pair)
    ("gpt-4-1106-preview", Decimal("10"), Decimal("30")),
    ("mixtral-8x7b-instruct-v0.1", Decimal("0.24"), Decimal("0.24")),
)


@dataclass
class DemoSeedResult:
    created: list[str]
    admin_user: str
    admin_password: str | None  # set only when generated now (shown once)
    api_key: str | None  # set only when generated now (shown once)


@transaction.atomic
def demo_seed(*, upstream_base_url: str, admin_user: str, admin_password: str | None,
              demo_api_key: str | None) -> DemoSeedResult:
    """Idempotent: a second call creates nothing; passwords and keys given are made to match."""
    from django.contrib.auth import get_user_model

    created: list[str] = []
    endpoints = {}
    for name, price_in, price_out in DEMO_ENDPOINTS:
        endpoints[name], made = ModelEndpoint.objects.get_or_create(
            name=name, defaults={"upstream_model": name, "base_url": upstream_base_url,
                                 "input_price_per_mtok": price_in, "output_price_per_mtok": price_out,
                                 "timeout_s": 30.0, "max_retries": 1})
        if made:
            created.append(f"endpoint {name}")
    tenant, made = Tenant.objects.get_or_create(
        slug="demo", defaults={"name": "Demo tenant", "strong_model": endpoints[DEMO_ENDPOINTS[0][0]],
                               "weak_model": endpoints[DEMO_ENDPOINTS[1][0]]})
    if made:
        created.append("tenant demo")

    User = get_user_model()
    user = User.objects.filter(username=admin_user).first()
    generated_password = None
    if user is None:
        generated_password = None if admin_password else secrets.token_urlsafe(12)
        user = User.objects.create_superuser(username=admin_user, email="",
                                             password=admin_password or generated_password)
        created.append(f"staff user {admin_user}")
    elif admin_password and not user.check_password(admin_password):
        user.set_password(admin_password)
        user.save(update_fields=["password"])

    generated_key = None
    if demo_api_key:
        if not ApiKey.objects.filter(key_hash=api_key_hash(demo_api_key)).exists():
            api_key_create(tenant=tenant, name="demo", raw_key=demo_api_key)
            created.append("demo API key")
    elif not tenant.api_keys.filter(revoked_at__isnull=True).exists():
        generated_key = api_key_create(tenant=tenant, name="demo").raw_key
        created.append("demo API key")
    return DemoSeedResult(created=created, admin_user=admin_user,
                          admin_password=generated_password, api_key=generated_key)
