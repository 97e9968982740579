"""Structured logs (issue 14): one JSON object per line, and every line of a gateway request carries
the request id the response returns (and its log row has)."""
from __future__ import annotations

import json
import logging

import pytest

from routerhub.logs import RequestIdFilter, request_id_set


def _json_formatter() -> logging.Formatter:
    from django.conf import settings
    from django.utils.module_loading import import_string

    spec = dict(settings.LOGGING["formatters"]["json"])
    spec["fmt"] = spec.pop("format")  # what logging.config does for a formatter factory
    return import_string(spec.pop("()"))(**spec)


def test_a_line_is_one_json_object_with_the_request_id():
    record = logging.LogRecord("routerhub.gateway", logging.WARNING, __file__, 1, "upstream failed: %s", ("boom",),
                               None)
    token = request_id_set("abc-123")
    try:
        RequestIdFilter().filter(record)
    finally:
        from routerhub.logs import request_id
        request_id.reset(token)
    line = json.loads(_json_formatter().format(record))
    assert line["message"] == "upstream failed: boom" and line["request_id"] == "abc-123"
    assert line["level"] == "WARNING" and line["logger"] == "routerhub.gateway" and "time" in line


@pytest.mark.django_db(transaction=True)
def test_every_line_of_a_gateway_request_carries_its_id(gateway, caplog):
    """The strong model fails and the weak one answers: the warning logged in the request carries
    the request's id."""
    import httpx
    root = gateway.sim.removesuffix("/v1")
    httpx.post(root + "/_sim/config", json={"fail_models": ["strong-model"], "fail_status": 500})
    caplog.handler.addFilter(RequestIdFilter())
    with caplog.at_level(logging.WARNING):
        raw = gateway.client.chat.completions.with_raw_response.create(
            model="router", messages=[{"role": "user", "content": "hi"}])
    request_lines = [r for r in caplog.records if r.name == "routerhub.tenants.upstream"]
    assert raw.headers["x-routerhub-model"] == "weak-model"
    assert request_lines and all(r.request_id == raw.headers["x-routerhub-request-id"] for r in request_lines)
