"""The gateway's write path: route a chat completion, call the upstream, record one RoutedRequest.

Every request after authentication becomes exactly one `RoutedRequest` row, written once when the
outcome is known (after the upstream answered, failed, or the stream ended), so logging costs one
INSERT per request (in a transaction with its possible duel when the tenant has a duel rate, or
when commits are asynchronous) and nothing per streamed chunk.
A newly embedded prompt reaches the embedding cache apart, in a batch
(`routerhub.embeddings.services.cache_writer`).
"""
from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field

import openai
from django.conf import settings
from django.db import connection, transaction

from feedback.duels import duel_maybe_create
from routerhub import metrics
from routerhub.errors import ApiError, error_body
from routerhub.gateway import limits
from routerhub.gateway.capacity import upstream_slot_take
from routerhub.gateway.models import RoutedRequest
from routerhub.gateway.routing import Constraints, Decision, route, route_target_resolve
from routerhub.gateway.schemas import ChatRequest, storable
from routerhub.logs import request_id, request_id_set
from routerhub.tenants.models import ApiKey, ModelEndpoint, Tenant
from routerhub.tenants.upstream import (
    TransportError,
    UpstreamClientError,
    UpstreamResult,
    UpstreamUnavailable,
    answer_text,
    complete,
    count_tokens,
    embed,
    endpoint_cost,
    message_text,
)

logger = logging.getLogger(__name__)
Status = RoutedRequest.Status


@dataclass
class GatewayCall:
    """One request's state from authentication to its log row."""

    tenant: Tenant
    api_key: ApiKey | None
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    started: float = field(default_factory=time.perf_counter)
    request: ChatRequest | None = None
    requested_model: str = ""
    decision: Decision | None = None
    routing_ms: float | None = None
    logged: bool = False
    raw_messages: list | None = None  # a refused body's messages, made storable, for its log row
    operation: str = "chat"  # or "completions" (the legacy API), "embeddings"

    @property
    def headers(self) -> dict[str, str]:
        headers = {"x-routerhub-request-id": str(self.id)}
        if self.decision is not None:
            headers["x-routerhub-router"] = self.decision.router_label
            headers["x-routerhub-model"] = self.decision.chosen.name
            if self.decision.win_rate is not None:
                headers["x-routerhub-win-rate"] = f"{self.decision.win_rate:.6f}"
            if self.decision.estimated_cost is not None:
                headers["x-routerhub-estimated-cost"] = f"{self.decision.estimated_cost:f}"
        return headers

    def log(self, *, status: str, http_status: int, served: ModelEndpoint | None = None, fallback: bool = False,
            answer: str = "", error: str = "", prompt_tokens: int = 0, completion_tokens: int = 0,
            upstream_ms: float | None = None) -> RoutedRequest:
        """Write this request's one log row."""
        d = self.decision
        row = RoutedRequest(
            id=self.id, tenant=self.tenant, api_key=self.api_key, operation=self.operation,
            messages=self.request.messages if self.request else (self.raw_messages or []),
            routed_prompt=d.routed_prompt if d else (self.request.routed_prompt if self.request else ""),
            embedding=d.embedding if d is not None else None,
            requested_model=self.requested_model[:128], stream=bool(self.request and self.request.stream),
            router_kind=d.kind if d else "", router_version_id=d.version_id if d else None,
            routing_reason=(d.reason if d else "")[:300], win_rate=d.win_rate if d else None,
            threshold=d.threshold if d else None, scores=d.scores if d else {},
            estimated_cost=d.estimated_cost if d else None, chosen_model=d.chosen.name if d else "",
            served_model=served.name if served else "", fallback=fallback, answer=answer, status=status,
            http_status=http_status, error=error, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
            cost=endpoint_cost(served, prompt_tokens, completion_tokens), routing_latency_ms=self.routing_ms,
            upstream_latency_ms=upstream_ms)
        duel = status == Status.OK and d is not None and d.kind and self.tenant.duel_rate > 0
        asynchronous = not settings.ROUTERHUB_LOG_SYNCHRONOUS_COMMIT
        # a transaction only for the row and its duel, or for SET LOCAL; the row alone is one
        # statement, atomic by itself, with no BEGIN and COMMIT round trips
        with transaction.atomic() if duel or asynchronous else nullcontext():
            if asynchronous:
                with connection.cursor() as cursor:  # see settings: no WAL flush wait on the request path
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            row.save(force_insert=True)
            if duel:
                _duel_maybe_create(row)
        self.logged = True
        if served is not None:
            limits.usage_record(self.tenant, completion_tokens=completion_tokens, cost=row.cost)
        self._metrics_record(row)
        return row

    def _metrics_record(self, row: RoutedRequest) -> None:
        """The logged outcome in the Prometheus metrics (routerhub/metrics.py)."""
        try:
            slug, d = self.tenant.slug, self.decision
            metrics.requests.labels(slug, row.status, str(row.http_status)).inc()
            genai = (self.operation, row.requested_model or "", row.served_model)
            error = "" if row.status in (Status.OK, Status.FALLBACK) else row.status
            metrics.operation_duration.labels(*genai, error).observe(time.perf_counter() - self.started)
            if row.served_model:
                metrics.token_usage.labels(*genai, "input").observe(row.prompt_tokens)
                metrics.token_usage.labels(*genai, "output").observe(row.completion_tokens)
            if d is not None and d.kind:
                metrics.decisions.labels(slug, d.router_label, d.chosen.name).inc()
                if d.win_rate is not None:
                    metrics.win_rate.labels(slug, d.router_label).observe(d.win_rate)
            if row.fallback:
                metrics.fallbacks.labels(slug, row.served_model).inc()
        except Exception:  # metrics never cost a request
            logger.exception("metrics not recorded")

    def log_client_error(self, *, http_status: int, error: str, body=None) -> RoutedRequest:
        """The refused request's log row; when the body was refused before it became a request,
        what can be stored of its model and messages (`schemas.storable`)."""
        if self.request is None and isinstance(body, dict):
            model, messages = storable(body.get("model")), storable(body.get("messages"))
            self.requested_model = model if isinstance(model, str) else ""
            self.raw_messages = messages if isinstance(messages, list) else None
        return self.log(status=Status.CLIENT_ERROR, http_status=http_status, error=error[:2000])


