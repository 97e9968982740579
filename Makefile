# The two commands: `make run` (the whole service) and `make test` (the whole test suite);
# `make test-fast` leaves out the slow end-to-end tests (tests/e2e/: real workers, gunicorn, a browser).
# Both set up everything on a fresh machine with Python 3.11: .venv, requirements, embedded
# Postgres + pgvector and Redis when DATABASE_URL / CELERY_BROKER_URL are not set.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test test-fast lint venv migrate clean-state

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

run: venv
	$(PY) manage.py runstack

# the layer contracts (.importlinter) and the lint rules (ruff.toml), then the tests
lint: venv
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .

test: lint
	$(PY) -m pytest

test-fast: lint
	$(PY) -m pytest -m "not slow"

migrate: venv
	$(PY) manage.py migrate
