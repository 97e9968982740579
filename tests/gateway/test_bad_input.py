"""Input the gateway cannot store or forward (issue 13): each is a 4xx with an OpenAI-style JSON
body and one `client_error` log row holding what can be stored, before any upstream call."""
from __future__ import annotations

import json

import httpx
import pytest

from routerhub.gateway.models import RoutedRequest

pytestmark = pytest.mark.django_db(transaction=True)

CHAT = {"model": "router", "messages": [{"role": "user", "content": "hello"}]}


def post_raw(gateway, raw: str | bytes, **headers) -> httpx.Response:
    return httpx.post(gateway.url + "/chat/completions", content=raw, timeout=30,
                      headers={"Authorization": f"Bearer {gateway.key}", "Content-Type": "application/json",
                               **headers})


def upstream_calls(gateway) -> int:
    stats = httpx.get(gateway.sim.removesuffix("/v1") + "/_sim/stats").json()
    return sum(stats["calls"].values())


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# (raw JSON body, status, code, param): every one is refused before the upstream is called
CASES = {
    "NUL in content": ('{"model": "router", "messages": [{"role": "user", "content": "a\\u0000b"}]}', 400,
                       "invalid_characters", "messages[0].content"),
    "NUL in model": ('{"model": "rou\\u0000ter", "messages": [{"role": "user", "content": "hi"}]}', 400,
                     "invalid_characters", "model"),
    "lone surrogate in content": ('{"model": "router", "messages": [{"role": "user", "content": "x\\ud800y"}]}',
                                  400, "invalid_characters", "messages[0].content"),
    "lone surrogate in model": ('{"model": "\\udfff", "messages": [{"role": "user", "content": "hi"}]}', 400,
                                "invalid_characters", "model"),
    "deep JSON in content": ('{"model": "router", "messages": [{"role": "user", "content": ' + nested(5000) + '}]}',
                             400, "nested_too_deeply", None),
    "deep JSON in a pass-through field": ('{"model": "router", "metadata": ' + nested(100) +
                                          ', "messages": [{"role": "user", "content": "hi"}]}', 400,
                                          "nested_too_deeply", "metadata"),
    "temperature NaN": ('{"model": "router", "temperature": NaN, "messages": [{"role": "user", "content": "hi"}]}',
                        400, "invalid_json", None),
    "temperature Infinity": ('{"model": "router", "temperature": -Infinity, "messages": [{"role": "user", '
                             '"content": "hi"}]}', 400, "invalid_json", None),
    "a number too large for a float": ('{"model": "router", "top_p": 1e400, "messages": [{"role": "user", '
                                       '"content": "hi"}]}', 400, "invalid_number", "top_p"),
    "junk content parts": ('{"model": "router", "messages": [{"role": "user", "content": [1, null, {"text": 5}]}]}',
                           400, "invalid_messages", "messages[0].content[0]"),
    "a text part without text": ('{"model": "router", "messages": [{"role": "user", "content": [{"type": "text", '
                                 '"text": 5}]}]}', 400, "invalid_messages", "messages[0].content[0].text"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_unstorable_input_is_a_400_with_a_log_row_and_no_upstream_call(gateway, case):
    raw, status, code, param = CASES[case]
    before = upstream_calls(gateway)
    response = post_raw(gateway, raw)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["error"]
    assert error["code"] == code and error["param"] == param and error["type"] == "invalid_request_error"
    row = RoutedRequest.objects.get(pk=response.headers["x-routerhub-request-id"])
    assert row.status == "client_error" and row.http_status == status and row.error
    assert upstream_calls(gateway) == before  # refused before any upstream call
    if case.startswith(("NUL", "lone")):  # stored with the offending character replaced
        stored = row.requested_model if case.endswith("model") else row.messages[0]["content"]
        assert "\ufffd" in stored and "\x00" not in stored


def test_the_next_request_works_after_each_refusal(gateway, mf_version):
    for raw, *_ in CASES.values():
        post_raw(gateway, raw)
    assert post_raw(gateway, json.dumps(CHAT)).status_code == 200
    assert RoutedRequest.objects.filter(status="client_error").count() == len(CASES)


@pytest.mark.parametrize("path", ["/requests/not-a-uuid", "/nothing-here", "/chat/completions/extra"])
def test_unknown_api_paths_are_openai_json_404s(gateway, path):
    response = httpx.get(gateway.url + path, headers={"Authorization": f"Bearer {gateway.key}"})
    assert response.status_code == 404 and response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["type"] == "not_found_error"


def test_oversized_headers_are_a_431_in_json(gateway):
    response = httpx.post(gateway.url + "/chat/completions", json=CHAT, timeout=30,
                          headers={"Authorization": f"Bearer {gateway.key}", "X-Padding": "p" * 17_000})
    assert response.status_code == 431 and response.json()["error"]["code"] == "request_headers_too_large"
    assert httpx.get(gateway.url + "/models", headers={"Authorization": f"Bearer {gateway.key}"}).status_code == 200


def test_a_wrong_method_is_a_405_in_json(gateway):
    response = httpx.get(gateway.url + "/chat/completions", headers={"Authorization": f"Bearer {gateway.key}"})
    assert response.status_code == 405 and response.json()["error"]["type"] == "invalid_request_error"
