"""`POST /v1/embeddings` (issue 14) through the official openai client, against the simulated
upstream's embeddings: passed through to the model named (or an alias of one), logged like chat."""
from __future__ import annotations

from decimal import Decimal

import openai
import pytest

from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.models import ModelAlias, ModelEndpoint


@pytest.fixture
def embedder(gateway):
    return ModelEndpoint.objects.create(name="text-embedding-3-small", upstream_model="text-embedding-3-small",
                                        base_url=gateway.sim, timeout_s=5, max_retries=0,
                                        input_price_per_mtok=Decimal("0.02"))


def test_embeddings_pass_through_and_are_logged(gateway, embedder):
    raw = gateway.client.embeddings.with_raw_response.create(model="text-embedding-3-small",
                                                             input=["hello world", "routing is fun"])
    result = raw.parse()
    assert [item.index for item in result.data] == [0, 1] and len(result.data[0].embedding) == 1536
    assert result.data[0].embedding != result.data[1].embedding and result.model == "text-embedding-3-small"
    again = gateway.client.embeddings.create(model="text-embedding-3-small", input="hello world")
    assert again.data[0].embedding == pytest.approx(result.data[0].embedding)  # the same text, the same vector
    row = RoutedRequest.objects.get(pk=raw.headers["x-routerhub-request-id"])
    assert (row.operation, row.status, row.http_status) == ("embeddings", "ok", 200)
    assert row.served_model == "text-embedding-3-small" and row.router_kind == ""
    assert row.prompt_tokens == result.usage.prompt_tokens > 0 and row.completion_tokens == 0
    assert row.cost == (Decimal("0.02") * row.prompt_tokens / Decimal(1_000_000)).quantize(Decimal("0.00000001"))
    assert "routing is fun" in row.routed_prompt
    # an alias of the embedding model works the same
    ModelAlias.objects.create(tenant=gateway.tenant, name="embed", target="text-embedding-3-small")
    assert gateway.client.embeddings.create(model="embed", input="hi").model == "text-embedding-3-small"


def test_bad_embedding_requests_are_4xx_and_logged(gateway, embedder):
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client.embeddings.create(model="router", input="hi")
    assert caught.value.body["code"] == "model_not_routable"
    with pytest.raises(openai.NotFoundError):
        gateway.client.embeddings.create(model="no-such-model", input="hi")
    with pytest.raises(openai.BadRequestError) as caught:
        gateway.client.embeddings.create(model="text-embedding-3-small", input=[])
    assert caught.value.body["param"] == "input"
    rows = RoutedRequest.objects.filter(operation="embeddings")
    assert sorted(rows.values_list("http_status", flat=True)) == [400, 400, 404]
    assert all(row.status == "client_error" for row in rows)
