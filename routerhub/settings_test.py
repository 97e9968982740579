"""Test settings: the same settings, with the test run's Celery traffic kept apart.

Tests share the Redis server with a `make run` (or another checkout's tests) that may be up; the
key prefix, unique per state dir, keeps another worker from taking the tests' tasks.
"""
import hashlib

from routerhub.settings import *  # noqa: F401,F403
from routerhub.settings import STATE_DIR

_run_scope = hashlib.sha1(str(STATE_DIR).encode()).hexdigest()[:8]
CELERY_BROKER_TRANSPORT_OPTIONS = {"global_keyprefix": f"routerhub-test-{_run_scope}:"}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast user creation
