"""A simulated OpenAI-compatible upstream for the demo and the tests. Not part of the gateway.

RouterHub talks to it over real HTTP exactly as to any provider. It answers deterministically
per (model, conversation): the same request always gets the same text and `usage`. Answers may
be recorded ahead (`--responses FILE` or `POST /_sim/responses`) so that a simulation replays a
data set's real responses. Latency and failures are settable at start and at run time
(`POST /_sim/config`), so tests can make one model fail and watch the gateway fall back.

Endpoints: `GET /v1/models`, `POST /v1/chat/completions` and the legacy `POST /v1/completions`
(streaming and not; chat with `logprobs` when asked as RouteLLM's classifier), `POST /v1/embeddings`,
`GET|POST /_sim/config`, `POST /_sim/responses`, `GET /_sim/stats`, `POST /_sim/stats/reset`.
No Django import: it runs from `manage.py sim_upstream` or from a plain Python process.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from routerhub.tenants.upstream import TOKEN_PATTERN, count_tokens, message_text

_VOCAB = (
    "the answer depends on several factors first consider the problem carefully then we compute "
    "each step so that the result follows clearly in summary this approach works because it "
    "balances accuracy cost and latency for most practical cases note that edge cases matter"
).split()


def prompt_key(prompt: str) -> str:
    return hashlib.sha256(prompt.strip().encode()).hexdigest()


@dataclass
class SimConfig:
    latency_ms: float = 0.0
    chunk_delay_ms: float = 0.0
    failure_rate: float = 0.0
    fail_models: list[str] = field(default_factory=list)
    fail_status: int = 500
    seed: int = 0
    # as an LLM judge (a request with MT-Bench's pairwise markers): "longer" prefers the longer
    # answer (equal lengths: tie); "first" always prefers the first shown (pure position bias)
    judge_rule: str = "longer"


class SimState:
    def __init__(self, config: SimConfig):
        self.config = config
        self.rng = random.Random(config.seed)
        self.lock = threading.Lock()
        self.responses: dict[tuple[str, str], str] = {}  # (model, prompt sha256) -> text
        self.calls: dict[str, int] = {}
        self.failures: dict[str, int] = {}
        # bumped by a stats reset: a call that arrived before it (still in its latency sleep) is not
        # counted after it, so a slow call of one test never shows in the next test's counts
        self.generation = 0

    def update(self, values: dict) -> None:
        with self.lock:
            for key, value in values.items():
                if not hasattr(self.config, key):
                    raise ValueError(f"unknown setting {key!r}")
                setattr(self.config, key, type(getattr(self.config, key))(value))
            if "seed" in values:
                self.rng = random.Random(self.config.seed)

    def should_fail(self, model: str, generation: int) -> bool:
        """Whether this call fails; counted unless the stats were reset since it arrived (`generation`)."""
        with self.lock:
            counted = generation == self.generation
            if counted:
                self.calls[model] = self.calls.get(model, 0) + 1
            fail = model in self.config.fail_models or (
                self.config.failure_rate > 0 and self.rng.random() < self.config.failure_rate)
            if fail and counted:
                self.failures[model] = self.failures.get(model, 0) + 1
            return fail

    def answer(self, model: str, messages: list[dict]) -> str:
        last_user = next((message_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
        judged = _JUDGE_RE.search(last_user)
        if judged:
            return self.judge(judged["a"], judged["b"])
        recorded = self.responses.get((model, prompt_key(last_user)))
        if recorded is not None:
            return recorded
        digest = hashlib.sha256(json.dumps([model, messages], sort_keys=True).encode()).digest()
        n_words = 12 + digest[0] % 40
        words = [_VOCAB[(digest[i % len(digest)] + 7 * i) % len(_VOCAB)] for i in range(n_words)]
        return f"[{model}] " + " ".join(words).capitalize() + "."

    def judge(self, answer_a: str, answer_b: str) -> str:
        """A deterministic pairwise verdict in MT-Bench's format (see `SimConfig.judge_rule`)."""
        if self.config.judge_rule == "first":
            verdict, why = "A", "Assistant A's answer is better."
        elif len(answer_a.strip()) == len(answer_b.strip()):
            verdict, why = "C", "Both answers are equally detailed."
        else:
            verdict = "A" if len(answer_a.strip()) > len(answer_b.strip()) else "B"
            why = f"Assistant {verdict}'s answer is more detailed."
        return f"{why}\n\n[[{verdict}]]"


# A stand-in for RouteLLM's causal-LLM classifier (a fine-tuned Llama-3-8B that rates how well a
# weak model will answer, "[[1]]" to "[[5]]"): asked with RouteLLM's system prompt, the simulated
# upstream rates the question from cues of difficulty (proof and derivation words, code, digits,
# length) and returns the five ratings' log-probabilities. Its routing is only as good as those
# cues: it exists so the router, the gateway and the bench can run without a GPU.
CLASSIFIER_MARKER = "[Instruction]\nBased on the question provided below, predict the score"
_HARD_CUES = re.compile(r"\b(prove|proof|derive|theorem|lemma|integral|step by step|algorithm|implement|function|"
                        r"complexity|compute|calculate|solve|equation|optimi[sz]e|sql|regex|python|java\w*|rust)\b",
                        re.IGNORECASE)


