"""routerhub.dbbackend: the health check without a round trip sees a connection the server has
closed, and the client-side deadline ends a round trip the server never answers."""
from __future__ import annotations

import time

import psycopg
import pytest
from django.db import OperationalError, connection, connections

from routerhub.dbbackend.base import DatabaseWrapper
from tests.support.processes import child_database_url

pytestmark = pytest.mark.django_db(transaction=True)


def _admin():
    return psycopg.connect(child_database_url().replace("postgres://", "postgresql://", 1), autocommit=True)


def test_the_health_check_sees_a_connection_the_server_terminated():
    connection.ensure_connection()
    assert connection.is_usable()
    pid = connection.connection.info.backend_pid
    with _admin() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    time.sleep(0.2)  # the server's goodbye reaches the socket
    assert not connection.is_usable()
    connection.close()
    connection.ensure_connection()
    assert connection.is_usable()


def test_a_round_trip_past_the_deadline_is_ended_on_the_client_side():
    wrapper = DatabaseWrapper({**connections["default"].settings_dict, "DEADLINE_S": 0.5}, alias="deadline")
    try:
        wrapper.ensure_connection()
        with _admin() as admin:  # a lock the statement waits on stands for a server that does not answer
            admin.execute("SELECT pg_advisory_lock(4242)")
            started = time.monotonic()
            with pytest.raises(OperationalError), wrapper.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_lock(4242)")
            waited = time.monotonic() - started
        assert 0.4 < waited < 3
        assert not wrapper.is_usable()
    finally:
        wrapper.close()
