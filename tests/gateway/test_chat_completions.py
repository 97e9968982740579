"""`POST /v1/chat/completions` through the official openai client, against the simulated upstream."""
from __future__ import annotations

from decimal import Decimal

import httpx
import openai
import pytest

from routerhub.embeddings.models import EmbeddingCacheEntry
from routerhub.embeddings.services import cache_writer
from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.services import api_key_create, api_key_revoke
from tests.support.gateway import EASY, HARD
from tests.support.tenants import make_tenant
from training.core.embeddings import text_sha256

Status = RoutedRequest.Status


def ask(client, model: str, prompt: str, **kwargs):
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": prompt}], **kwargs)
    return raw, raw.parse()


def row_of(raw) -> RoutedRequest:
    return RoutedRequest.objects.get(pk=raw.headers["x-routerhub-request-id"])


def assert_complete_row(row: RoutedRequest, *, tenant, served: str, status=Status.OK):
    assert row.tenant_id == tenant.pk and row.api_key_id is not None
    assert row.status == status and row.http_status == 200
    assert row.served_model == served and row.answer
    assert row.prompt_tokens > 0 and row.completion_tokens > 0
    assert row.cost > 0
    assert row.messages and row.routed_prompt
    assert row.upstream_latency_ms is not None and row.upstream_latency_ms > 0
    assert row.routing_latency_ms is not None and row.routing_latency_ms > 0


def test_routes_hard_prompt_to_strong_and_small_talk_to_weak(gateway, mf_version):
    raw, completion = ask(gateway.client, "router", HARD[0])
    assert raw.headers["x-routerhub-model"] == "strong-model" == completion.model
    assert completion.choices[0].message.content.startswith("[strong-model]")
    assert raw.headers["x-routerhub-router"] == f"mf:v{mf_version.pk}"
    hard_rate = float(raw.headers["x-routerhub-win-rate"])
    row = row_of(raw)
    assert_complete_row(row, tenant=gateway.tenant, served="strong-model")
    assert row.router_kind == "mf" and row.router_version_id == mf_version.pk
    assert row.win_rate == pytest.approx(hard_rate, abs=1e-6) and row.threshold == 0.5
    assert row.chosen_model == "strong-model" and not row.fallback
    assert row.embedding is not None and len(row.embedding) == 384
    assert row.routed_prompt == HARD[0]
    cache_writer.flush()  # the cache is written in batches, off the request path
    assert EmbeddingCacheEntry.objects.filter(text_sha256=text_sha256(HARD[0])).exists()  # cached for training
    # cost from the endpoint's prices: 10 $/Mtok in, 30 $/Mtok out
    expected = (Decimal(10) * row.prompt_tokens + Decimal(30) * row.completion_tokens) / Decimal(1_000_000)
    assert row.cost == expected.quantize(Decimal("0.00000001"))

    raw, completion = ask(gateway.client, "router", EASY[0])
    assert raw.headers["x-routerhub-model"] == "weak-model" == completion.model
    assert float(raw.headers["x-routerhub-win-rate"]) < 0.5 < hard_rate
    assert_complete_row(row_of(raw), tenant=gateway.tenant, served="weak-model")


def test_threshold_in_the_model_name_decides(gateway, mf_version):
    raw, _ = ask(gateway.client, "router-mf-0.5", "Explain the Pythagorean theorem.")
    rate = float(raw.headers["x-routerhub-win-rate"])
    below, above = max(rate - 0.01, 0.0), min(rate + 0.01, 1.0)
    raw, completion = ask(gateway.client, f"router-mf-{below:.5f}", "Explain the Pythagorean theorem.")
    assert completion.model == "strong-model"  # win rate >= threshold
    assert row_of(raw).threshold == pytest.approx(float(f"{below:.5f}"))
    raw, completion = ask(gateway.client, f"router-mf-{above:.5f}", "Explain the Pythagorean theorem.")
    assert completion.model == "weak-model"
    assert ask(gateway.client, "router-mf-0", "Hi")[1].model == "strong-model"
    assert ask(gateway.client, "router-mf-1", HARD[1])[1].model == "weak-model"


def test_passthrough_model_is_proxied_and_logged(gateway, mf_version):
    raw, completion = ask(gateway.client, "weak-model", HARD[0], temperature=0.2, max_tokens=5, seed=3,
                          stop=["\n"], user="u-1")
    assert completion.model == "weak-model"
    assert completion.choices[0].finish_reason == "length"  # max_tokens reached the upstream
    assert completion.usage.completion_tokens == 5
    row = row_of(raw)
    assert row.router_kind == "" and row.win_rate is None and row.served_model == "weak-model"
    assert "x-routerhub-win-rate" not in raw.headers and raw.headers["x-routerhub-router"] == "none"
    assert_complete_row(row, tenant=gateway.tenant, served="weak-model")


