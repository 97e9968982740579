import json

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import StreamingHttpResponse
from drf_spectacular.utils import extend_schema, extend_schema_serializer, inline_serializer
from rest_framework import serializers
from rest_framework.parsers import JSONParser
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from routerhub.errors import ApiError
from routerhub.gateway.models import RoutedRequest
from routerhub.gateway.schemas import (
    ChatCompletionRequestSerializer,
    ChatCompletionResponseSerializer,
    chat_request_parse,
    completion_request_parse,
)
from routerhub.gateway.selectors import model_names_for_tenant, request_for_tenant
from routerhub.gateway.services import GatewayCall, chat_completion, embeddings_create
from routerhub.logs import request_id_set


class ModelListApi(APIView):
    """`GET /v1/models`: the OpenAI model list of what this tenant may call."""

    @extend_schema_serializer(component_name="Model")
    class OutputSerializer(serializers.Serializer):
        id = serializers.CharField()
        object = serializers.CharField(default="model")
        created = serializers.IntegerField(default=0)
        owned_by = serializers.CharField(default="routerhub")

    @extend_schema(operation_id="v1_models_list", responses=inline_serializer("ModelList", fields={
        "object": serializers.ChoiceField(choices=["list"]),
        "data": OutputSerializer(many=True)}))
    def get(self, request):
        names = model_names_for_tenant(tenant=request.user.tenant)
        data = self.OutputSerializer([{"id": name} for name in names], many=True).data
        return Response({"object": "list", "data": data})


class ModelRetrieveApi(APIView):
    """`GET /v1/models/{model}`: one model of the list (what `client.models.retrieve` asks), or a
    404 `model_not_found`."""

    @extend_schema(operation_id="v1_models_retrieve", responses=ModelListApi.OutputSerializer)
    def get(self, request, model_id):
        if model_id not in model_names_for_tenant(tenant=request.user.tenant):
            raise ApiError(f"The model {model_id!r} does not exist or you do not have access to it.",
                           status_code=404, code="model_not_found", param="model", type="invalid_request_error")
        return Response(ModelListApi.OutputSerializer({"id": model_id}).data)


class ChatCompletionApi(APIView):
    """`POST /v1/chat/completions`: the OpenAI Chat Completions API, routed.

    `model` is `router` (the tenant's default router and threshold), `router-<kind>-<threshold>`
    (RouteLLM's naming, e.g. `router-mf-0.11593`) or a configured model name (no routing). The
    router judges the last user message. Every request after authentication is logged as one
    `RoutedRequest`; its id comes back in `x-routerhub-request-id` for feedback.
    """

    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]  # documents the body; the view reads it raw to check size, JSON and fields

    @extend_schema(request=ChatCompletionRequestSerializer, responses={200: ChatCompletionResponseSerializer},
                   description=__doc__)
    def post(self, request):
        return _gateway_post(request, operation="chat",
                             handle=lambda call, body: chat_completion(call, chat_request_parse(body)))


COMPLETIONS_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["model", "prompt"],
    "properties": {
        "model": {"type": "string", "minLength": 1, "maxLength": 128,
                  "description": "`router`, `router-<kind>-<threshold>`, an alias, or a configured model."},
        "prompt": {"oneOf": [{"type": "string", "minLength": 1},
                             {"type": "array", "minItems": 1, "maxItems": 1, "items": {"type": "string", "minLength": 1}}]},
        "stream": {"type": "boolean"},
        "max_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0, "maximum": 2},
        "top_p": {"type": "number", "minimum": 0, "maximum": 1},
        "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "maxItems": 4}]},
        "seed": {"type": "integer"},
        "user": {"type": "string"},
    },
}
COMPLETIONS_RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["id", "object", "choices", "model"],
    "properties": {
        "id": {"type": "string"}, "object": {"type": "string"}, "created": {"type": "integer"},
        "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object", "properties": {
            "index": {"type": "integer"}, "text": {"type": "string"}, "finish_reason": {"type": ["string", "null"]}}}},
        "usage": {"type": "object"},
    },
}


class CompletionApi(APIView):
    """`POST /v1/completions`: the legacy OpenAI Completions API, routed like chat (the prompt is what
    the router judges) and sent to the chosen model's `/completions`; streaming and not. One prompt
    per request. Logged as one `RoutedRequest` of operation `completions`."""

    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]

    @extend_schema(request={"application/json": COMPLETIONS_REQUEST_SCHEMA},
                   responses={200: COMPLETIONS_RESPONSE_SCHEMA}, description=__doc__)
    def post(self, request):
        return _gateway_post(request, operation="completions",
                             handle=lambda call, body: chat_completion(call, completion_request_parse(body)))


