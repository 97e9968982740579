"""The legacy `POST /v1/completions` (issue 14) through the official openai client: routed like chat
(the prompt is what the router judges), sent to the chosen model's `/completions`, streaming and
not, logged as operation `completions`."""
from __future__ import annotations

import openai
import pytest

from routerhub.gateway.models import RoutedRequest
from tests.support.gateway import EASY, HARD


def test_a_legacy_completion_is_routed_and_logged(gateway, mf_version):
    raw = gateway.client.completions.with_raw_response.create(model="router", prompt=HARD[0], max_tokens=64)
    completion = raw.parse()
    assert raw.headers["x-routerhub-model"] == "strong-model" == completion.model
    assert raw.headers["x-routerhub-router"] == f"mf:v{mf_version.pk}"
    assert completion.choices[0].text.startswith("[strong-model]")
    row = RoutedRequest.objects.get(pk=raw.headers["x-routerhub-request-id"])
    assert (row.operation, row.status, row.served_model) == ("completions", "ok", "strong-model")
    assert row.routed_prompt == HARD[0] and row.answer == completion.choices[0].text
    assert row.prompt_tokens > 0 and row.completion_tokens > 0 and row.cost > 0

    easy = gateway.client.completions.with_raw_response.create(model="router", prompt=[EASY[0]])
    assert easy.headers["x-routerhub-model"] == "weak-model"


def test_a_streamed_legacy_completion_relays_text_chunks(gateway, mf_version):
    chunks = list(gateway.client.completions.create(model="router", prompt=HARD[1], stream=True))
    text = "".join(choice.text for chunk in chunks for choice in chunk.choices)
    assert text.startswith("[strong-model]") and all(chunk.model == "strong-model" for chunk in chunks)
    row = RoutedRequest.objects.get(operation="completions")
    assert row.stream and row.answer == text and row.status == "ok"


def test_legacy_completions_refuse_what_they_cannot_route(gateway):
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client.completions.create(model="router", prompt=["one", "two"])
    assert caught.value.body["code"] == "unsupported_parameter"
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client.completions.create(model="router", prompt="nul \u0000 here")
    assert caught.value.body["code"] == "invalid_characters"
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client.completions.create(model="router", prompt="")
    assert caught.value.body["param"] == "prompt"
    rows = RoutedRequest.objects.filter(operation="completions")
    assert rows.count() == 3 and all(row.status == "client_error" for row in rows)
