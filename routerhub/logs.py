"""Structured logs: every line as one JSON object (python-json-logger), with the id of the request
it belongs to. The gateway's request id is the one it answers in `x-routerhub-request-id` and logs
as the request's row, so a log line, a response and a row can be matched; other requests get one
from `RequestIdMiddleware` (or keep the `X-Request-ID` a client or proxy sent). Lines outside any
request carry none. `ROUTERHUB_LOG_FORMAT=text` gives the plain lines instead.
"""
from __future__ import annotations

import contextvars
import logging
import re
import uuid

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("routerhub_request_id", default="")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdFilter(logging.Filter):
    """Puts the current request's id on every record (`request_id`, empty outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        return True


def request_id_set(value) -> contextvars.Token:
    return request_id.set(str(value))


class RequestIdMiddleware:
    """A request's id for its log lines: the client's `X-Request-ID` when it is a plain token, else a
    new one (the gateway replaces it with its own request id as soon as it has one)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sent = request.META.get("HTTP_X_REQUEST_ID", "")
        token = request_id.set(sent if _SAFE_ID.match(sent) else uuid.uuid4().hex)
        try:
            return self.get_response(request)
        finally:
            request_id.reset(token)
