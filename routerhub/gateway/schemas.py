"""The Chat Completions request: validation with OpenAI-style errors, and its OpenAPI description.

Validation checks only what the gateway relies on (model, messages, stream, n); every other field
is passed to the upstream untouched, so new OpenAI parameters work without a RouterHub release.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from routerhub.errors import ApiError
from routerhub.tenants.upstream import message_text

ROLES = ("system", "developer", "user", "assistant", "tool", "function")


@dataclass
class ChatRequest:
    model: str
    messages: list[dict]
    stream: bool = False
    include_usage: bool = False  # the client asked for the final usage chunk when streaming
    models: list[str] | None = None  # RouterHub's own: an allow-list within the tenant's pool
    max_cost: float | None = None  # RouterHub's own: the most this request may cost (USD, expected)
    extra: dict = field(default_factory=dict)  # every other field, passed through as is

    @property
    def routed_prompt(self) -> str:
        """What the router judges: the last user message, as RouteLLM does (system prompts and
        earlier turns are not embedded). With no user message, the last message with text."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return message_text(message.get("content"))
        for message in reversed(self.messages):
            text = message_text(message.get("content"))
            if text:
                return text
        return ""


def _invalid(message: str, param: str | None, code: str = "invalid_request") -> ApiError:
    return ApiError(message, status_code=400, code=code, param=param)


# JSON deeper than this is refused: chat bodies (tool schemas included) stay far below it, and the
# log's JSON columns, the upstream SDK and Postgres all recurse over it
MAX_DEPTH = 64


def _unstorable(text: str) -> bool:
    """A NUL (which Postgres text cannot hold) or a lone surrogate (which UTF-8 cannot encode)."""
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def body_check(body) -> None:
    """ApiError(400) for what no part of the gateway can store or forward: nesting deeper than
    MAX_DEPTH, a non-finite number (NaN, ±Infinity, or a literal too large for a float), a string
    or key with a NUL or a lone surrogate. Iterative, so no body can exhaust the stack here."""
    stack = [(body, "", 0)]
    while stack:
        value, path, depth = stack.pop()
        if depth > MAX_DEPTH:
            field_name = path.split("[")[0].split(".")[0]  # the top-level field it is in
            raise _invalid(f"The request body is nested deeper than {MAX_DEPTH} levels (in {field_name!r}).",
                           field_name or None, "nested_too_deeply")
        if isinstance(value, float) and not math.isfinite(value):
            raise _invalid(f"{path or 'the body'} is not a finite number ({value}); JSON numbers must be finite.",
                           path or None, "invalid_number")
        if isinstance(value, str) and _unstorable(value):
            raise _invalid(f"{path or 'the body'} contains a NUL character or a lone UTF-16 surrogate, which cannot "
                           "be stored or forwarded; remove or replace it.", path or None, "invalid_characters")
        if isinstance(value, dict):
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if _unstorable(key):
                    raise _invalid("A key of the request body contains a NUL character or a lone UTF-16 surrogate.",
                                   path or None, "invalid_characters")
                stack.append((item, child, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))