def _gateway_post(request, *, operation: str, handle):
    """Every gateway operation (chat, legacy completions, embeddings): read the body, let
    `handle(call, body)` check, route and call, and answer its Outcome; one log row whatever
    happens (a refusal's, a fault's, or the outcome's)."""
    call = GatewayCall(tenant=request.user.tenant, api_key=request.auth, operation=operation)
    request_id_set(call.id)  # log lines from here on carry the id the response and the row carry
    body = None
    try:
        body = _json_body(request)
        outcome = handle(call, body)
    except ApiError as exc:
        call.log_client_error(http_status=exc.status_code, error=str(exc.detail), body=body)
        exc.headers = {**exc.headers, **call.headers}  # and the request id of the logged failure
        raise
    except Exception as exc:  # a fault of ours: still one log row, then the 500
        if not call.logged:
            try:
                call.log(status=RoutedRequest.Status.SERVER_ERROR, http_status=500,
                         error=f"{type(exc).__name__}: {exc}"[:2000])
            except Exception:  # the database itself may be what failed
                pass
        raise
    if outcome.stream is not None:
        response = StreamingHttpResponse(outcome.stream, status=outcome.status, content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # proxies must not hold the events back
    else:
        response = Response(outcome.body, status=outcome.status)
    for key, value in outcome.headers.items():
        response[key] = value
    return response


EMBEDDINGS_REQUEST_SCHEMA = {
    "type": "object",
    "required": ["model", "input"],
    "properties": {
        "model": {"type": "string", "minLength": 1, "maxLength": 128,
                  "description": "An embedding model configured for the tenant, or an alias of one (not a router)."},
        "input": {"oneOf": [
            {"type": "string", "minLength": 1},
            {"type": "array", "minItems": 1, "maxItems": 2048, "items": {"type": "string", "minLength": 1}},
            {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}},
            {"type": "array", "minItems": 1, "maxItems": 2048,
             "items": {"type": "array", "minItems": 1, "items": {"type": "integer", "minimum": 0}}},
        ]},
        "encoding_format": {"type": "string", "enum": ["float", "base64"]},
        "dimensions": {"type": "integer", "minimum": 1},
        "user": {"type": "string"},
    },
}
EMBEDDINGS_RESPONSE_SCHEMA = {
    "type": "object",
    "required": ["object", "data", "model"],
    "properties": {
        "object": {"type": "string", "enum": ["list"]},
        "data": {"type": "array", "items": {"type": "object", "required": ["object", "index", "embedding"], "properties": {
            "object": {"type": "string"}, "index": {"type": "integer"},
            "embedding": {"oneOf": [{"type": "array", "items": {"type": "number"}}, {"type": "string"}]}}}},
        "model": {"type": "string"},
        "usage": {"type": "object"},
    },
}


class EmbeddingsApi(APIView):
    """`POST /v1/embeddings`: the OpenAI Embeddings API, passed through to the model named (a
    configured endpoint, or an alias of one; not a router). Logged as one `RoutedRequest` of
    operation `embeddings`, with its tokens and cost."""

    renderer_classes = [JSONRenderer]
    parser_classes = [JSONParser]

    @extend_schema(request={"application/json": EMBEDDINGS_REQUEST_SCHEMA},
                   responses={200: EMBEDDINGS_RESPONSE_SCHEMA}, description=__doc__)
    def post(self, request):
        return _gateway_post(request, operation="embeddings", handle=embeddings_create)


def _json_body(request):
    """The parsed JSON body: at most ROUTERHUB_MAX_REQUEST_BYTES (413 beyond), sent with a
    Content-Length or chunked, strict JSON (no NaN or Infinity; 400 otherwise)."""
    limit = settings.ROUTERHUB_MAX_REQUEST_BYTES
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    too_big = ApiError(f"The request body is larger than the limit of {limit} bytes.", status_code=413,
                       code="request_too_large")
    if length > limit:
        _drain(request, length)
        raise too_big
    chunked = not length and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    if chunked and not request.META.get("wsgi.input_terminated"):  # a server that does not de-chunk
        raise ApiError("This server needs a Content-Length; send the body with one (or not chunked).",
                       status_code=411, code="length_required")
    try:
        # a chunked body has no Content-Length, so Django's request.body would read nothing; the
        # server (gunicorn) de-chunks wsgi.input and ends it at the last chunk
        raw = request.META["wsgi.input"].read(limit + 1) if chunked else request.body
    except RequestDataTooBig:
        raise too_big from None
    if len(raw) > limit:
        raise too_big
    try:
        return json.loads(raw, parse_constant=_non_finite)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        raise ApiError(f"We could not parse the JSON body of your request: {exc}.", code="invalid_json") from None
    except RecursionError:
        raise ApiError("The JSON body of your request is nested too deeply.", code="nested_too_deeply") from None