def _duel_maybe_create(row: RoutedRequest) -> None:
    """Exploration (feedback.duels): the fetch of the other answer is queued when this commits.
    A failure here costs the duel, never the request or its log row."""
    try:
        with transaction.atomic():  # a savepoint: the log row stays whatever happens here
            duel_maybe_create(request=row)
    except Exception:
        logger.exception("duel for request %s not created", row.pk)


@dataclass
class Outcome:
    """What the API view sends back: a JSON body, or a stream of server-sent event bytes."""

    status: int
    headers: dict[str, str]
    body: dict | None = None
    stream: Iterator[bytes] | None = None


def _upstream_failed(call, exc: UpstreamClientError | UpstreamUnavailable, *, failed: str) -> Outcome:
    """The logged outcome of a failed upstream call: the upstream's own 4xx when the request was at
    fault, else a 502 `upstream_unavailable` whose message starts with `failed`."""
    if isinstance(exc, UpstreamClientError):
        call.log(status=Status.CLIENT_ERROR, http_status=exc.status_code, error=f"upstream: {exc}"[:2000])
        return Outcome(exc.status_code, call.headers, body=exc.body)
    message = f"{failed}: " + "; ".join(exc.errors)
    call.log(status=Status.UPSTREAM_ERROR, http_status=502, error=message[:2000])
    return Outcome(502, call.headers, body=error_body(message, type="upstream_error", code="upstream_unavailable"))


def chat_completion(call: GatewayCall, request: ChatRequest) -> Outcome:
    """Route `request`, call the upstream (with fallback), log, and say what to answer.
    Raises ApiError for a bad model name (the caller logs it as a client error)."""
    call.request, call.requested_model = request, request.model
    target = route_target_resolve(model=request.model, tenant=call.tenant)
    prompt_tokens = _estimate_prompt_tokens(request)
    limits.admit(call.tenant, prompt_tokens=prompt_tokens)  # 429 past the tenant's minute
    cheapest_only = limits.budget_check(call.tenant, routed=target.routed, model=request.model)  # 429 when spent
    constraints = Constraints(models=[limits.cheapest_model(call.tenant)] if cheapest_only and target.routed
                              else request.models, max_cost=request.max_cost,
                              prompt_tokens=prompt_tokens if target.routed else 0)
    call.decision = route(target=target, tenant=call.tenant, routed_prompt=request.routed_prompt,
                          constraints=constraints)
    if cheapest_only and target.routed:
        call.decision.reason = "the monthly budget is spent: the cheapest model answers"
    call.routing_ms = (time.perf_counter() - call.started) * 1000
    endpoints = [call.decision.chosen] + ([call.decision.other] if call.decision.other else [])
    release = upstream_slot_take()  # the thread reserve (routerhub/gateway/capacity.py)
    if release is None:
        return _overloaded(call)
    streaming = False
    try:
        result = complete(endpoints=endpoints, messages=request.messages, extra=request.extra, stream=request.stream,
                          legacy=call.operation == "completions")
    except (UpstreamClientError, UpstreamUnavailable) as exc:
        return _upstream_failed(call, exc, failed="Every upstream model failed")
    else:
        if request.stream:
            streaming = True  # the relay gives the slot back when the stream ends
            return Outcome(200, {**call.headers, "x-routerhub-model": result.endpoint.name},
                           stream=_Relay(call, request, result, release))
    finally:
        if not streaming:
            release()
    headers = {**call.headers, "x-routerhub-model": result.endpoint.name}
    body = result.response
    body["model"] = result.endpoint.name
    answer = answer_text(body)
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    call.log(status=Status.FALLBACK if result.fallback else Status.OK, http_status=200, served=result.endpoint,
             fallback=result.fallback, answer=answer, error="; ".join(result.errors),
             prompt_tokens=_tokens(usage, "prompt_tokens", lambda: _estimate_prompt_tokens(request)),
             completion_tokens=_tokens(usage, "completion_tokens", lambda: count_tokens(answer)),
             upstream_ms=result.latency_ms)
    return Outcome(200, headers, body=body)


