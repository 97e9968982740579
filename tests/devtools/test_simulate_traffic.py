"""`manage.py simulate_traffic`: what it refuses (the whole simulation on a real worker is in
tests/e2e/test_simulate_traffic.py)."""
from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from routerhub.tenants.models import Tenant
from tests.support.paths import FIXTURES

pytestmark = pytest.mark.django_db(transaction=True)
STRONG, WEAK = "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1"


def test_simulate_traffic_refuses_to_reset_a_real_tenant(sim, tenant):
    with pytest.raises(CommandError) as caught:
        call_command("simulate_traffic", "--scores", str(FIXTURES / "scores_eval.jsonl"), "--strong", STRONG,
                     "--weak", WEAK, "--tenant", tenant.slug)
    assert caught.value.returncode == 2 and Tenant.objects.filter(pk=tenant.pk).exists()


def test_simulate_traffic_rejects_bad_arguments():
    with pytest.raises(CommandError) as caught:
        call_command("simulate_traffic", "--scores", "/nonexistent.jsonl", "--strong", STRONG, "--weak", WEAK)
    assert caught.value.returncode == 2
    with pytest.raises(CommandError) as caught:
        call_command("simulate_traffic", "--scores", str(FIXTURES / "scores_eval.jsonl"), "--strong", STRONG,
                     "--weak", WEAK, "--feedback-rate", "1.5")
    assert caught.value.returncode == 2


def test_one_simulation_per_tenant_at_a_time(sim):
    import psycopg

    from tests.support.processes import child_database_url

    with psycopg.connect(child_database_url(), autocommit=True) as other:  # another simulate_traffic, running
        other.execute("SELECT pg_advisory_lock(hashtext('simulate_traffic:simulation'))")
        with pytest.raises(CommandError) as caught:
            call_command("simulate_traffic", "--scores", str(FIXTURES / "scores_eval.jsonl"), "--strong", STRONG,
                         "--weak", WEAK)
    assert caught.value.returncode == 2 and "another simulate_traffic" in str(caught.value)
    assert not Tenant.objects.filter(slug="simulation").exists()


@pytest.mark.parametrize("bad", [["--duel-selection", "greedy"], ["--seeds", "0,x"], ["--checkpoints", "a"]])
def test_simulate_traffic_rejects_bad_comparison_arguments(bad):
    with pytest.raises(CommandError) as caught:
        call_command("simulate_traffic", "--scores", str(FIXTURES / "scores_eval.jsonl"), "--strong", STRONG,
                     "--weak", WEAK, *bad)
    assert caught.value.returncode == 2
