"""Every way a router version is promoted or rolled back goes through one service
(`training.services.router_version_promote` / `router_version_rollback`) and leaves one audit
row naming who or what did it: the console, the Django admin, a training run's gate, the CLI, and
the traffic simulation (asserted in its own test, tests/training/test_simulate_traffic.py)."""
from __future__ import annotations

import pytest
from django.core.management import call_command

from feedback.store import preferences_import
from routerhub.audit.models import AuditEvent
from tests.conftest import FIXTURES
from training.models import RouterVersion, TrainingRun
from training.runs import training_run_execute

pytestmark = pytest.mark.django_db

PROMOTED, ROLLED_BACK = AuditEvent.Action.VERSION_PROMOTED, AuditEvent.Action.VERSION_ROLLED_BACK


def audit_rows(action: str) -> list[tuple[str, int | None]]:
    return list(AuditEvent.objects.filter(action=action).order_by("id").values_list("actor_name", "router_version_id"))


def test_the_console_audits_promotion_and_rollback(admin_client, admin_user):
    first, second = RouterVersion.objects.create(kind="mf"), RouterVersion.objects.create(kind="mf")
    for version in (first, second):
        assert admin_client.post(f"/console/routers/{version.pk}/promote/").status_code == 302
    admin_client.post(f"/console/routers/{second.pk}/rollback/")
    assert audit_rows(PROMOTED) == [(admin_user.username, first.pk), (admin_user.username, second.pk)]
    assert audit_rows(ROLLED_BACK) == [(admin_user.username, second.pk)]


def test_the_admin_audits_promotion_and_rollback(admin_client, admin_user):
    first, second = RouterVersion.objects.create(kind="sw"), RouterVersion.objects.create(kind="sw")
    url = "/admin/training/routerversion/"
    for version in (first, second):
        admin_client.post(url, {"action": "promote", "_selected_action": [version.pk]})
    admin_client.post(url, {"action": "roll_back", "_selected_action": [second.pk]})
    assert audit_rows(PROMOTED) == [(admin_user.username, first.pk), (admin_user.username, second.pk)]
    assert audit_rows(ROLLED_BACK) == [(admin_user.username, second.pk)]
    event = AuditEvent.objects.filter(action=PROMOTED).first()
    assert event.actor_id == admin_user.pk


def test_a_training_runs_gate_audits_its_promotions(settings):
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")
    settings.ROUTERHUB_EVAL_FILES = [str(FIXTURES / "scores_eval.jsonl")]
    settings.ROUTERHUB_ROUTER_PARAMS = {"mf": {"epochs": 2, "batch_size": 32}}
    settings.ROUTERHUB_AUTO_PROMOTE = True
    run = training_run_execute(run_id=TrainingRun.objects.create(kinds=["mf"]).pk)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.promoted and audit_rows(PROMOTED) == [(f"training run {run.pk}", run.promoted[0])]
    assert AuditEvent.objects.get(action=PROMOTED).actor is None  # no person: the run did it


def test_the_cli_audits_its_promotion():
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")
    call_command("train_router", "--kind", "mf", "--activate", "--param", "epochs=2", "--param", "batch_size=32")
    version = RouterVersion.objects.get(status=RouterVersion.Status.ACTIVE)
    assert audit_rows(PROMOTED) == [("cli: train_router --activate", version.pk)]
