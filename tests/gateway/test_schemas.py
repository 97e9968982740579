"""The OpenAPI description of the gateway (drf-spectacular)."""
from __future__ import annotations

import httpx


def test_openapi_schema_describes_the_gateway(gateway):
    schema = httpx.get(gateway.url.removesuffix("/v1") + "/api/schema/", params={"format": "json"}).json()
    operation = schema["paths"]["/v1/chat/completions"]["post"]
    assert "router-<kind>-<threshold>" in operation["description"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"model", "messages"} <= set(schema["components"]["schemas"][request]["required"])
    assert "/v1/models" in schema["paths"]


def test_openapi_schema_is_valid_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "/v1/chat/completions" in (tmp_path / "schema.yml").read_text()
