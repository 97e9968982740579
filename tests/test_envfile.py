"""Settings from `.env` (issue 14): the environment first, then the file, then the defaults; for
every entry point, gunicorn's configuration included (its defaults come after the file)."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.paths import REPO
from tests.support.processes import child_env

pytestmark = pytest.mark.django_db

SHOW = "from django.conf import settings; print(settings.ROUTERHUB_HEALTH_DEADLINE_S)"


def _run(code: str, env_file, **env) -> str:
    environment = {**child_env(ROUTERHUB_ENV_FILE=str(env_file)), **env}
    for name in ("ROUTERHUB_HEALTH_DEADLINE_S", "ROUTERHUB_DB_STATEMENT_TIMEOUT_MS"):
        if name not in env:
            environment.pop(name, None)
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=environment, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_environment_wins_over_the_file_which_wins_over_the_defaults(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("# a comment\nROUTERHUB_HEALTH_DEADLINE_S=0.5\nROUTERHUB_DB_STATEMENT_TIMEOUT_MS=3000\n")
    django = "import django; django.setup(); " + SHOW
    assert _run(django, env_file).strip() == "0.5"  # from the file
    assert _run(django, env_file, ROUTERHUB_HEALTH_DEADLINE_S="0.6").strip() == "0.6"  # the environment wins
    assert _run(django, tmp_path / "missing.env").strip() == "0.8"  # no file: the default
    assert _run(django, "off").strip() == "0.8"
    assert _run(django, REPO / ".env.example").strip() == "0.8"  # a copy of the example: every default holds
    env_file.write_text("ROUTERHUB_HEALTH_DEADLINE_S=\n")  # `NAME=` means unset
    assert _run(django, env_file).strip() == "0.8"
    env_file.write_text("ROUTERHUB_DB_STATEMENT_TIMEOUT_MS=3000\n")
    # gunicorn's configuration sets its defaults only where neither the environment nor the file did
    gunicorn = "import os, routerhub.gunicorn_conf; print(os.environ['ROUTERHUB_DB_STATEMENT_TIMEOUT_MS'])"
    assert _run(gunicorn, env_file) == "3000"
    assert _run(gunicorn, "off") == "15000"
