"""The OpenAPI schema's shared parts (drf-spectacular): the OpenAI-style error body, documented on
every API operation for each status it can answer with.

`errors_document` is a postprocessing hook (SPECTACULAR_SETTINGS): it adds the `Error` component
and, to every operation under /v1/, the error statuses the gateway answers (400, 401, 404, 413,
415, 429, 431, 500, 503), so a client generated from the schema knows every body it can get.
"""
from __future__ import annotations

ERROR_STATUSES = {
    "400": "Invalid request: the body, a field or a character the gateway cannot store or forward.",
    "401": "No API key, or a wrong or revoked one.",
    "404": "Unknown path, model or request (another tenant's request is unknown too).",
    "411": "A chunked body to a server that cannot read one.",
    "413": "The body is larger than ROUTERHUB_MAX_REQUEST_BYTES.",
    "415": "The body is not JSON.",
    "429": "The tenant's rate limit (rate_limit_exceeded, with Retry-After) or budget (insufficient_quota).",
    "431": "The request headers are larger than 16 KiB in all.",
    "500": "A fault of the server (logged).",
    "503": ("The database did not answer in time (service_unavailable), or every upstream slot of the web "
            "process is taken (server_overloaded); both with Retry-After."),
}

ERROR_SCHEMA = {
    "type": "object",
    "description": "OpenAI's error body.",
    "properties": {"error": {
        "type": "object",
        "properties": {
            "message": {"type": "string"},
            "type": {"type": "string", "examples": ["invalid_request_error"]},
            "code": {"type": ["string", "null"]},
            "param": {"type": ["string", "null"]},
        },
        "required": ["message", "type", "code", "param"],
    }},
    "required": ["error"],
}


UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"


def _tighten(schemas: dict) -> None:
    """What the serializers cannot say on their own: at least one message; a preference is about a
    request (its id) or a prompt given here; ids are UUIDs (`format` alone does not constrain)."""
    chat = schemas.get("ChatCompletionRequest", {}).get("properties", {})
    if "messages" in chat:
        chat["messages"]["minItems"] = 1
    preference = schemas.get("PreferenceInput")
    if preference:
        preference["properties"]["request_id"]["pattern"] = UUID_PATTERN
        preference["anyOf"] = [{"required": ["request_id"], "properties": {"request_id": {"type": "string"}}},
                               {"required": ["prompt"], "properties": {"prompt": {"minLength": 1}}}]
    feedback = schemas.get("FeedbackInput", {}).get("properties", {})
    if "request_id" in feedback:
        feedback["request_id"]["pattern"] = UUID_PATTERN


def errors_document(result, generator, request, public):
    _tighten(result.setdefault("components", {}).setdefault("schemas", {}))
    result["components"]["schemas"]["Error"] = ERROR_SCHEMA
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/v1/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                responses.setdefault(status, {**error, "description": description})
    return result
