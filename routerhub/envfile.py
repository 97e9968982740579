"""Settings from a `.env` file, for `make run` as for docker-compose.

Precedence, highest first: the process's environment (what the shell or docker-compose sets),
then `.env` at the repository root (or the file ROUTERHUB_ENV_FILE names; `off` reads none), then
the defaults in `routerhub/settings.py`; `NAME=` with nothing after it means unset, so a copy of
`.env.example` changes nothing until filled in. Parsed by django-environ, and read by every entry
point before anything else reads the environment (`routerhub.embedded.environment_ensure`,
`routerhub/settings.py`, `routerhub/gunicorn_conf.py`);
reading it again changes nothing. The test suite reads none (`tests/pytest_embedded.py`).
"""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def envfile_path() -> Path | None:
    """The file to read: ROUTERHUB_ENV_FILE, else `.env` at the repository root; None for `off`."""
    named = os.environ.get("ROUTERHUB_ENV_FILE")
    if named is not None and named.strip().lower() in ("", "off", "none", "0", "false"):
        return None
    return Path(named) if named else REPO / ".env"


def envfile_load() -> Path | None:
    """Put the file's variables into os.environ where they are not set already; the file read, or None."""
    path = envfile_path()
    if path is None or not path.is_file():
        return None
    import environ

    class FileOnly(environ.Env):  # django-environ parses into this mapping, not into os.environ
        ENVIRON: dict[str, str] = {}

    FileOnly.read_env(str(path), overwrite=True)
    for name, value in FileOnly.ENVIRON.items():
        if value != "" and name not in os.environ:  # `NAME=` means unset, as in .env.example
            os.environ[name] = value
    return path
