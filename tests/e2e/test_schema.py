"""The live API against its own OpenAPI schema, with Schemathesis (issue 13): every operation, a
bounded number of generated requests each (valid and invalid, NUL characters included), all of
Schemathesis's checks: no server error, every status, header and body documented, invalid data
refused, authentication enforced."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.paths import REPO

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_live_api_matches_its_schema(gateway, mf_version, tmp_path):
    root = gateway.url.removesuffix("/v1")
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{root}/api/schema/", "--checks", "all",
         "--max-examples", "25", "--seed", "1", "--generation-deterministic", "--no-color",
         "--header", f"Authorization: Bearer {gateway.key}", "--request-timeout", "30",
         "--report", "junit", "--report-junit-path", str(tmp_path / "schemathesis.xml")],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
