"""Bounded database waits (issue 13): a statement that waits past the statement timeout is a 503 in
OpenAI JSON, and nothing of the request is half-written."""
from __future__ import annotations

import psycopg
import pytest
from django.db import connection

from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.models import ApiKey
from routerhub.tenants.services import api_key_create
from tests.support.factories import TenantFactory
from tests.support.processes import child_database_url

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_statement_past_the_timeout_is_a_503_and_writes_nothing(client):
    tenant = TenantFactory(slug="acme")
    created = api_key_create(tenant=tenant, name="k")
    # another session holds the key's row, so the request's first write (the key's last use) waits
    with psycopg.connect(child_database_url().replace("postgres://", "postgresql://", 1)) as holder:
        holder.execute("BEGIN")
        holder.execute("SELECT 1 FROM tenants_apikey WHERE id = %s FOR UPDATE", [created.api_key.pk])
        with connection.cursor() as cursor:  # what ROUTERHUB_DB_STATEMENT_TIMEOUT_MS does, for this session
            cursor.execute("SET statement_timeout = 300")
        try:
            response = client.post("/v1/chat/completions", {"model": "router", "messages": [
                {"role": "user", "content": "hi"}]}, content_type="application/json",
                HTTP_AUTHORIZATION=f"Bearer {created.raw_key}")
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET statement_timeout = 0")
        holder.execute("ROLLBACK")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "service_unavailable"
    assert not RoutedRequest.objects.exists() and ApiKey.objects.get().last_used is None  # nothing half-written