# a refused body up to this size is read and dropped, so the client's keep-alive connection stays
# usable (gunicorn drains only 64 KiB of an unread body and closes the connection beyond that)
DRAIN_MAX_BYTES = 8 * 1024 * 1024


def _drain(request, length: int) -> None:
    if length > DRAIN_MAX_BYTES:
        return
    stream = request.META["wsgi.input"]
    try:
        while stream.read(64 * 1024):
            pass
    except OSError:  # the client went away: nothing to keep usable
        pass


def _non_finite(name: str):
    raise ValueError(f"{name} is not valid JSON (numbers must be finite)")


class RequestDetailApi(APIView):
    """`GET /v1/requests/<id>`: one of the tenant's requests, with its routing decision and feedback.
    Another tenant's request id is a 404, as an unknown one."""

    @extend_schema_serializer(component_name="RoutedRequest")
    class OutputSerializer(serializers.Serializer):
        id = serializers.UUIDField()
        created = serializers.DateTimeField()
        requested_model = serializers.CharField()
        routed_prompt = serializers.CharField()
        router = serializers.SerializerMethodField()
        win_rate = serializers.FloatField(allow_null=True)
        threshold = serializers.FloatField(allow_null=True)
        scores = serializers.DictField(child=serializers.FloatField(),
                                       help_text="The router's rating of each candidate model: P(a beats b) = "
                                                 "σ(r_a − r_b).")
        estimated_cost = serializers.DecimalField(max_digits=14, decimal_places=8, coerce_to_string=False,
                                                  allow_null=True)
        routing_reason = serializers.CharField()
        chosen_model = serializers.CharField()
        served_model = serializers.CharField()
        fallback = serializers.BooleanField()
        stream = serializers.BooleanField()
        status = serializers.CharField()
        http_status = serializers.IntegerField(allow_null=True)
        answer = serializers.CharField()
        prompt_tokens = serializers.IntegerField()
        completion_tokens = serializers.IntegerField()
        cost = serializers.DecimalField(max_digits=14, decimal_places=8, coerce_to_string=False)
        routing_latency_ms = serializers.FloatField(allow_null=True)
        upstream_latency_ms = serializers.FloatField(allow_null=True)
        feedback = serializers.SerializerMethodField()
        preferences = serializers.SerializerMethodField()
        duel = serializers.SerializerMethodField()

        def get_router(self, obj) -> str:
            return f"{obj.router_kind}:v{obj.router_version_id}" if obj.router_version_id else obj.router_kind

        def get_feedback(self, obj) -> dict | None:
            feedback = getattr(obj, "feedback", None)
            return {"rating": feedback.rating, "comment": feedback.comment, "updated": feedback.updated} \
                if feedback else None

        def get_preferences(self, obj) -> list[dict]:
            return [{"model_a": p.model_a, "model_b": p.model_b, "winner": p.winner, "source": p.source}
                    for p in obj.preferences.all()]

        def get_duel(self, obj) -> dict | None:
            """Both answers once the other one is fetched; label it with POST /v1/preferences."""
            duel = getattr(obj, "duel", None)
            if duel is None:
                return None
            return {"status": duel.status, "model_a": duel.model_a, "model_b": duel.model_b,
                    "answer_a": duel.answer_a, "answer_b": duel.answer_b, "winner": duel.winner or None,
                    "labelled_by": duel.labelled_by or None}

    @extend_schema(responses=OutputSerializer)
    def get(self, request, request_id):
        row = request_for_tenant(tenant=request.user.tenant, request_id=request_id, details=True)
        if row is None:
            raise ApiError(f"No request {request_id} for this API key's tenant.", status_code=404,
                           code="request_not_found", type="invalid_request_error")
        return Response(self.OutputSerializer(row).data)
