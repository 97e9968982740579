"""OpenAI-style error bodies: `{"error": {"message", "type", "code", "param"}}`."""
from __future__ import annotations

from rest_framework import exceptions, status
from rest_framework.views import exception_handler

_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    411: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    431: "invalid_request_error",
    500: "server_error",
}


def error_body(message: str, *, type: str = "invalid_request_error", code: str | None = None,
               param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type, "code": code, "param": param}}


class ApiError(exceptions.APIException):
    """An error raised by RouterHub code with an OpenAI-style body."""

    def __init__(self, message: str, *, status_code: int = 400, code: str = "invalid_request",
                 param: str | None = None, type: str | None = None, headers: dict | None = None):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.param = param
        self.type = type or _TYPES.get(status_code, "api_error")
        self.headers = dict(headers or {})  # e.g. Retry-After


def _database_unavailable(exc) -> bool:
    """A database error that means "not now" (unreachable, timed out, cancelled), not a bug of ours
    (bad SQL, a broken constraint), which stays a 500."""
    from django.db import DatabaseError, IntegrityError, ProgrammingError

    return isinstance(exc, DatabaseError) and not isinstance(exc, (ProgrammingError, IntegrityError))


def _flatten(detail, prefix: str = "") -> tuple[str, str | None]:
    """First message of a DRF error detail, with the field it belongs to."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            field = key if key != "non_field_errors" else None
            message, param = _flatten(value, f"{prefix}.{key}" if prefix else key)
            return message, param or (f"{prefix}.{key}" if prefix else field)
    if isinstance(detail, list) and detail:
        return _flatten(detail[0], prefix)
    return str(detail), (prefix or None)


def openai_exception_handler(exc, context):
    if _database_unavailable(exc):
        from rest_framework.response import Response

        return Response(error_body("The database did not answer in time or is unavailable; nothing was "
                                   "half-written. Retry in a few seconds.", type="server_error",
                                   code="service_unavailable"), status=503, headers={"Retry-After": "5"})
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, ApiError):
        body = error_body(str(exc.detail), type=exc.type, code=exc.get_codes(), param=exc.param)
    elif isinstance(exc, (exceptions.NotAuthenticated, exceptions.AuthenticationFailed)):
        message = str(exc.detail) if isinstance(exc, exceptions.AuthenticationFailed) else (
            "You didn't provide an API key. Send 'Authorization: Bearer <api key>'.")
        body = error_body(message, type="invalid_request_error", code="invalid_api_key")
        response.status_code = status.HTTP_401_UNAUTHORIZED
    elif isinstance(exc, exceptions.ValidationError):
        message, param = _flatten(exc.detail)
        if param and param not in message:
            message = f"{param}: {message}"
        body = error_body(message, code="invalid_request", param=param)
    elif isinstance(exc, exceptions.ParseError):
        body = error_body(f"Could not parse the request body as JSON: {exc.detail}", code="invalid_json")
    else:
        message, _ = _flatten(exc.detail)
        body = error_body(message, type=_TYPES.get(response.status_code, "api_error"),
                          code=str(exc.get_codes()) if isinstance(exc.get_codes(), str) else None)
    response.data = body
    for key, value in (getattr(exc, "headers", None) or {}).items():
        response[key] = value
    return response


# --- Django's error views: OpenAI-style JSON under /v1/, Django's own pages elsewhere
def _api_path(request) -> bool:
    return request.path.startswith("/v1/") or request.path == "/v1"


def _json_error(status_code: int, message: str, code: str):
    from django.http import JsonResponse

    return JsonResponse(error_body(message, type=_TYPES.get(status_code, "api_error"), code=code), status=status_code)


def bad_request(request, exception=None):
    if _api_path(request):
        return _json_error(400, "The request could not be read (malformed or too large).", "invalid_request")
    from django.views import defaults

    return defaults.bad_request(request, exception)


def not_found(request, exception=None):
    if _api_path(request):
        return _json_error(404, f"Unknown path {request.path!r} (or an id that is not valid there); see "
                                "GET /api/schema/ for the API.", "not_found")
    from django.views import defaults

    return defaults.page_not_found(request, exception)


def server_error(request):
    if _api_path(request):
        return _json_error(500, "The server failed on this request; it was logged. Retry later.", "server_error")
    from django.views import defaults

    return defaults.server_error(request)


# request headers larger than this (all of them together) are refused before any view runs
MAX_HEADER_BYTES = 16 * 1024


class HeaderLimitMiddleware:
    """431 for request headers over MAX_HEADER_BYTES in all: OpenAI JSON under /v1/, plain text
    elsewhere. The web server (gunicorn_conf) lets larger headers through to here, up to its own
    far larger limit, so that a client gets this answer rather than the server's HTML page."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        size = sum(len(key) + len(str(value)) for key, value in request.META.items()
                   if key.startswith("HTTP_"))
        if size > MAX_HEADER_BYTES:
            message = f"The request headers are larger than {MAX_HEADER_BYTES} bytes in all."
            if _api_path(request):
                return _json_error(431, message, "request_headers_too_large")
            from django.http import HttpResponse

            return HttpResponse(message, status=431, content_type="text/plain")
        return self.get_response(request)
