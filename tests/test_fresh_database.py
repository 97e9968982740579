"""The first start on an empty database (found by a fresh-clone check): nothing may query the
database while the project is imported or checked, before `migrate` has made the tables."""
from __future__ import annotations

import subprocess
import sys
import uuid
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from tests.support.paths import REPO
from tests.support.processes import child_database_url, child_env


@pytest.mark.django_db
def test_migrate_runs_on_an_empty_database():
    url = child_database_url().replace("postgres://", "postgresql://", 1)
    name = f"routerhub_empty_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        empty = urlunsplit(urlsplit(url)._replace(path="/" + name))
        env = {**child_env(DATABASE_URL=empty), "DJANGO_SETTINGS_MODULE": "routerhub.settings"}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        for command in (["check"], ["migrate", "--noinput", "-v", "0"]):
            result = subprocess.run([sys.executable, "manage.py", *command], cwd=REPO, env=env, capture_output=True,
                                    text=True, timeout=300)
            assert result.returncode == 0, result.stderr[-2000:]
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
