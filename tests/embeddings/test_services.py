"""The embedding cache (`routerhub.embeddings.services`): nothing is embedded twice."""
import numpy as np
import pytest

from routerhub.embeddings.models import EmbeddingCacheEntry
from routerhub.embeddings.services import embedder_get, embeddings_for_texts


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
