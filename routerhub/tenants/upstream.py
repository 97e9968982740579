"""Calls to upstream models through the `openai` SDK: one client per ModelEndpoint, with fallback;
and what a call costs (tokens, the endpoint's prices) and answers (`answer_text`).

Which failures fall back to the other model: timeouts, connection errors, 5xx, and 408/409/429
(the SDK's own retryable set, after its `max_retries` bounded retries). Any other 4xx is the
request's fault: it is passed back to the client as it is, not retried and not sent elsewhere.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

import openai
from openai.types.chat import ChatCompletionChunk

try:  # the HTTP library the openai SDK is built on (vendored as httpx2 by recent releases)
    from httpx2 import HTTPError as TransportError  # noqa: F401 - re-exported: what a broken stream raises
    from httpx2 import Response as RawResponse
except ImportError:  # pragma: no cover - older SDKs
    from httpx import Response as RawResponse

from routerhub import metrics
from routerhub.errors import error_body
from routerhub.tenants.models import ModelEndpoint

logger = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 409, 429}
TOKEN_PATTERN = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def count_tokens(text: str) -> int:
    """Approximate BPE token count (words and punctuation), close to tiktoken for English: the
    estimate when an upstream reports no usage."""
    return len(TOKEN_PATTERN.findall(text or ""))


def message_text(content) -> str:
    """The text of a message `content`: a string, or a list of content parts (text parts joined)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(part.get("text", "") for part in content
                         if isinstance(part, dict) and isinstance(part.get("text"), str))
    return ""


def answer_text(body: dict) -> str:
    """The first choice's text: its message's content (chat), or its `text` (the legacy
    completions API); "" when there is none."""
    try:
        choice = body["choices"][0]
        return (choice["message"].get("content") if "message" in choice else choice.get("text")) or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        return ""


def endpoint_cost(endpoint: ModelEndpoint | None, prompt_tokens: int, completion_tokens: int) -> Decimal:
    """USD from the endpoint's prices per million tokens."""
    if endpoint is None:
        return Decimal(0)
    return ((endpoint.input_price_per_mtok * prompt_tokens + endpoint.output_price_per_mtok * completion_tokens)
            / Decimal(1_000_000)).quantize(Decimal("0.00000001"))

_clients: dict[tuple, openai.OpenAI] = {}
_clients_lock = threading.Lock()


def client_for(endpoint: ModelEndpoint) -> openai.OpenAI:
    """The process's client for this endpoint (rebuilt when its settings or its key change)."""
    api_key = os.environ.get(endpoint.api_key_env, "") if endpoint.api_key_env else ""
    key = (endpoint.pk, endpoint.base_url, api_key, float(endpoint.timeout_s), int(endpoint.max_retries))
    client = _clients.get(key)
    if client is None:
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                for stale in [k for k in _clients if k[0] == endpoint.pk]:
                    _clients.pop(stale)  # not closed: other threads may still be using it; GC closes it
                client = openai.OpenAI(base_url=endpoint.base_url, api_key=api_key or "unused",
                                       timeout=float(endpoint.timeout_s), max_retries=int(endpoint.max_retries))
                _clients[key] = client
    return client