def classifier_logprobs(question: str) -> list[float]:
    """Log-probabilities of the ratings 1-5 for a question: lower ratings for harder-looking ones."""
    cues = len(_HARD_CUES.findall(question)) + sum(ch.isdigit() for ch in question) / 10 + len(question) / 600
    center = max(1.0, 4.8 - 1.3 * cues)
    logits = [-1.5 * abs(rating - center) for rating in range(1, 6)]
    top = max(logits)
    norm = top + math.log(sum(math.exp(v - top) for v in logits))
    return [v - norm for v in logits]


def _classifier_question(messages: list[dict]) -> str | None:
    """The question of a RouteLLM classifier request, else None."""
    if not messages or message_text(messages[0].get("content")).find(CLASSIFIER_MARKER) != 0:
        return None
    user = next((message_text(m.get("content")) for m in messages if m.get("role") == "user"), "")
    match = re.search(r"\[Question\]\n(.*)\n\nPrediction:", user, re.DOTALL)
    return match.group(1) if match else user


_JUDGE_RE = re.compile(r"\[The Start of Assistant A's Answer\]\n(?P<a>.*?)\n\[The End of Assistant A's Answer\]"
                       r".*?\[The Start of Assistant B's Answer\]\n(?P<b>.*?)\n\[The End of Assistant B's Answer\]",
                       re.DOTALL)


def load_responses(path: str) -> list[dict]:
    """Rows of a score-table JSONL (plain or gz) as [{model, prompt, text}] for its `responses`."""
    from training.core.datasets import read_score_rows

    return [{"model": model, "prompt": row["prompt"], "text": text} for row in read_score_rows(path)
            for model, text in (row.get("responses") or {}).items() if isinstance(text, str)]


class SimHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "RouterHubSimUpstream/1.0"
    # headers and body go out in two writes: with Nagle's algorithm on, the body waits for the
    # client's delayed ACK (up to 40 ms per keep-alive request)
    disable_nagle_algorithm = True
    state: SimState  # set on the subclass made by make_server

    def log_message(self, format, *args):  # quiet: tests and benchmarks run many requests
        pass

    # --- plumbing
    def _json(self, status: int, body: dict, headers: dict | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None):
        self._json(status, {"error": {"message": message, "type": type_, "code": code, "param": None}})

    def _body(self) -> dict | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._error(400, "request body is not valid JSON")
            return None
        if not isinstance(body, dict):
            self._error(400, "request body must be a JSON object")
            return None
        return body

    # --- routes
    def do_GET(self):
        if self.path.rstrip("/") == "/v1/models":
            models = sorted({m for m, _ in self.state.responses} | set(self.state.calls))
            self._json(200, {"object": "list", "data": [
                {"id": m, "object": "model", "created": 0, "owned_by": "sim"} for m in models]})
        elif self.path == "/_sim/config":
            self._json(200, asdict(self.state.config))
        elif self.path == "/_sim/stats":
            with self.state.lock:
                self._json(200, {"calls": dict(self.state.calls), "failures": dict(self.state.failures)})
        else:
            self._error(404, f"no route {self.path}", "not_found_error")

    def do_POST(self):
        body = self._body()
        if body is None:
            return
        if self.path.rstrip("/") == "/v1/chat/completions":
            self._chat(body)
        elif self.path.rstrip("/") == "/v1/completions":  # the legacy API: a prompt, answers as `text`
            prompt = body.get("prompt")
            prompt = prompt[0] if isinstance(prompt, list) and len(prompt) == 1 else prompt
            if not isinstance(prompt, str) or not prompt:
                return self._error(400, "prompt must be a non-empty string", code="invalid_prompt")
            self._chat({**body, "messages": [{"role": "user", "content": prompt}]}, legacy=True)
        elif self.path.rstrip("/") == "/v1/embeddings":
            self._embeddings(body)
        elif self.path == "/_sim/config":
            try:
                self.state.update(body)
            except (ValueError, TypeError) as exc:
                return self._error(400, str(exc))
            self._json(200, asdict(self.state.config))
        elif self.path == "/_sim/stats/reset":
            with self.state.lock:
                self.state.calls.clear()
                self.state.failures.clear()
                self.state.generation += 1
            self._json(200, {"calls": {}, "failures": {}})
        elif self.path == "/_sim/responses":
            rows = body.get("responses") or []
            with self.state.lock:
                for row in rows:
                    self.state.responses[(row["model"], prompt_key(row["prompt"]))] = row["text"]
            self._json(200, {"loaded": len(rows)})
        else:
            self._error(404, f"no route {self.path}", "not_found_error")

    def _chat(self, body: dict, legacy: bool = False) -> None:
        model, messages = body.get("model"), body.get("messages")
        if not isinstance(model, str) or not model:
            return self._error(400, "you must provide a model parameter", code="missing_model")
        if not isinstance(messages, list) or not messages:
            return self._error(400, "messages must be a non-empty list", code="invalid_messages")
        config, generation = self.state.config, self.state.generation
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000)
        if self.state.should_fail(model, generation):
            return self._error(config.fail_status, f"simulated upstream failure for {model}", "server_error",
                               "simulated_failure")
        question = None if legacy else _classifier_question(messages)
        logprobs = None
        if question is not None:
            rated = classifier_logprobs(question)
            best = max(range(5), key=lambda i: rated[i])
            text = f"[[{best + 1}]]"
            if body.get("logprobs"):
                top_n = max(0, min(int(body.get("top_logprobs") or 0), 20))
                ranked = sorted(range(5), key=lambda i: -rated[i])[:top_n]
                logprobs = {"content": [{"token": text, "logprob": rated[best], "bytes": list(text.encode()),
                                         "top_logprobs": [{"token": f"[[{i + 1}]]", "logprob": rated[i],
                                                           "bytes": list(f"[[{i + 1}]]".encode())} for i in ranked]}],
                            "refusal": None}
        else:
            text = self.state.answer(model, messages)
        tokens = TOKEN_PATTERN.findall(text)
        max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
        finish = "stop"
        if isinstance(max_tokens, int) and 0 < max_tokens < len(tokens):
            text, tokens, finish = " ".join(tokens[:max_tokens]), tokens[:max_tokens], "length"
        usage = {
            "prompt_tokens": sum(count_tokens(message_text(m.get("content"))) + 4 for m in messages) + 3,
            "completion_tokens": len(tokens),
        }
        usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
        completion_id = f"{'cmpl' if legacy else 'chatcmpl'}-sim{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return self._stream(completion_id, created, model, text, finish, usage if include_usage else None,
                                legacy=legacy)
        if legacy:
            return self._json(200, {
                "id": completion_id, "object": "text_completion", "created": created, "model": model,
                "choices": [{"index": 0, "text": text, "logprobs": None, "finish_reason": finish}], "usage": usage})
        self._json(200, {
            "id": completion_id, "object": "chat.completion", "created": created, "model": model,
            "system_fingerprint": "sim",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                         "logprobs": logprobs, "finish_reason": finish}],
            "usage": usage,
        })

    def _embeddings(self, body: dict) -> None:
        """Deterministic unit vectors seeded by (model, text): same text, same vector."""
        texts = body.get("input")
        texts = [texts] if isinstance(texts, str) else texts
        if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
            return self._error(400, "input must be a string or a non-empty list of strings")
        model, dim = body.get("model") or "sim-embedding", int(body.get("dimensions") or 1536)
        data = []
        for i, text in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(f"{model}\n{text}".encode()).digest()[:8], "big")
            rng = random.Random(seed)
            vector = [rng.gauss(0.0, 1.0) for _ in range(dim)]
            norm = sum(x * x for x in vector) ** 0.5
            data.append({"object": "embedding", "index": i, "embedding": [x / norm for x in vector]})
        tokens = sum(count_tokens(t) for t in texts)
        self._json(200, {"object": "list", "data": data, "model": model,
                         "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    def _stream(self, completion_id, created, model, text, finish, usage, legacy: bool = False) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True

        def chunk(delta: dict, finish_reason=None, usage_=None, choices=True) -> None:
            choice = ({"index": 0, "text": delta.get("content", ""), "logprobs": None, "finish_reason": finish_reason}
                      if legacy else {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason})
            payload = {"id": completion_id, "object": "text_completion" if legacy else "chat.completion.chunk",
                       "created": created, "model": model, "system_fingerprint": "sim",
                       "choices": [choice] if choices else []}
            if usage_ is not None:
                payload["usage"] = usage_
            self.wfile.write(f"data: {json.dumps(payload)}\n\n".encode())
            self.wfile.flush()

        try:
            chunk({"role": "assistant", "content": ""})
            pieces = re.findall(r"\S+\s*", text)
            for piece in pieces:
                if self.state.config.chunk_delay_ms:
                    time.sleep(self.state.config.chunk_delay_ms / 1000)
                chunk({"content": piece})
            chunk({}, finish_reason=finish)
            if usage is not None:
                chunk({}, usage_=usage, choices=False)
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client went away


def make_server(host: str = "127.0.0.1", port: int = 9100, config: SimConfig | None = None) -> ThreadingHTTPServer:
    state = SimState(config or SimConfig())
    handler = type("BoundSimHandler", (SimHandler,), {"state": state})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    server.state = state  # type: ignore[attr-defined]
    return server
