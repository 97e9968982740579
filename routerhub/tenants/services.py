"""Writes for tenants, API keys and endpoints (HackSoft style: keyword-only, atomic)."""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from routerhub.audit.services import Action, audit_record
from routerhub.tenants.models import ApiKey, ModelEndpoint, Tenant

KEY_PREFIX = "rh-"


def api_key_hash(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


@dataclass(frozen=True)
class CreatedApiKey:
    api_key: ApiKey
    raw_key: str  # shown once, never stored


class TenantSettingsError(ValueError):
    """A change of a tenant's settings or keys that is refused; nothing was changed."""


@transaction.atomic
def api_key_create(*, tenant: Tenant, name: str, raw_key: str | None = None, actor=None,
                   via: str = "") -> CreatedApiKey:
    """Create a key for `tenant` (audited when a person, `actor`, or a tool, `via`, asks). `raw_key`
    lets deployments fix a known key (demo, scripts)."""
    if not name.strip():
        raise TenantSettingsError("Give the key a name (who or what uses it).")
    raw_key = raw_key or KEY_PREFIX + secrets.token_urlsafe(32)
    if len(raw_key) < 20:
        raise ValueError("an API key must be at least 20 characters long")
    api_key = ApiKey.objects.create(tenant=tenant, name=name.strip()[:128], prefix=raw_key[:10],
                                    key_hash=api_key_hash(raw_key))
    if actor is not None or via:
        audit_record(actor=actor, via=via, action=Action.KEY_CREATED, tenant=tenant,
                     summary=f"{tenant.slug}: key {api_key.prefix}… ({api_key.name}) created",
                     details={"key": api_key.pk})
    return CreatedApiKey(api_key=api_key, raw_key=raw_key)


@transaction.atomic
def api_key_revoke(*, api_key: ApiKey, actor=None, via: str = "") -> ApiKey:
    if api_key.revoked_at is not None:
        return api_key
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])
    audit_record(actor=actor, via=via, action=Action.KEY_REVOKED, tenant=api_key.tenant,
                 summary=f"{api_key.tenant.slug}: key {api_key.prefix}… ({api_key.name}) revoked",
                 details={"key": api_key.pk})
    return api_key


TENANT_FIELDS = ("default_router_kind", "duel_rate", "duel_selection", "duel_budget_usd_per_day", "strong_model",
                 "weak_model", "judge_model", "pool", "rate_limit_rpm", "rate_limit_tpm", "monthly_budget_usd",
                 "budget_action", "active")


@transaction.atomic
def tenant_threshold_set(*, tenant: Tenant, threshold: float, actor=None, via: str = "", how: str = "number",
                         details: dict | None = None) -> Tenant:
    """Set the routing threshold (web processes pick it up within ROUTERHUB_AUTH_CACHE_S)."""
    if not 0.0 <= threshold <= 1.0:
        raise TenantSettingsError("A threshold is a number in [0, 1].")
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    before = tenant.routing_threshold
    tenant.routing_threshold = float(threshold)
    tenant.save(update_fields=["routing_threshold", "updated"])
    audit_record(actor=actor, via=via, action=Action.THRESHOLD_CHANGED, tenant=tenant,
          summary=f"{tenant.slug}: threshold {before:.4f} → {threshold:.4f} ({how})",
          details={"before": before, "after": threshold, "how": how, **(details or {})})
    return tenant


@transaction.atomic
def tenant_settings_update(*, tenant: Tenant, actor=None, via: str = "", **fields) -> Tenant:
    """Router kind, duel rate, strong / weak / judge model, the pool, active: only what changed is
    audited. A pool is two or more models (or none: the pair)."""
    unknown = set(fields) - set(TENANT_FIELDS)
    if unknown:
        raise TenantSettingsError(f"Not a tenant setting: {', '.join(sorted(unknown))}.")
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    changed = {}
    if "pool" in fields:
        pool = sorted({endpoint.pk: endpoint for endpoint in fields.pop("pool") or []}.values(), key=lambda e: e.name)
        if len(pool) == 1:
            raise TenantSettingsError("A pool is two or more models; leave it empty to route the strong/weak pair.")
        before = sorted(tenant.pool.values_list("name", flat=True))
        if before != [endpoint.name for endpoint in pool]:
            changed["pool"] = (", ".join(before) or "(the pair)", ", ".join(e.name for e in pool) or "(the pair)")
            tenant.pool.set(pool)
    for name, value in fields.items():
        if getattr(tenant, name) != value:
            changed[name] = (str(getattr(tenant, name)), str(value))
            setattr(tenant, name, value)
    if (fields.get("strong_model") or tenant.strong_model) == (fields.get("weak_model") or tenant.weak_model):
        raise TenantSettingsError("The strong and the weak model must differ.")
    if not changed:
        return tenant
    tenant.full_clean()
    tenant.save()
    audit_record(actor=actor, via=via, action=Action.TENANT_UPDATED, tenant=tenant,
          summary=f"{tenant.slug}: " + ", ".join(f"{k} {a} → {b}" for k, (a, b) in changed.items()),
          details={k: {"before": a, "after": b} for k, (a, b) in changed.items()})
    return tenant




# --- The demo: a staff user, a tenant with a key, and the canonical strong/weak pair.

DEMO_EMBEDDING_MODEL = "text-embedding-3-small"
DEMO_CLASSIFIER_MODEL = "routellm-classifier"
DEMO_ENDPOINTS = (
    # name, USD per 1M input tokens, per 1M output tokens (list prices of the RouteLLM pair, and of
    # a third RouterBench model: the demo tenant's pool is all three)
    ("gpt-4-1106-preview", Decimal("10"), Decimal("30")),
    ("mixtral-8x7b-instruct-v0.1", Decimal("0.24"), Decimal("0.24")),
    ("zero-one-ai/yi-34b-chat", Decimal("0.8"), Decimal("0.8")),
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
    # an embedding model for `/v1/embeddings` (the simulated upstream embeds too); not in the pool
    _, made = ModelEndpoint.objects.get_or_create(
        name=DEMO_EMBEDDING_MODEL, defaults={"upstream_model": DEMO_EMBEDDING_MODEL, "base_url": upstream_base_url,
                                             "input_price_per_mtok": Decimal("0.02"), "timeout_s": 30.0,
                                             "max_retries": 1})
    if made:
        created.append(f"endpoint {DEMO_EMBEDDING_MODEL}")
    # the causal-LLM router's classifier (the simulated upstream's stand-in for RouteLLM's fine-tuned
    # Llama-3-8B); not in the pool; ROUTERHUB_CAUSAL_LLM_ENDPOINT=routellm-classifier puts it to use
    _, made = ModelEndpoint.objects.get_or_create(
        name=DEMO_CLASSIFIER_MODEL, defaults={"upstream_model": DEMO_CLASSIFIER_MODEL, "base_url": upstream_base_url,
                                              "timeout_s": 5.0, "max_retries": 0})
    if made:
        created.append(f"endpoint {DEMO_CLASSIFIER_MODEL}")
    tenant, made = Tenant.objects.get_or_create(
        slug="demo", defaults={"name": "Demo tenant", "strong_model": endpoints[DEMO_ENDPOINTS[0][0]],
                               "weak_model": endpoints[DEMO_ENDPOINTS[1][0]]})
    if made:
        created.append("tenant demo")
        tenant.pool.set(endpoints.values())

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