def storable(value, depth: int = 0):
    """`value` with what cannot be stored replaced: NULs and lone surrogates by U+FFFD, non-finite
    numbers by their names, anything deeper than MAX_DEPTH by a marker (for a client error's log row)."""
    if depth > MAX_DEPTH:
        return "[nested too deeply]"
    if isinstance(value, str):
        return "".join("\ufffd" if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in value) \
            if _unstorable(value) else value
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {storable(str(k), depth + 1): storable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [storable(v, depth + 1) for v in value]
    return value


def _content_parts_check(parts: list, param: str) -> None:
    """Content parts are objects with a string `type`; a text part's `text` is a string."""
    for j, part in enumerate(parts):
        where = f"{param}[{j}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise _invalid(f"{where} must be a content part: an object with a string 'type' (e.g. "
                           "{\"type\": \"text\", \"text\": \"...\"}).", where, "invalid_messages")
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            raise _invalid(f"{where}.text must be a string.", f"{where}.text", "invalid_messages")


def chat_request_parse(body) -> ChatRequest:
    """A validated ChatRequest, or ApiError(400) saying what is wrong and where."""
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.", None, "invalid_json")
    body_check(body)
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _invalid("You must provide a model parameter (a string).", "model", "missing_model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("'messages' must be a non-empty list of messages.", "messages", "invalid_messages")
    for i, message in enumerate(messages):
        param = f"messages[{i}]"
        if not isinstance(message, dict):
            raise _invalid(f"{param} must be an object with 'role' and 'content'.", param, "invalid_messages")
        role = message.get("role")
        if role not in ROLES:
            raise _invalid(f"{param}.role must be one of {', '.join(ROLES)}; got {role!r}.", f"{param}.role",
                           "invalid_messages")
        if "content" not in message:
            raise _invalid(f"{param} has no 'content'.", f"{param}.content", "invalid_messages")
        content = message["content"]
        tool_turn = role == "assistant" and (message.get("tool_calls") or message.get("function_call"))
        if content is None and not tool_turn:
            raise _invalid(f"{param}.content may be null only on an assistant message with tool calls.",
                           f"{param}.content", "invalid_messages")
        if content is not None and not isinstance(content, (str, list)):
            raise _invalid(f"{param}.content must be a string or a list of content parts.", f"{param}.content",
                           "invalid_messages")
        if isinstance(content, list):
            _content_parts_check(content, f"{param}.content")
    stream = body.get("stream", False)
    if stream is None:
        stream = False
    if not isinstance(stream, bool):
        raise _invalid("'stream' must be a boolean.", "stream")
    n = body.get("n")
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise _invalid("'n' must be a positive integer.", "n")
    if n is not None and n > 1:
        raise _invalid("n > 1 is not supported by RouterHub: each request is routed to one model and answered "
                       "once. Send n separate requests instead.", "n", "unsupported_parameter")
    stream_options = body.get("stream_options")
    if stream_options is not None and not isinstance(stream_options, dict):
        raise _invalid("'stream_options' must be an object.", "stream_options")
    models = body.get("models")
    if models is not None and (not isinstance(models, list) or not models or len(models) > 64 or not all(
            isinstance(name, str) and name.strip() for name in models)):
        raise _invalid("'models' must be a non-empty list of model names from your pool (GET /v1/models).", "models")
    max_cost = body.get("max_cost")
    if max_cost is not None:
        try:
            max_cost = float(max_cost) if isinstance(max_cost, (int, float)) and not isinstance(max_cost, bool) \
                else None
        except OverflowError:  # an integer too large for a float
            max_cost = None
        if max_cost is None or not 0 <= max_cost < float("inf"):
            raise _invalid("'max_cost' must be a number of USD >= 0.", "max_cost")
    _sampling_check(body)
    extra = {key: value for key, value in body.items() if key not in ("model", "messages", "stream", "models",
                                                                        "max_cost")}
    return ChatRequest(model=model.strip(), messages=messages, stream=stream,
                       include_usage=bool((stream_options or {}).get("include_usage")),
                       models=[name.strip() for name in models] if models else None,
                       max_cost=max_cost, extra=extra)


def completion_request_parse(body) -> ChatRequest:
    """The legacy completions API's body as the gateway's request: its one prompt as the one user
    message (what the router judges and the log keeps; sent upstream as `prompt` again), the rest
    checked and passed through as for chat. A list of several prompts is refused (one routed
    answer per request)."""
    if not isinstance(body, dict):
        raise _invalid("The request body must be a JSON object.", None, "invalid_json")
    body_check(body)  # what cannot be stored or forwarded, named as the client sent it
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if isinstance(prompt, list) and len(prompt) > 1:
        raise _invalid("Several prompts in one request are not supported by RouterHub: each request is routed to "
                       "one model. Send one request per prompt.", "prompt", "unsupported_parameter")
    if not isinstance(prompt, str) or not prompt:
        raise _invalid("'prompt' must be a non-empty string (token arrays are not supported).", "prompt",
                       "invalid_prompt")
    chat = {key: value for key, value in body.items() if key != "prompt"}
    return chat_request_parse({**chat, "messages": [{"role": "user", "content": prompt}]})


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# the documented pass-through fields, checked here so that a wrong type is a 400 from the gateway,
# not an upstream error after a call (others pass through untouched): name -> (check, what)
SAMPLING = {
    "temperature": (lambda v: _number(v) and 0 <= v <= 2, "a number from 0 to 2"),
    "top_p": (lambda v: _number(v) and 0 <= v <= 1, "a number from 0 to 1"),
    "max_tokens": (lambda v: _integer(v) and v >= 1, "a positive integer"),
    "max_completion_tokens": (lambda v: _integer(v) and v >= 1, "a positive integer"),
    "seed": (_integer, "an integer"),
    "user": (lambda v: isinstance(v, str), "a string"),
    "stop": (lambda v: isinstance(v, str) or (isinstance(v, list) and len(v) <= 4
                                              and all(isinstance(x, str) for x in v)),
             "a string or a list of at most 4 strings"),
}


def _sampling_check(body: dict) -> None:
    for name, (check, what) in SAMPLING.items():
        if body.get(name) is not None and not check(body[name]):
            raise _invalid(f"'{name}' must be {what}.", name)


# --- OpenAPI description (validation above is what runs; these only document the shapes)
@extend_schema_field({"oneOf": [
    {"type": "string"},
    {"type": "array", "items": {"type": "object", "properties": {"type": {"type": "string"}}, "required": ["type"]}},
]})
class ContentField(serializers.JSONField):
    """A string or a list of content parts (objects with a string `type`; a text part's `text` is a
    string). Null is also taken on an assistant message with tool calls."""


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 4},
                                {"type": "null"}]})
