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
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
}


def error_body(message: str, *, type: str = "invalid_request_error", code: str | None = None,
               param: str | None = None) -> dict:
    return {"error": {"message": message, "type": type, "code": code, "param": param}}


class ApiError(exceptions.APIException):
    """An error raised by RouterHub code with an OpenAI-style body."""

    def __init__(self, message: str, *, status_code: int = 400, code: str = "invalid_request",
                 param: str | None = None, type: str | None = None):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.param = param
        self.type = type or _TYPES.get(status_code, "api_error")


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
