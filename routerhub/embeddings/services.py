"""The process's embedder and the Postgres cache of text embeddings (this app's table).

Every text is embedded once per embedder, across imports, training, evaluation and serving:
`embeddings_for_texts` embeds many texts (cache first), `query_embedding` one routed prompt on
the request path (a per-process LRU in front of the cache; concurrent requests' prompts are
embedded together by a micro-batcher). The embedders themselves are the pure core's
(`training.core.embeddings`).
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Sequence

import numpy as np
from django.conf import settings

from routerhub.embeddings.models import EmbeddingCacheEntry
from training.core.embeddings import Embedder, MicroBatcher, MiniLMEmbedder, OpenAIEmbedder, text_sha256

_embedder: Embedder | None = None
_embedder_lock = threading.Lock()


def embedder_get() -> Embedder:
    """The process's embedder, built from settings on first use (loading happens on first embed)."""
    global _embedder
    if _embedder is None:
        with _embedder_lock:
            if _embedder is None:
                _embedder = _embedder_from_settings()
    return _embedder


def _embedder_from_settings() -> Embedder:
    backend = settings.ROUTERHUB_EMBEDDING_BACKEND
    if backend == "local":
        return MiniLMEmbedder(runtime=settings.ROUTERHUB_EMBEDDING_RUNTIME, quantize=settings.ROUTERHUB_EMBEDDING_INT8,
                              threads=settings.ROUTERHUB_EMBEDDING_THREADS, spin=settings.ROUTERHUB_EMBEDDING_SPIN,
                              cache_dir=settings.ROUTERHUB_MODEL_CACHE_DIR)
    if backend == "openai":
        return OpenAIEmbedder(model=settings.ROUTERHUB_OPENAI_EMBEDDING_MODEL, dim=settings.ROUTERHUB_EMBEDDING_DIM,
                              base_url=settings.ROUTERHUB_OPENAI_EMBEDDING_BASE_URL,
                              api_key=os.environ.get(settings.ROUTERHUB_OPENAI_EMBEDDING_API_KEY_ENV))
    raise ValueError(f"unknown ROUTERHUB_EMBEDDING_BACKEND {backend!r}: use 'local' or 'openai'")


def embeddings_for_texts(texts: Sequence[str], *, progress: bool = False, embedder: Embedder | None = None,
                         chunk: int = 5000) -> np.ndarray:
    """Embeddings of `texts` (rows in order), computing only those not in the Postgres cache."""
    embedder = embedder or embedder_get()
    hashes = [text_sha256(text) for text in texts]
    unique = dict(zip(hashes, texts))
    found: dict[str, np.ndarray] = {}
    keys = list(unique)
    for start in range(0, len(keys), chunk):
        rows = EmbeddingCacheEntry.objects.filter(backend=embedder.name, text_sha256__in=keys[start:start + chunk])
        found.update((sha, np.asarray(vector, dtype=np.float32))
                     for sha, vector in rows.values_list("text_sha256", "embedding"))
    missing = [sha for sha in keys if sha not in found]
    if missing:
        vectors = embedder.embed([unique[sha] for sha in missing], progress=progress)
        EmbeddingCacheEntry.objects.bulk_create(
            [EmbeddingCacheEntry(backend=embedder.name, text_sha256=sha, embedding=vector)
             for sha, vector in zip(missing, vectors)], batch_size=1000, ignore_conflicts=True)
        found.update(zip(missing, vectors))
    if not hashes:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return np.stack([found[sha] for sha in hashes])


# --- one routed prompt, on the request path
class _Lru:
    def __init__(self, size: int):
        self.size = size
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: np.ndarray) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)


_embedding_lru = _Lru(getattr(settings, "ROUTERHUB_QUERY_CACHE_SIZE", 4096))
_batchers: dict[int, MicroBatcher] = {}


def query_embedding(text: str) -> tuple[np.ndarray, EmbeddingCacheEntry | None]:
    """The routed prompt's embedding: process LRU, then the Postgres cache, then the embedder.
    A new embedding comes back with its unsaved cache entry, which the request's log transaction
    stores (`embedding_cache_entry_store`: one commit per request, not two)."""
    embedder = embedder_get()
    sha = text_sha256(text)
    key = f"{embedder.name}:{sha}"
    vector = _embedding_lru.get(key)
    if vector is not None:
        return vector, None
    stored = (EmbeddingCacheEntry.objects.filter(backend=embedder.name, text_sha256=sha)
              .values_list("embedding", flat=True).first())
    entry = None
    if stored is not None:
        vector = np.asarray(stored, dtype=np.float32)
    else:
        vector = _batcher_for(embedder)(text)
        entry = EmbeddingCacheEntry(backend=embedder.name, text_sha256=sha, embedding=vector)
    _embedding_lru.put(key, vector)
    return vector, entry


def embedding_cache_entry_store(entry: EmbeddingCacheEntry) -> None:
    """Store a new cache entry (inside the caller's transaction); a concurrent twin is fine."""
    EmbeddingCacheEntry.objects.bulk_create([entry], ignore_conflicts=True)


def _batcher_for(embedder):
    """Embeds one text, batched with concurrent requests' texts (ROUTERHUB_EMBEDDING_MICROBATCH)."""
    size = settings.ROUTERHUB_EMBEDDING_MICROBATCH
    if size <= 1:
        return lambda text: embedder.embed([text])[0]
    batcher = _batchers.get(id(embedder))
    if batcher is None:
        batcher = _batchers.setdefault(id(embedder), MicroBatcher(embedder.embed, max_batch=size))
    return batcher
