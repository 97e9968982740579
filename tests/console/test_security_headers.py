"""Browser security headers (issue 13): a Content-Security-Policy that forbids inline scripts on
every HTML page (and so no template may need one), and HSTS on HTTPS requests."""
from __future__ import annotations

import re

import pytest

from tests.support.paths import REPO

pytestmark = pytest.mark.django_db


def test_html_pages_carry_a_policy_that_forbids_inline_scripts(client):
    for url in ("/console/login/", "/admin/login/"):
        policy = client.get(url)["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
        assert directives["script-src"] == "'self'" and directives["frame-ancestors"] == "'none'", url


def test_no_template_has_an_inline_script_or_handler():
    for path in (REPO / "templates").rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"\son[a-z]+\s*=", text), f"{path}: an inline event handler"
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"{path}: an inline script"


def test_https_requests_get_hsts(client):
    response = client.get("/console/login/", secure=True)
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert "Strict-Transport-Security" not in client.get("/console/login/")  # never on plain HTTP