def _overloaded(call: GatewayCall) -> Outcome:
    """Every upstream slot of this process stayed taken: a logged 503, at once."""
    message = ("Too many requests of this server are waiting on upstream models (a slow or stalled "
               "upstream); retry in a moment.")
    call.log(status=Status.UPSTREAM_ERROR, http_status=503, error=f"overloaded: {message}")
    return Outcome(503, {**call.headers, "Retry-After": "1"},
                   body=error_body(message, type="server_error", code="server_overloaded"))


def embeddings_create(call: GatewayCall, body: dict) -> Outcome:
    """`POST /v1/embeddings`: the named model (or an alias of one) embeds the input, passed through;
    limits, budget, the thread reserve and the log row as for chat. Not routed: a router choosing
    between embedding models would mix vector spaces. Raises ApiError for bad input."""
    if not isinstance(body, dict):
        raise ApiError("The body must be a JSON object.", code="invalid_request")
    model, texts = body.get("model"), body.get("input")
    if isinstance(model, str):
        call.requested_model = model
    if not isinstance(model, str) or not model.strip():
        raise ApiError("`model` must name an embedding model (GET /v1/models lists them).", param="model",
                       code="invalid_request")
    if not _embedding_input_ok(texts):
        raise ApiError("`input` must be a non-empty string, a non-empty list of non-empty strings, or token "
                       "arrays (lists of integers).", param="input", code="invalid_request")
    target = route_target_resolve(model=model, tenant=call.tenant)
    if target.routed:
        raise ApiError(f"{model!r} names a router; embeddings are not routed (another model's vectors live in "
                       "another space): name an embedding model.", param="model", code="model_not_routable")
    strings = [texts] if isinstance(texts, str) else [t for t in texts if isinstance(t, str)]
    if strings:
        estimate = sum(count_tokens(t) for t in strings)
    else:  # token arrays: one (a list of ints) or several (a list of lists)
        estimate = sum(len(t) for t in texts) if isinstance(texts[0], list) else len(texts)
    limits.admit(call.tenant, prompt_tokens=estimate)
    limits.budget_check(call.tenant, routed=False, model=model)
    call.decision = Decision(chosen=target.endpoint, other=None, reason="embeddings: the model named",
                             routed_prompt="\n".join(strings)[:4000])
    call.routing_ms = (time.perf_counter() - call.started) * 1000
    release = upstream_slot_take()
    if release is None:
        return _overloaded(call)
    try:
        result = embed(endpoint=target.endpoint, body=body)
    except (UpstreamClientError, UpstreamUnavailable) as exc:
        return _upstream_failed(call, exc, failed="The embedding model failed")
    finally:
        release()
    response = result.response if isinstance(result.response, dict) else {}
    response["model"] = target.endpoint.name
    usage = response.get("usage") if isinstance(response.get("usage"), dict) else {}
    call.log(status=Status.OK, http_status=200, served=target.endpoint,
             prompt_tokens=_tokens(usage, "prompt_tokens", lambda: estimate), upstream_ms=result.latency_ms)
    return Outcome(200, {**call.headers, "x-routerhub-model": target.endpoint.name}, body=response)


def _embedding_input_ok(texts) -> bool:
    if isinstance(texts, str):
        return bool(texts)
    if not isinstance(texts, list) or not texts or len(texts) > 2048:
        return False
    if all(isinstance(t, str) and t for t in texts):
        return True
    tokens = lambda seq: isinstance(seq, list) and seq and all(  # noqa: E731
        isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in seq)
    return tokens(texts) or all(tokens(t) for t in texts)


