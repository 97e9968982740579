"""DRF authentication by tenant API key: `Authorization: Bearer <key>`."""
from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from rest_framework import authentication, exceptions

from routerhub.tenants.selectors import api_key_authenticate


class TenantPrincipal:
    """What `request.user` is for API calls: the tenant behind a key."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, api_key):
        self.api_key = api_key
        self.tenant = api_key.tenant

    def __str__(self) -> str:
        return f"tenant:{self.tenant.slug}"


class TenantApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw_key = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not raw_key.strip():
            raise exceptions.AuthenticationFailed("Malformed Authorization header: expected 'Bearer <api key>'.")
        api_key = api_key_authenticate(raw_key=raw_key.strip())
        if api_key is None:
            raise exceptions.AuthenticationFailed("Incorrect or revoked API key provided.")
        return TenantPrincipal(api_key), api_key

    def authenticate_header(self, request) -> str:
        return self.keyword


class TenantApiKeyScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes tenant API keys."""

    target_class = "routerhub.tenants.authentication.TenantApiKeyAuthentication"
    name = "tenantApiKey"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer")