def test_no_active_router_answers_with_strong_and_says_why(gateway):
    raw, completion = ask(gateway.client, "router-sw-0.5", EASY[0])
    assert completion.model == "strong-model"
    row = row_of(raw)
    assert row.status == Status.OK and "no active sw router" in row.routing_reason


def test_random_router_needs_no_version(gateway):
    models = {ask(gateway.client, "router-random-0.5", f"question {i}")[1].model for i in range(12)}
    assert models == {"strong-model", "weak-model"}


def test_fallback_when_chosen_model_fails(gateway, mf_version):
    httpx.post(gateway.sim.removesuffix("/v1") + "/_sim/config", json={"fail_models": ["weak-model"]})
    raw, completion = ask(gateway.client, "router", EASY[0])
    assert completion.model == "strong-model" and raw.headers["x-routerhub-model"] == "strong-model"
    row = row_of(raw)
    assert row.chosen_model == "weak-model" and row.served_model == "strong-model"
    assert row.fallback and row.status == Status.FALLBACK and "weak-model: HTTP 500" in row.error
    assert_complete_row(row, tenant=gateway.tenant, served="strong-model", status=Status.FALLBACK)


def test_both_failing_is_502_and_logged(gateway, mf_version):
    httpx.post(gateway.sim.removesuffix("/v1") + "/_sim/config", json={"fail_models": ["weak-model", "strong-model"]})
    with pytest.raises(openai.InternalServerError) as caught:
        gateway.client.chat.completions.create(model="router", messages=[{"role": "user", "content": HARD[0]}])
    error = caught.value
    assert error.status_code == 502
    body = error.response.json()["error"]
    assert body["type"] == "upstream_error" and body["code"] == "upstream_unavailable"
    row = RoutedRequest.objects.get(pk=error.response.headers["x-routerhub-request-id"])
    assert row.status == Status.UPSTREAM_ERROR and row.http_status == 502 and row.served_model == ""
    assert "strong-model" in row.error and "weak-model" in row.error and row.routed_prompt == HARD[0]


def test_upstream_4xx_is_passed_back_without_fallback(gateway, mf_version):
    httpx.post(gateway.sim.removesuffix("/v1") + "/_sim/config", json={"fail_models": ["strong-model"],
                                                                        "fail_status": 400})
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client.chat.completions.create(model="strong-model", messages=[{"role": "user", "content": "x"}])
    assert "simulated upstream failure" in caught.value.response.json()["error"]["message"]
    row = RoutedRequest.objects.get(pk=caught.value.response.headers["x-routerhub-request-id"])
    assert row.status == Status.CLIENT_ERROR and row.http_status == 400 and not row.fallback
    stats = httpx.get(gateway.sim.removesuffix("/v1") + "/_sim/stats").json()
    assert stats["calls"].get("weak-model", 0) == 0


def test_streaming_relays_chunks_and_logs_the_whole_answer(gateway, mf_version):
    raw = gateway.client.chat.completions.with_raw_response.create(
        model="router", messages=[{"role": "user", "content": HARD[2]}], stream=True)
    assert raw.headers["content-type"].startswith("text/event-stream")
    chunks = list(raw.parse())
    assert len(chunks) > 3 and all(chunk.model == "strong-model" for chunk in chunks)
    assert all(chunk.choices for chunk in chunks)  # no usage-only chunk: the client did not ask for one
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    row = row_of(raw)
    assert row.stream and row.answer == text and text.startswith("[strong-model]")
    assert_complete_row(row, tenant=gateway.tenant, served="strong-model")
    non_stream = gateway.client.chat.completions.create(model="strong-model",
                                                        messages=[{"role": "user", "content": HARD[2]}])
    assert non_stream.choices[0].message.content == text
    assert row.completion_tokens == non_stream.usage.completion_tokens  # usage from the upstream, exact


