"""Load what serving needs once per web process: the embedder (one embedding) and the active routers."""
from __future__ import annotations

import gc
import logging
import time

from django.db import connection

from routerhub.embeddings.services import embedder_get
from routerhub.gateway.registry import registry

logger = logging.getLogger(__name__)


def serving_warm() -> float:
    """Seconds it took. Safe to call while requests are served (they share the same locks)."""
    started = time.perf_counter()
    try:
        embedder_get().embed(["warm-up"])
        registry.reload()
    finally:
        connection.close()  # the warm-up thread's own connection
    # the loaded routers, model and Django are there for the life of the process: keep the garbage
    # collector's full passes from walking them again and again (pauses of 100+ ms under load)
    gc.collect()
    gc.freeze()
    seconds = time.perf_counter() - started
    logger.info("serving warm in %.1f s", seconds)
    return seconds