def _tokens(usage: dict | None, key: str, estimate) -> int:
    """The upstream's token count, or an estimate when it reports none."""
    value = (usage or {}).get(key)
    return value if isinstance(value, int) and value >= 0 else estimate()


def _estimate_prompt_tokens(request: ChatRequest) -> int:
    return sum(count_tokens(message_text(m.get("content"))) + 4 for m in request.messages) + 3


class UpstreamStreamError(Exception):
    """The upstream sent an error event in the middle of a stream."""


def _relay(call: GatewayCall, request: ChatRequest, result: UpstreamResult,
           release: Callable[[], None]) -> Iterator[bytes]:
    """Relay the upstream's chunks as server-sent events as they arrive. The log row is written
    before the final `[DONE]` (so a client that has the whole answer finds its row), or when the
    client goes away (the WSGI server then closes this generator) or the upstream breaks off."""
    stream, served = result.response, result.endpoint
    parts: list[str] = []
    usage: dict | None = None
    errors = list(result.errors)
    logged = False
    first = True
    id_token = request_id_set(call.id)  # relayed after the view returned: its lines carry the id too

    def log(status: str) -> None:
        nonlocal logged
        answer = "".join(parts)
        call.log(status=status, http_status=200, served=served, fallback=result.fallback, answer=answer,
                 error="; ".join(errors)[:2000],
                 prompt_tokens=_tokens(usage, "prompt_tokens", lambda: _estimate_prompt_tokens(request)),
                 completion_tokens=_tokens(usage, "completion_tokens", lambda: count_tokens(answer)),
                 upstream_ms=result.latency_ms)
        logged = True

    try:
        # the raw server-sent events, relayed one by one as they arrive: parsed only to set `model`
        # and to collect the answer and usage for the log
        for line in stream.response.iter_lines():
            if not line.startswith("data:"):
                continue  # blank separators, comments, `event:` lines
            payload = line[5:].strip()
            if payload == "[DONE]":
                break
            chunk = json.loads(payload)
            if isinstance(chunk.get("error"), dict):
                raise UpstreamStreamError(chunk["error"].get("message") or "error event")
            if isinstance(chunk.get("usage"), dict):
                usage = chunk["usage"]
            choices = chunk.get("choices") or []
            for choice in choices:  # chat: the delta's content; the legacy completions API: `text`
                piece = (choice.get("delta") or {}).get("content") if "delta" in choice else choice.get("text")
                if choice.get("index", 0) == 0 and isinstance(piece, str):
                    parts.append(piece)
            if not choices and usage is not None and not request.include_usage:
                continue  # the usage chunk the gateway asked for on its own behalf
            chunk["model"] = served.name
            if first:
                first = False
                metrics.time_to_first_chunk.labels(call.operation, request.model, served.name).observe(
                    time.perf_counter() - call.started)
            yield b"data: " + json.dumps(chunk, separators=(",", ":")).encode() + b"\n\n"
        log(Status.FALLBACK if result.fallback else Status.OK)
        yield b"data: [DONE]\n\n"
    except (openai.APIError, TransportError, OSError, ValueError, AttributeError, TypeError,
            UpstreamStreamError) as exc:  # the upstream broke off, or sent something that is not a chunk
        errors.append(f"{served.name}: stream broken: {type(exc).__name__} {exc}")
        log(Status.UPSTREAM_ERROR)
        body = error_body("The upstream stream broke off.", type="upstream_error", code="upstream_stream_error")
        yield b"data: " + json.dumps(body).encode() + b"\n\n"
    finally:  # also on GeneratorExit: the client went away before the end
        release()
        stream.close()
        if not logged:
            log(Status.CLIENT_DISCONNECTED)
        request_id.reset(id_token)


class _Relay:
    """The streamed body: `_relay`'s generator, and a `close()` that also covers a client that left
    before the first chunk (a generator closed before it starts runs no `finally`)."""

    def __init__(self, call: GatewayCall, request: ChatRequest, result: UpstreamResult, release: Callable[[], None]):
        self._call, self._request, self._result, self._release = call, request, result, release
        self._chunks = _relay(call, request, result, release)

    def __iter__(self):
        return self._chunks

    def close(self) -> None:
        import inspect

        if inspect.getgeneratorstate(self._chunks) == inspect.GEN_CREATED:
            self._release()
            self._result.response.close()
            if not self._call.logged:
                self._call.log(status=Status.CLIENT_DISCONNECTED, http_status=200, served=self._result.endpoint,
                               fallback=self._result.fallback, error="; ".join(self._result.errors)[:2000],
                               prompt_tokens=_estimate_prompt_tokens(self._request),
                               upstream_ms=self._result.latency_ms)
        self._chunks.close()
