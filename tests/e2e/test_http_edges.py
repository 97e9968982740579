"""HTTP edges under gunicorn, as `make run` serves (issue 13): a chunked JSON body is read, the
connection stays usable after a 413, and oversized headers get the API's JSON 431, not the
server's HTML page."""
from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import httpx

from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.services import api_key_create
from tests.support.tenants import make_tenant

CHAT = {"model": "weak-model", "messages": [{"role": "user", "content": "hello"}]}  # a plain proxied call


def _key(sim) -> str:
    return api_key_create(tenant=make_tenant("acme", sim), name="edges").raw_key


def test_a_chunked_json_body_is_answered(gunicorn, sim):
    key = _key(sim)

    def chunks():
        body = json.dumps(CHAT).encode()
        yield body[:10]
        yield body[10:]

    response = httpx.post(gunicorn + "/chat/completions", content=chunks(), timeout=30,
                          headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == 200, response.text
    assert RoutedRequest.objects.get(pk=response.headers["x-routerhub-request-id"]).status == "ok"


def test_the_connection_stays_usable_after_a_413(gunicorn, sim, settings):
    key = _key(sim)
    address = urlsplit(gunicorn)
    too_big = json.dumps({**CHAT, "padding": "x" * 1_100_000}).encode()  # over ROUTERHUB_MAX_REQUEST_BYTES
    ok = json.dumps(CHAT).encode()

    def request(body: bytes) -> bytes:
        return (f"POST /v1/chat/completions HTTP/1.1\r\nHost: {address.netloc}\r\nAuthorization: Bearer {key}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body

    with socket.create_connection((address.hostname, address.port), timeout=30) as conn:
        conn.sendall(request(too_big))
        first = _read_response(conn)
        assert first[0] == 413 and json.loads(first[1])["error"]["code"] == "request_too_large"
        conn.sendall(request(ok))  # the same keep-alive connection
        second = _read_response(conn)
        assert second[0] == 200, second


def test_oversized_headers_get_the_apis_json_431(gunicorn, sim):
    key = _key(sim)
    for size in (17_000, 100_000):
        response = httpx.post(gunicorn + "/chat/completions", json=CHAT, timeout=30,
                              headers={"Authorization": f"Bearer {key}", "X-Padding": "p" * size})
        assert response.status_code == 431 and response.json()["error"]["code"] == "request_headers_too_large"


def _read_response(conn: socket.socket) -> tuple[int, bytes]:
    """(status, body) of one HTTP/1.1 response with a Content-Length."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", 0))
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the body")
        body += chunk
    return int(lines[0].split()[1]), body[:length]
