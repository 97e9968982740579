"""The request's log row (`GatewayCall.log`): one INSERT, in a transaction only when a duel may
ride along with it."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from routerhub.gateway.models import RoutedRequest
from routerhub.gateway.services import GatewayCall
from tests.support.factories import TenantFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _logged_statements(tenant) -> list[str]:
    call = GatewayCall(tenant=tenant, api_key=None)
    with CaptureQueriesContext(connection) as queries:
        call.log(status=RoutedRequest.Status.CLIENT_ERROR, http_status=400, error="bad input")
    assert RoutedRequest.objects.filter(pk=call.id, status=RoutedRequest.Status.CLIENT_ERROR).exists()
    return [query["sql"].split()[0].upper() for query in queries.captured_queries]


def test_the_row_alone_is_one_insert_with_no_transaction_round_trips():
    assert _logged_statements(TenantFactory(duel_rate=0)) == ["INSERT"]


def test_asynchronous_commits_put_the_row_in_a_transaction(settings):
    settings.ROUTERHUB_LOG_SYNCHRONOUS_COMMIT = False
    statements = _logged_statements(TenantFactory(duel_rate=0))
    assert statements == ["BEGIN", "SET", "INSERT", "COMMIT"]  # SET LOCAL synchronous_commit needs a transaction