def test_streaming_with_usage_requested(gateway, mf_version):
    stream = gateway.client.chat.completions.create(model="router", messages=[{"role": "user", "content": EASY[1]}],
                                                    stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0 and chunks[-1].choices == []


def test_streaming_client_disconnect_is_recorded(gateway, mf_version):
    httpx.post(gateway.sim.removesuffix("/v1") + "/_sim/config", json={"chunk_delay_ms": 100})
    with httpx.stream("POST", gateway.url + "/chat/completions", headers={"Authorization": f"Bearer {gateway.key}"},
                      json={"model": "router", "stream": True,
                            "messages": [{"role": "user", "content": HARD[3]}]}) as response:
        request_id = response.headers["x-routerhub-request-id"]
        lines = response.iter_lines()
        assert next(lines).startswith("data: ")
    # the server notices on its next write, then writes the row
    row = _wait_for_row(request_id)
    assert row.status == Status.CLIENT_DISCONNECTED and row.stream and row.served_model == "strong-model"
    assert row.answer.startswith("[strong-model]")


def _wait_for_row(request_id, timeout=10.0) -> RoutedRequest:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = RoutedRequest.objects.filter(pk=request_id).first()
        if row is not None:
            return row
        time.sleep(0.05)
    raise AssertionError(f"no RoutedRequest {request_id} after {timeout}s")


def test_models_list_through_the_client(gateway):
    names = {model.id for model in gateway.client.models.list()}
    assert {"router", "router-mf-0.5", "router-sw-0.5", "strong-model", "weak-model"} <= names


def test_auth_failures_are_401_and_not_logged(gateway):
    for key in ("wrong-key", ""):
        with pytest.raises(openai.AuthenticationError) as caught:
            gateway.client_for(key or "x").chat.completions.create(
                model="router", messages=[{"role": "user", "content": "hi"}])
        assert caught.value.response.json()["error"]["code"] == "invalid_api_key"
    response = httpx.post(gateway.url + "/chat/completions", json={"model": "router", "messages": []})
    assert response.status_code == 401 and response.json()["error"]["code"] == "invalid_api_key"
    revoked = api_key_create(tenant=gateway.tenant, name="old")
    api_key_revoke(api_key=revoked.api_key)
    with pytest.raises(openai.AuthenticationError):
        gateway.client_for(revoked.raw_key).chat.completions.create(
            model="router", messages=[{"role": "user", "content": "hi"}])
    assert RoutedRequest.objects.count() == 0
    # a key in use (so cached by authentication) stops working when it is revoked
    used = api_key_create(tenant=gateway.tenant, name="in use")
    assert ask(gateway.client_for(used.raw_key), "weak-model", "hi")[1].model == "weak-model"
    api_key_revoke(api_key=used.api_key)
    with pytest.raises(openai.AuthenticationError):
        ask(gateway.client_for(used.raw_key), "weak-model", "hi")


def test_tenants_are_isolated(gateway, mf_version):
    other = make_tenant("globex", gateway.sim, routing_threshold=0.0)
    other_key = api_key_create(tenant=other, name="k").raw_key
    raw_a, _ = ask(gateway.client, "router", EASY[2])
    raw_b, completion_b = ask(gateway.client_for(other_key), "router", EASY[2])
    assert completion_b.model == "strong-model"  # globex's own threshold 0 sends everything to strong
    assert row_of(raw_a).tenant_id == gateway.tenant.pk and row_of(raw_b).tenant_id == other.pk
    assert row_of(raw_b).threshold == 0.0 and row_of(raw_a).threshold == 0.5


def test_streaming_falls_back_before_the_first_byte(gateway, mf_version):
    httpx.post(gateway.sim.removesuffix("/v1") + "/_sim/config", json={"fail_models": ["weak-model"]})
    raw = gateway.client.chat.completions.with_raw_response.create(
        model="router", messages=[{"role": "user", "content": EASY[3]}], stream=True)
    chunks = list(raw.parse())
    assert {chunk.model for chunk in chunks} == {"strong-model"}
    row = row_of(raw)
    assert row.fallback and row.status == Status.FALLBACK and row.chosen_model == "weak-model"
    assert row.answer.startswith("[strong-model]")


def test_upstream_timeout_falls_back(gateway, mf_version):
    from routerhub.tenants.models import ModelEndpoint

    weak = ModelEndpoint.objects.get(name="weak-model")
    weak.timeout_s = 0.3
    weak.save()
    httpx.post(gateway.sim.removesuffix("/v1") + "/_sim/config", json={"latency_ms": 800})
    raw, completion = ask(gateway.client, "router", EASY[4])
    assert completion.model == "strong-model"
    row = row_of(raw)
    assert row.chosen_model == "weak-model" and row.fallback and "weak-model: APITimeoutError" in row.error