class StopField(serializers.JSONField):
    """Up to 4 sequences where the model stops."""


class MessageSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=ROLES)
    content = ContentField(help_text="A string, or a list of content parts.")
    name = serializers.CharField(required=False)


class ChatCompletionRequestSerializer(serializers.Serializer):
    model = serializers.CharField(min_length=1, help_text="`router`, `router-<kind>-<threshold>` (e.g. "
                                                          "`router-mf-0.11593`), or a configured model name (no routing).")
    messages = MessageSerializer(many=True, allow_empty=False)
    stream = serializers.BooleanField(required=False, default=False, allow_null=True)
    stream_options = serializers.DictField(required=False, allow_null=True)
    temperature = serializers.FloatField(required=False, min_value=0, max_value=2, allow_null=True)
    top_p = serializers.FloatField(required=False, min_value=0, max_value=1, allow_null=True)
    max_tokens = serializers.IntegerField(required=False, min_value=1, allow_null=True)
    max_completion_tokens = serializers.IntegerField(required=False, min_value=1, allow_null=True)
    stop = StopField(required=False, allow_null=True, help_text="A string or a list of at most 4 strings.")
    seed = serializers.IntegerField(required=False, allow_null=True)
    user = serializers.CharField(required=False, allow_blank=True, allow_null=True)
    n = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=1,
                                 help_text="Only 1 is supported.")
    models = serializers.ListField(child=serializers.CharField(min_length=1), required=False, allow_null=True, min_length=1,
                                   max_length=64,
                                   help_text="RouterHub: route only among these models of the tenant's pool.")
    max_cost = serializers.FloatField(required=False, allow_null=True, min_value=0,
                                      help_text="RouterHub: only models whose expected cost (USD) is at most this.")


class ChatCompletionResponseSerializer(serializers.Serializer):
    id = serializers.CharField()
    object = serializers.CharField(default="chat.completion")
    created = serializers.IntegerField()
    model = serializers.CharField(help_text="The model that answered.")
    choices = serializers.JSONField()
    usage = serializers.JSONField()