class UpstreamClientError(Exception):
    """The upstream refused the request (a 4xx that is not retryable): passed back as it is."""

    def __init__(self, status_code: int, body: dict, message: str):
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class UpstreamUnavailable(Exception):
    """Every model tried failed (timeouts, connection errors, 5xx)."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class UpstreamResult:
    endpoint: ModelEndpoint
    response: object  # the ChatCompletion as a dict, or an openai Stream (its raw events are relayed)
    latency_ms: float  # until the response (non-streaming) or its headers (streaming)
    fallback: bool = False
    errors: list[str] = field(default_factory=list)  # failures before this one answered


def _body(request_extra: dict, *, stream: bool) -> dict:
    extra = dict(request_extra)
    if stream:  # always ask for usage, so cost is exact; the gateway drops the chunk if the client did not ask
        extra["stream_options"] = {**(extra.get("stream_options") or {}), "include_usage": True}
    return extra


def _error_summary(endpoint: ModelEndpoint, exc: Exception) -> str:
    if isinstance(exc, openai.APIStatusError):
        return f"{endpoint.name}: HTTP {exc.status_code} {exc.message}"[:300]
    return f"{endpoint.name}: {type(exc).__name__} {exc}"[:300]


def _failure(endpoint: ModelEndpoint, exc: Exception) -> str:
    """A failed upstream attempt: counted by kind in the metrics, and its one-line summary."""
    kind = (f"http_{exc.status_code}" if isinstance(exc, openai.APIStatusError)
            else "timeout" if isinstance(exc, openai.APITimeoutError)
            else "connection" if isinstance(exc, openai.APIConnectionError) else "invalid_response")
    metrics.upstream_errors.labels(endpoint.name, kind).inc()
    return _error_summary(endpoint, exc)


def _client_error(exc: openai.APIStatusError) -> UpstreamClientError:
    try:
        body = exc.response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or "error" not in body:
        body = error_body(exc.message)
    return UpstreamClientError(exc.status_code, body, exc.message)


def complete(*, endpoints: list[ModelEndpoint], messages: list[dict], extra: dict, stream: bool,
             legacy: bool = False) -> UpstreamResult:
    """Ask the first endpoint; on a failure that is not the request's fault, the next one.
    `legacy`: the completions API (`/completions`, the one message's text as `prompt`)."""
    errors: list[str] = []
    path = "/completions" if legacy else "/chat/completions"
    for position, endpoint in enumerate(endpoints):
        started = time.perf_counter()
        body = {**_body(extra, stream=stream), "model": endpoint.upstream_model}
        if legacy:
            body["prompt"] = messages[-1]["content"]
        else:
            body["messages"] = messages
        if stream:
            body["stream"] = True
        try:
            # The SDK's client does the call (auth, timeout, retries with backoff, typed errors);
            # the body goes as the client sent it and the answer comes back as it is, so fields this
            # SDK version does not know pass both ways, and nothing is validated twice.
            client = client_for(endpoint)
            if stream:
                response = client.post(path, body=body, cast_to=ChatCompletionChunk, stream=True,
                                       stream_cls=openai.Stream[ChatCompletionChunk])
            else:
                response = client.post(path, body=body, cast_to=RawResponse).json()
        except openai.APIStatusError as exc:
            if exc.status_code < 500 and exc.status_code not in RETRYABLE_STATUS:
                raise _client_error(exc) from exc
            errors.append(_failure(endpoint, exc))
        except (openai.APITimeoutError, openai.APIConnectionError, ValueError) as exc:  # ValueError: not JSON
            errors.append(_failure(endpoint, exc))
        else:
            return UpstreamResult(endpoint, response, (time.perf_counter() - started) * 1000,
                                  fallback=position > 0, errors=errors)
        logger.warning("upstream failed: %s", errors[-1])
    raise UpstreamUnavailable(errors)


def embed(*, endpoint: ModelEndpoint, body: dict) -> UpstreamResult:
    """`POST /embeddings` at `endpoint`, the body passed through (its `model` set to the upstream's
    name). No fallback: another model's vectors live in another space. A 4xx that is the request's
    fault is UpstreamClientError; any other failure UpstreamUnavailable."""
    started = time.perf_counter()
    try:
        response = client_for(endpoint).post("/embeddings", body={**body, "model": endpoint.upstream_model},
                                              cast_to=RawResponse).json()
    except openai.APIStatusError as exc:
        if exc.status_code < 500 and exc.status_code not in RETRYABLE_STATUS:
            raise _client_error(exc) from exc
        raise UpstreamUnavailable([_failure(endpoint, exc)]) from exc
    except (openai.APITimeoutError, openai.APIConnectionError, ValueError) as exc:
        raise UpstreamUnavailable([_failure(endpoint, exc)]) from exc
    return UpstreamResult(endpoint, response, (time.perf_counter() - started) * 1000)


def classifier_call(endpoint_name: str, *, timeout_s: float, top_logprobs: int = 10):
    """`complete(messages)` for the causal-LLM router (`training.core.routers.causal_llm`): a chat
    completion at the endpoint named `endpoint_name` with log-probabilities, greedy, a few tokens,
    bounded by `timeout_s` and never retried (routing waits on it); returns the answer's logprobs
    content as dicts. Raises UpstreamUnavailable (no such endpoint, a failure, a timeout), which
    the gateway turns into its router fallback."""
    from routerhub.tenants.selectors import endpoint_by_name

    def complete(messages: list[dict]) -> list[dict]:
        endpoint = endpoint_by_name(endpoint_name)
        if endpoint is None:
            raise UpstreamUnavailable([f"{endpoint_name}: no such model endpoint (ROUTERHUB_CAUSAL_LLM_ENDPOINT)"])
        body = {"model": endpoint.upstream_model, "messages": messages, "max_tokens": 6, "temperature": 0,
                "logprobs": True, "top_logprobs": top_logprobs}
        try:
            response = client_for(endpoint).with_options(timeout=timeout_s, max_retries=0).post(
                "/chat/completions", body=body, cast_to=RawResponse).json()
        except (openai.APIError, ValueError) as exc:
            raise UpstreamUnavailable([_failure(endpoint, exc)]) from exc
        choice = (response.get("choices") or [{}])[0]
        return list(((choice.get("logprobs") or {}).get("content")) or [])

    return complete
