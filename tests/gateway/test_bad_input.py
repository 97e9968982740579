"""Bad requests: each a 4xx with an OpenAI-style error body, logged as a client error, nothing else written."""
from __future__ import annotations

import json

import httpx
import openai
import pytest

from routerhub.gateway.models import RoutedRequest

USER = [{"role": "user", "content": "hello"}]

CASES = {
    "invalid json": (b'{"model": "router", "messages": [', 400, "invalid_json", None),
    "not an object": (b'["router"]', 400, "invalid_json", None),
    "no messages": ({"model": "router"}, 400, "invalid_messages", "messages"),
    "empty messages": ({"model": "router", "messages": []}, 400, "invalid_messages", "messages"),
    "message without role": ({"model": "router", "messages": [{"content": "hi"}]}, 400, "invalid_messages",
                             "messages[0].role"),
    "message without content": ({"model": "router", "messages": [{"role": "user"}]}, 400, "invalid_messages",
                                "messages[0].content"),
    "message not an object": ({"model": "router", "messages": ["hi"]}, 400, "invalid_messages", "messages[0]"),
    "no model": ({"messages": USER}, 400, "missing_model", "model"),
    "unknown model": ({"model": "gpt-17", "messages": USER}, 404, "model_not_found", "model"),
    "unknown router kind": ({"model": "router-knn-0.5", "messages": USER}, 400, "invalid_router", "model"),
    "threshold above 1": ({"model": "router-mf-1.5", "messages": USER}, 400, "invalid_router", "model"),
    "threshold below 0": ({"model": "router-mf--0.1", "messages": USER}, 400, "invalid_router", "model"),
    "threshold not a number": ({"model": "router-mf-abc", "messages": USER}, 400, "invalid_router", "model"),
    "threshold nan": ({"model": "router-mf-nan", "messages": USER}, 400, "invalid_router", "model"),
    "n > 1": ({"model": "router", "messages": USER, "n": 2}, 400, "unsupported_parameter", "n"),
    "stream not a boolean": ({"model": "router", "messages": USER, "stream": "yes"}, 400, "invalid_request",
                             "stream"),
    "body over 1 MB": ({"model": "router", "messages": [{"role": "user", "content": "x" * 1_100_000}]}, 413,
                       "request_too_large", None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_request_gets_openai_error_and_one_log_row(gateway, case):
    body, status, code, param = CASES[case]
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(gateway.url + "/chat/completions", content=content,
                          headers={"Authorization": f"Bearer {gateway.key}", "Content-Type": "application/json"})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "code"} and error["message"]
    assert error["code"] == code and error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param
    rows = list(RoutedRequest.objects.all())
    assert len(rows) == 1
    row = rows[0]
    assert str(row.id) == response.headers["x-routerhub-request-id"]
    assert row.status == RoutedRequest.Status.CLIENT_ERROR and row.http_status == status
    assert row.tenant_id == gateway.tenant.pk and row.error and row.served_model == "" and row.answer == ""
    calls = httpx.get(gateway.sim.removesuffix("/v1") + "/_sim/stats").json()["calls"]
    assert sum(calls.values()) == 0  # nothing reached an upstream


def test_bad_request_through_the_official_client(gateway):
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client.chat.completions.create(model="router", messages=USER, n=3)
    assert "n > 1 is not supported" in caught.value.message
    with pytest.raises(openai.NotFoundError):
        gateway.client.chat.completions.create(model="no-such-model", messages=USER)
