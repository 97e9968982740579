"""pytest plugin (`-p tests.pytest_embedded` in pytest.ini): the test run's
Postgres and Redis, set up before pytest-django reads the settings (settings start nothing)."""
import os

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    # importing the project package loads the Celery app, which defaults DJANGO_SETTINGS_MODULE to
    # the production settings: name the test run's settings first, as pytest-django would choose them
    chosen = (getattr(early_config.known_args_namespace, "ds", None) or os.environ.get("DJANGO_SETTINGS_MODULE")
              or early_config.getini("DJANGO_SETTINGS_MODULE"))
    if chosen:
        os.environ["DJANGO_SETTINGS_MODULE"] = chosen
    # a developer's `.env` (for `make run`) does not reach the tests, nor the processes they start
    os.environ.setdefault("ROUTERHUB_ENV_FILE", "off")
    from routerhub.embedded import environment_ensure

    environment_ensure()
    return (yield)
