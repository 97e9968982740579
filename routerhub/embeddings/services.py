"""The process's embedder and the Postgres cache of text embeddings (this app's table).

Every text is embedded once per embedder, across imports, training, evaluation and serving:
`embeddings_for_texts` embeds many texts (cache first), `query_embedding` one routed prompt on
the request path (a per-process LRU in front of the cache; concurrent requests' prompts are
embedded together by a micro-batcher; what it computes is stored in the cache in batches, off the
request path: `cache_writer`). The embedders themselves are the pure core's
(`training.core.embeddings`).
"""
from __future__ import annotations

import atexit
import functools
import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from typing import Sequence

import numpy as np
from django.conf import settings
from django.db import close_old_connections, connection

from routerhub import metrics
from routerhub.embeddings.models import EmbeddingCacheEntry
from training.core.embeddings import Embedder, MicroBatcher, MiniLMEmbedder, OpenAIEmbedder, text_sha256

logger = logging.getLogger(__name__)
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
                              cache_dir=settings.ROUTERHUB_MODEL_CACHE_DIR, layers=settings.ROUTERHUB_EMBEDDING_LAYERS)
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
        _store([EmbeddingCacheEntry(backend=embedder.name, text_sha256=sha, embedding=vector)
                for sha, vector in zip(missing, vectors)])
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


def query_embedding(text: str) -> np.ndarray:
    """The routed prompt's embedding: process LRU, then the Postgres cache, then the embedder. A
    new embedding goes to the cache through `cache_writer` (in a batch, after this returns)."""
    embedder = embedder_get()
    sha = text_sha256(text)
    key = f"{embedder.name}:{sha}"
    vector = _embedding_lru.get(key)
    if vector is not None:
        return vector
    vector = _cache_lookup(embedder.name, sha)
    if vector is None:
        vector = _batcher_for(embedder)(text)
        cache_writer.add(EmbeddingCacheEntry(backend=embedder.name, text_sha256=sha, embedding=vector))
    _embedding_lru.put(key, vector)
    return vector


@functools.cache
def _cache_lookup_sql() -> str:
    """The lookup's statement, from the model's own table and column names (built once)."""
    meta, quote = EmbeddingCacheEntry._meta, connection.ops.quote_name
    column = {f.name: quote(f.column) for f in meta.concrete_fields}
    return (f"SELECT {column['embedding']} FROM {quote(meta.db_table)} "
            f"WHERE {column['backend']} = %s AND {column['text_sha256']} = %s")


def _cache_lookup(backend: str, sha: str) -> np.ndarray | None:
    """One cache row by its key (unique), as one plain statement: on the request path the ORM's
    building of this query cost four times the CPU of the database's answer (0.45-0.54 against
    0.10-0.12 ms per lookup, 2026-12-04)."""
    with connection.cursor() as cursor:
        cursor.execute(_cache_lookup_sql(), [backend, sha])
        row = cursor.fetchone()
    if row is None:
        return None
    value = row[0]  # pgvector's text form, as no vector adapter is registered on Django's connections
    return np.array(value[1:-1].split(","), dtype=np.float32) if isinstance(value, str) else \
        np.asarray(value, dtype=np.float32)


class CacheWriter:
    """Stores the request path's new cache entries in batches, off the request path.

    A request that embeds a new prompt only queues its entry; one thread per process stores what
    is queued every `period_s`, up to `batch` entries per statement, so the request's own database
    work is its log row alone (before, a transaction of the row and the entry: 1.05 ms of CPU
    against 0.44-0.55 ms for the row alone, 2026-12-04). The cache is a cache: an entry that is
    never stored only means its prompt is embedded again when it comes back (a thumb posted
    within the period, say, embeds its prompt anew). A normal exit stores what is queued; a
    killed process loses it without a trace. A batch the database refuses is lost (the writer then
    waits for the next period instead of draining the queue into a database that is down), and so
    are new entries while `max_queued` wait; these losses are logged and counted in
    `routerhub_embedding_cache_lost_total` by reason. A caller inside a transaction (a command's, a test's)
    stores its entry in that transaction at once, so it is rolled back with it.
    """

    def __init__(self, *, period_s: float = 0.25, max_queued: int = 20_000, batch: int = 1000):
        self.period_s = period_s
        self.batch = batch
        self.max_queued = max_queued
        self.dropped = 0  # entries refused because the queue was full
        self._fresh()
        os.register_at_fork(after_in_child=self._fresh)  # a forked child starts empty, with its own thread

    def _fresh(self) -> None:
        self._queue: queue.Queue[EmbeddingCacheEntry] = queue.Queue(maxsize=self.max_queued)
        self._store_lock = threading.Lock()  # one batch at a time: flush() waits for the thread's
        self._lock = threading.Lock()  # the thread's start, and the drop count
        self._thread: threading.Thread | None = None

    def add(self, entry: EmbeddingCacheEntry) -> None:
        if connection.in_atomic_block:
            _store([entry])
            return
        try:
            self._queue.put_nowait(entry)
        except queue.Full:
            with self._lock:
                self.dropped += 1
                dropped = self.dropped
            metrics.embedding_cache_lost.labels("queue_full").inc()
            if dropped % 1000 == 1:
                logger.warning("embedding cache writer: %d entries dropped (the database is not keeping up)", dropped)
            return
        self._thread_ensure()

    def flush(self) -> int:
        """Store what is queued now, in this thread, batch by batch; the number stored. Stops at the
        first batch the database refuses (that batch is lost, the rest waits). The writer's thread
        calls it every period; exit and tests call it too."""
        stored = 0
        with self._store_lock:
            while True:
                entries = []
                while len(entries) < self.batch:
                    try:
                        entries.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                if not entries:
                    return stored
                try:
                    _store(entries)
                except Exception:  # the database is down, paused, or refuses a value: not the thread's end
                    logger.exception("embedding cache writer: %d entries not stored", len(entries))
                    metrics.embedding_cache_lost.labels("refused").inc(len(entries))
                    return stored
                stored += len(entries)

    def _thread_ensure(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                if self._thread is None:
                    atexit.register(self.flush)
                self._thread = threading.Thread(target=self._run, name="embedding-cache-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            time.sleep(self.period_s)
            try:
                close_old_connections()  # this thread's connection: replaced when broken or past its age
                if not self._queue.empty():
                    self.flush()
            except Exception:  # nothing ends the thread
                logger.exception("embedding cache writer: flush failed")


def _store(entries: list[EmbeddingCacheEntry]) -> None:
    """New cache entries, 1,000 per statement; a twin stored meanwhile (another process, an import)
    is fine."""
    EmbeddingCacheEntry.objects.bulk_create(entries, batch_size=1000, ignore_conflicts=True)


cache_writer = CacheWriter()


def _batcher_for(embedder):
    """Embeds one text, batched with concurrent requests' texts (ROUTERHUB_EMBEDDING_MICROBATCH)."""
    size = settings.ROUTERHUB_EMBEDDING_MICROBATCH
    if size <= 1:
        return lambda text: embedder.embed([text])[0]
    batcher = _batchers.get(id(embedder))
    if batcher is None:
        batcher = _batchers.setdefault(id(embedder), MicroBatcher(embedder.embed, max_batch=size))
    return batcher
