"""The request path's Prometheus metrics (prometheus-client), served at `/metrics` by `routerhub.ops`.

OpenTelemetry's GenAI names where one exists (gen_ai.client.operation.duration,
gen_ai.client.token.usage, gen_ai.client.operation.time_to_first_chunk, as Prometheus writes them),
RouterHub's own otherwise. Counted in the web processes; under gunicorn in prometheus-client's
multiprocess mode (PROMETHEUS_MULTIPROC_DIR, set by `routerhub/gunicorn_conf.py`), so a scrape sees
every worker. What lives in the database (duels pending, training runs, active versions) is read at
scrape time (`routerhub.ops.metrics`). Plain module: no Django, importable from any layer.
"""
from __future__ import annotations

from prometheus_client import Counter, Histogram

_SECONDS = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_TOKENS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
_GENAI = ["gen_ai_operation_name", "gen_ai_request_model", "gen_ai_response_model"]

operation_duration = Histogram(
    "gen_ai_client_operation_duration_seconds",
    "GenAI operation duration (gen_ai.client.operation.duration): a gateway request from arrival to its logged "
    "outcome; error_type is empty on success", _GENAI + ["error_type"], buckets=_SECONDS)
token_usage = Histogram(
    "gen_ai_client_token_usage", "Tokens per request (gen_ai.client.token.usage), by gen_ai_token_type input|output",
    _GENAI + ["gen_ai_token_type"], buckets=_TOKENS)
time_to_first_chunk = Histogram(
    "gen_ai_client_operation_time_to_first_chunk_seconds",
    "Streamed requests: from arrival to the first chunk relayed (gen_ai.client.operation.time_to_first_chunk)",
    _GENAI, buckets=_SECONDS)
requests = Counter("routerhub_requests", "Gateway requests by tenant, outcome and HTTP status",
                   ["tenant", "status", "http_status"])
decisions = Counter("routerhub_routing_decisions", "Routed requests by tenant, router (kind:version) and chosen model",
                    ["tenant", "router", "model"])
win_rate = Histogram("routerhub_routing_win_rate", "Each routed request's win rate (for a pair: P(strong wins))",
                     ["tenant", "router"], buckets=tuple(i / 10 for i in range(1, 11)))
fallbacks = Counter("routerhub_fallbacks", "Requests answered by the other model after the chosen one failed",
                    ["tenant", "model"])
embedding_cache_lost = Counter("routerhub_embedding_cache_lost",
                               "New embedding-cache entries not stored (queue full, or a batch the database refused)",
                               ["reason"])
upstream_errors = Counter("routerhub_upstream_errors", "Failed upstream calls (each attempt) by model and kind",
                          ["model", "kind"])
