"""The one service that changes the version serving a scope (`training.services.router_version_promote`
/ `router_version_rollback`): promotion and rollback walk the version history, are serialized per
scope, and every way a version is promoted or rolled back goes through it and leaves one audit row
naming who or what did it: the console, the Django admin, a training run's gate, the CLI, and the
traffic simulation (asserted in its own test, tests/e2e/test_simulate_traffic.py)."""
from __future__ import annotations

import pytest
from django.core.management import call_command

from feedback.store import preferences_import
from routerhub.audit.models import AuditEvent
from tests.support.paths import FIXTURES
from training.models import RouterVersion, TrainingRun
from training.runs import training_run_execute
from training.services import PromotionError, router_version_promote, router_version_rollback

PROMOTED, ROLLED_BACK = AuditEvent.Action.VERSION_PROMOTED, AuditEvent.Action.VERSION_ROLLED_BACK
ACTIVE = RouterVersion.Status.ACTIVE


def audit_rows(action: str) -> list[tuple[str, int | None]]:
    return list(AuditEvent.objects.filter(action=action).order_by("id").values_list("actor_name", "router_version_id"))


@pytest.mark.django_db
def test_the_console_audits_promotion_and_rollback(admin_client, admin_user):
    first, second = RouterVersion.objects.create(kind="mf"), RouterVersion.objects.create(kind="mf")
    for version in (first, second):
        assert admin_client.post(f"/console/routers/{version.pk}/promote/").status_code == 302
    admin_client.post(f"/console/routers/{second.pk}/rollback/")
    assert audit_rows(PROMOTED) == [(admin_user.username, first.pk), (admin_user.username, second.pk)]
    assert audit_rows(ROLLED_BACK) == [(admin_user.username, second.pk)]


@pytest.mark.django_db
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


@pytest.mark.django_db
def test_a_training_runs_gate_audits_its_promotions(settings):
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")
    settings.ROUTERHUB_EVAL_FILES = [str(FIXTURES / "scores_eval.jsonl")]
    settings.ROUTERHUB_ROUTER_PARAMS = {"mf": {"epochs": 2, "batch_size": 32}}
    settings.ROUTERHUB_AUTO_PROMOTE = True
    run = training_run_execute(run_id=TrainingRun.objects.create(kinds=["mf"]).pk)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.promoted and audit_rows(PROMOTED) == [(f"training run {run.pk}", run.promoted[0])]
    assert AuditEvent.objects.get(action=PROMOTED).actor is None  # no person: the run did it


@pytest.mark.django_db
def test_the_cli_audits_its_promotion():
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")
    call_command("train_router", "--kind", "mf", "--activate", "--param", "epochs=2", "--param", "batch_size=32")
    version = RouterVersion.objects.get(status=RouterVersion.Status.ACTIVE)
    assert audit_rows(PROMOTED) == [("cli: train_router --activate", version.pk)]


def active(kind: str = "mf") -> RouterVersion:
    return RouterVersion.objects.get(kind=kind, tenant__isnull=True, status=ACTIVE)


@pytest.mark.django_db(transaction=True)
def test_promotion_and_rollback_walk_the_history():
    versions = [RouterVersion.objects.create(kind="mf") for _ in range(3)]
    for version in versions:
        router_version_promote(version=version)
    assert active().pk == versions[2].pk
    assert router_version_rollback(version=active()).pk == versions[1].pk
    assert router_version_rollback(version=active()).pk == versions[0].pk  # not back to v3: back in history
    with pytest.raises(PromotionError):
        router_version_rollback(version=active())  # the first global version: no router at all is never an option
    assert active().pk == versions[0].pk
    router_version_promote(version=versions[2])  # promoting a retired version again
    assert router_version_rollback(version=active()).pk == versions[0].pk
    sw = RouterVersion.objects.create(kind="sw")
    with pytest.raises(PromotionError):
        router_version_rollback(version=sw)  # nothing active


@pytest.mark.django_db(transaction=True)
def test_concurrent_promotions_in_one_scope_run_one_after_the_other():
    """Without the scope lock, the second transaction found no active row after waiting (the first
    had retired it) and then broke the one-active-version constraint."""
    import threading

    from django.db import connection

    first = RouterVersion.objects.create(kind="mf")
    router_version_promote(version=first)
    candidates = [RouterVersion.objects.create(kind="mf") for _ in range(4)]
    errors, barrier = [], threading.Barrier(len(candidates))

    def promote(version):
        try:
            barrier.wait()
            router_version_promote(version=version)
        except Exception as exc:  # noqa: BLE001 - collected and asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=promote, args=(v,)) for v in candidates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    active = RouterVersion.objects.get(status=ACTIVE)
    # each promotion replaced the one before it: the history is a chain through all five
    chain, version = [], active
    while version is not None:
        chain.append(version.pk)
        version = version.replaced
    assert sorted(chain) == sorted([first.pk] + [v.pk for v in candidates])


@pytest.mark.django_db(transaction=True)
def test_a_rollback_of_a_version_no_longer_active_changes_nothing():
    first, second, third = (RouterVersion.objects.create(kind="mf") for _ in range(3))
    for version in (first, second):
        router_version_promote(version=version)
    router_version_promote(version=third)  # promoted while someone looked at v2's confirmation page
    with pytest.raises(PromotionError):
        router_version_rollback(version=second)
    assert RouterVersion.objects.get(status=ACTIVE).pk == third.pk
