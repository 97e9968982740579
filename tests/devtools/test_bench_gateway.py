"""`manage.py bench_gateway --gateway URL --key KEY`: its load generator against a live gateway and
the simulated upstream, and its check that every answered request left its one log row."""
from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from routerhub.devtools.management.commands.bench_gateway import run_load
from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.models import ModelEndpoint
from routerhub.tenants.services import DEMO_ENDPOINTS

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_bench_measures_a_running_gateway_and_finds_every_row(gateway, capsys):
    ModelEndpoint.objects.create(name=DEMO_ENDPOINTS[0][0], upstream_model="strong-model", base_url=gateway.sim)
    call_command("bench_gateway", "--gateway", gateway.url, "--key", gateway.key, "--requests", "12",
                 "--concurrency", "2", "--rate", "40", "--seed", "3")
    out = capsys.readouterr().out
    assert "most the server can do" in out and "at a fixed 40 req/s" in out
    assert "log rows: 24 stored for 24 answered gateway requests: 0 lost" in out
    # the two warm-up rounds (4 x 2 requests) and the two measured phases, each one row
    assert RoutedRequest.objects.filter(tenant=gateway.tenant, status=RoutedRequest.Status.OK).count() == 8 + 24


def test_the_load_generator_counts_refusals_and_reads_streams_to_their_end(gateway):
    refused = run_load(gateway.url, "not-a-key", "router", ["hello"] * 3, 1, False)
    assert refused["latencies"] == [] and refused["failures"] == ["401"] * 3
    streamed = run_load(gateway.url, gateway.key, "router", [f"stream {i}" for i in range(4)], 2, True, rate=50)
    assert len(streamed["latencies"]) == 4 and streamed["failures"] == [] and len(set(streamed["ids"])) == 4
    rows = RoutedRequest.objects.filter(pk__in=streamed["ids"])
    assert rows.count() == 4 and all(row.stream and row.status == RoutedRequest.Status.OK and row.answer for row in rows)


def test_the_bench_refuses_half_a_gateway():
    with pytest.raises(CommandError, match="go together"):
        call_command("bench_gateway", "--gateway", "http://127.0.0.1:9/v1")


def test_the_bench_refuses_a_gateway_that_does_not_answer_or_a_wrong_key(gateway):
    ModelEndpoint.objects.create(name=DEMO_ENDPOINTS[0][0], upstream_model="strong-model", base_url=gateway.sim)
    with pytest.raises(CommandError, match="does not answer") as refused:
        call_command("bench_gateway", "--gateway", "http://127.0.0.1:9/v1", "--key", "x", "--requests", "4")
    assert refused.value.returncode == 2
    with pytest.raises(CommandError, match="answered 401"):
        call_command("bench_gateway", "--gateway", gateway.url, "--key", "not-a-key", "--requests", "4")
    assert not RoutedRequest.objects.exists()
