"""The embedding cache (`routerhub.embeddings.services`): nothing is embedded twice; the request
path's new entries are stored in batches, off the request."""
import logging
import time

import numpy as np
import pytest
from django.db import DataError, transaction
from prometheus_client import REGISTRY

from routerhub.embeddings.models import EmbeddingCacheEntry
from routerhub.embeddings.services import CacheWriter, embedder_get, embeddings_for_texts
from routerhub.gateway.models import RoutedRequest
from training.core.embeddings import text_sha256


@pytest.mark.django_db
def test_nothing_is_embedded_twice():
    embedder = embedder_get()
    calls = []
    original = embedder.embed

    def counting_embed(texts, **kwargs):
        calls.append(list(texts))
        return original(texts, **kwargs)

    embedder.embed = counting_embed
    try:
        first = embeddings_for_texts(["alpha question", "beta question", "alpha question"])
        second = embeddings_for_texts(["beta question", "alpha question"])
    finally:
        del embedder.embed
    assert calls == [["alpha question", "beta question"]]
    assert EmbeddingCacheEntry.objects.count() == 2
    np.testing.assert_allclose(second, first[[1, 0]], atol=1e-6)
    np.testing.assert_allclose(first[0], first[2])


def _entry(text: str, dim: int = 384) -> EmbeddingCacheEntry:
    vector = np.ones(dim, dtype=np.float32) / np.sqrt(dim)
    return EmbeddingCacheEntry(backend="writer-test", text_sha256=text_sha256(text), embedding=vector)


def test_a_routed_prompt_reaches_the_cache_after_its_request(gateway, mf_version):
    """The request only queues its new embedding; the writer's thread stores it (no flush here)."""
    prompt = "How many primes are there below 1000, and how would you count them by hand?"
    raw = gateway.client.chat.completions.with_raw_response.create(
        model="router", messages=[{"role": "user", "content": prompt}])
    assert raw.http_response.status_code == 200
    assert RoutedRequest.objects.filter(pk=raw.headers["x-routerhub-request-id"]).exists()
    cached = EmbeddingCacheEntry.objects.filter(backend=embedder_get().name, text_sha256=text_sha256(prompt))
    for _ in range(100):
        if cached.exists():
            break
        time.sleep(0.05)
    assert cached.exists()
    stored = np.asarray(cached.get().embedding, dtype=np.float32)
    row = RoutedRequest.objects.get(pk=raw.headers["x-routerhub-request-id"])
    np.testing.assert_array_equal(stored, np.asarray(row.embedding, dtype=np.float32))  # the text form is exact


@pytest.mark.django_db
def test_inside_a_transaction_the_entry_is_stored_at_once():
    writer = CacheWriter(period_s=3600)
    writer.add(_entry("in a transaction"))
    assert EmbeddingCacheEntry.objects.filter(text_sha256=text_sha256("in a transaction")).exists()


def _lost(reason: str) -> float:
    return REGISTRY.get_sample_value("routerhub_embedding_cache_lost_total", {"reason": reason}) or 0.0


@pytest.mark.django_db(transaction=True)
def test_a_refused_batch_is_logged_and_counted_and_the_rest_waits_for_the_next_flush(caplog):
    writer = CacheWriter(period_s=3600, batch=1)
    lost = _lost("refused")
    writer.add(_entry("wrong size", dim=3))  # the column holds 384 dimensions: Postgres refuses the batch
    writer.add(_entry("right size"))
    with caplog.at_level(logging.ERROR):
        assert writer.flush() == 0  # stops at the refused batch: a database that is down is not drained into
    assert "entries not stored" in caplog.text and _lost("refused") == lost + 1
    assert writer.flush() == 1
    assert list(EmbeddingCacheEntry.objects.filter(backend="writer-test").values_list("text_sha256", flat=True)) \
        == [text_sha256("right size")]


@pytest.mark.django_db(transaction=True)
def test_past_its_bound_the_queue_drops_new_entries():
    writer = CacheWriter(period_s=3600, max_queued=2)
    lost = _lost("queue_full")
    for text in ("one", "two", "three"):
        writer.add(_entry(text))
    assert writer.dropped == 1 and _lost("queue_full") == lost + 1
    assert writer.flush() == 2
    assert EmbeddingCacheEntry.objects.filter(backend="writer-test").count() == 2


@pytest.mark.django_db
def test_a_vector_column_gives_back_every_float32_exactly_and_refuses_nan():
    rng = np.random.default_rng(0)
    vector = (rng.standard_normal(384) * 10.0 ** rng.integers(-30, 30, 384)).astype(np.float32)
    vector[:6] = [0.0, -0.0, np.float32(1e-45), np.finfo(np.float32).tiny / 3, np.finfo(np.float32).max, -1 / 3]
    EmbeddingCacheEntry.objects.create(backend="exact", text_sha256="a", embedding=vector)
    back = np.asarray(EmbeddingCacheEntry.objects.get(backend="exact").embedding, dtype=np.float32)
    np.testing.assert_array_equal(back, vector)
    vector[7] = np.nan
    with pytest.raises(DataError, match="NaN"), transaction.atomic():
        EmbeddingCacheEntry.objects.create(backend="exact", text_sha256="b", embedding=vector)
