"""Reads for tenants and API keys."""
from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from routerhub.tenants.models import ApiKey
from routerhub.tenants.services import api_key_hash

# last_used is written at most this often per key, so authentication stays one read per request.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_authenticate(*, raw_key: str) -> ApiKey | None:
    """The active key with this secret on an active tenant, or None."""
    if not raw_key:
        return None
    api_key = (
        ApiKey.objects.select_related("tenant", "tenant__strong_model", "tenant__weak_model")
        .filter(key_hash=api_key_hash(raw_key), revoked_at__isnull=True, tenant__active=True)
        .first()
    )
    if api_key is not None:
        now = timezone.now()
        if api_key.last_used is None or now - api_key.last_used > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=api_key.pk).update(last_used=now)
            api_key.last_used = now
    return api_key
