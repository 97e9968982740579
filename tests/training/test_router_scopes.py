"""Global and per-tenant router versions: a tenant's own version (trained with its feedback) serves
it and nobody else; promotion and rollback are single transactions picked up without a restart."""
from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.management import call_command

from feedback.store import preferences_import
from routerhub.gateway import routing
from routerhub.tenants.models import ModelEndpoint, Tenant
from tests.conftest import FIXTURES
from tests.gateway.conftest import HARD, gateway, make_tenant, mf_version, train_mf_version  # noqa: F401
from training.models import RouterVersion, TrainingRun
from training.runs import training_run_execute
from training.selectors import router_version_serving
from training.services import PromotionError, router_version_promote, router_version_rollback

pytestmark = pytest.mark.django_db(transaction=True)
ACTIVE = RouterVersion.Status.ACTIVE


def served_by(gateway, key: str) -> str:
    raw = gateway.client_for(key).chat.completions.with_raw_response.create(
        model="router", messages=[{"role": "user", "content": HARD[0]}])
    return raw.headers["x-routerhub-router"]


def test_a_tenants_own_version_serves_it_and_nobody_else(gateway, mf_version):
    from routerhub.tenants.services import api_key_create

    other = make_tenant("beta", gateway.sim, default_router_kind="mf")
    other_key = api_key_create(tenant=other, name="t").raw_key
    own = train_mf_version(activate=False, flip=True)
    own.tenant = gateway.tenant
    own.save()
    router_version_promote(version=own)
    routing.registry.reload()
    assert served_by(gateway, gateway.key) == f"mf:v{own.pk}"
    assert served_by(gateway, other_key) == f"mf:v{mf_version.pk}"  # the global version
    assert RouterVersion.objects.get(pk=mf_version.pk).status == ACTIVE  # scopes do not retire each other
    # rolling the tenant's version back hands it to the global version again, without a restart
    assert router_version_rollback(version=own) is None
    routing.registry.reload()
    assert served_by(gateway, gateway.key) == f"mf:v{mf_version.pk}"


def active(kind: str = "mf") -> RouterVersion:
    return RouterVersion.objects.get(kind=kind, tenant__isnull=True, status=ACTIVE)


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


def pair_tenant(slug: str) -> Tenant:
    strong, _ = ModelEndpoint.objects.get_or_create(name="gpt-4-1106-preview", defaults=dict(
        upstream_model="gpt-4", base_url="http://127.0.0.1:9/v1", input_price_per_mtok=Decimal("10")))
    weak, _ = ModelEndpoint.objects.get_or_create(name="mixtral-8x7b-instruct-v0.1", defaults=dict(
        upstream_model="mixtral", base_url="http://127.0.0.1:9/v1", input_price_per_mtok=Decimal("0.6")))
    return Tenant.objects.create(slug=slug, name=slug, strong_model=strong, weak_model=weak)


@pytest.mark.slow
def test_a_tenant_run_on_the_worker_trains_its_own_versions_with_its_feedback(celery_worker_process):
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")  # shared
    tenant = pair_tenant("acme")
    preferences_import(path=FIXTURES / "scores_eval.jsonl", tenant=tenant, source="acme-feedback")  # its own
    call_command("retrain", "--tenant", "acme", "--wait", "--timeout", "180")
    run = TrainingRun.objects.get()
    assert run.status == TrainingRun.Status.SUCCEEDED and run.tenant_id == tenant.pk
    assert run.data_counts["by_source"]["acme-feedback"] > 0  # its feedback is in the training data
    for kind in ("sw", "mf"):
        version = RouterVersion.objects.get(pk=run.metrics[kind]["candidate_version"])
        assert version.tenant_id == tenant.pk and version.status == ACTIVE  # nothing served it before
        assert router_version_serving(kind=kind, tenant=tenant).pk == version.pk
    assert not RouterVersion.objects.filter(tenant__isnull=True).exists()  # the global scope is untouched


def test_a_tenant_run_holds_out_its_newest_feedback_to_measure_in_domain(settings):
    settings.ROUTERHUB_EVAL_FILES = []
    settings.ROUTERHUB_ROUTER_PARAMS = {"mf": {"epochs": 5, "batch_size": 32}}
    settings.ROUTERHUB_EVAL_TENANT_HOLDOUT_MIN = 3
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")
    tenant = pair_tenant("acme")
    preferences_import(path=FIXTURES / "scores_eval.jsonl", tenant=tenant, source="acme-feedback")
    run = training_run_execute(run_id=TrainingRun.objects.create(kinds=["mf"], tenant=tenant).pk)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    own = run.metrics["mf"]["candidate"]["held-out acme feedback"]
    assert own["n"] >= 3 and 0.0 <= own["apgr"] <= 1.0
    assert run.data_counts["held_out_prompts"] >= 4  # 10% of the shared prompts and 10% of its own
    settings.ROUTERHUB_EVAL_TENANT_HOLDOUT_MIN = 10_000  # too few of its own: all of them train
    second = training_run_execute(run_id=TrainingRun.objects.create(kinds=["mf"], tenant=tenant).pk)
    assert "held-out acme feedback" not in second.metrics["mf"]["candidate"]
    assert second.data_counts["battles"] > run.data_counts["battles"]


def test_admin_promotes_and_rolls_back_in_one_click(admin_client):
    first, second = RouterVersion.objects.create(kind="mf"), RouterVersion.objects.create(kind="mf")
    url = "/admin/training/routerversion/"
    for version in (first, second):
        response = admin_client.post(url, {"action": "promote", "_selected_action": [version.pk]}, follow=True)
        assert response.status_code == 200 and f"v{version.pk}" in response.content.decode()
    assert RouterVersion.objects.get(status=ACTIVE).pk == second.pk
    admin_client.post(url, {"action": "roll_back", "_selected_action": [second.pk]}, follow=True)
    assert RouterVersion.objects.get(status=ACTIVE).pk == first.pk
    response = admin_client.post(url, {"action": "roll_back", "_selected_action": [first.pk]}, follow=True)
    assert "nothing to roll back to" in response.content.decode()
    assert RouterVersion.objects.get(status=ACTIVE).pk == first.pk
    from routerhub.audit.models import AuditEvent  # the admin's changes are audited as the console's

    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == [
        "version_promoted", "version_promoted", "version_rolled_back"]


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


def test_a_rollback_of_a_version_no_longer_active_changes_nothing():
    first, second, third = (RouterVersion.objects.create(kind="mf") for _ in range(3))
    for version in (first, second):
        router_version_promote(version=version)
    router_version_promote(version=third)  # promoted while someone looked at v2's confirmation page
    with pytest.raises(PromotionError):
        router_version_rollback(version=second)
    assert RouterVersion.objects.get(status=ACTIVE).pk == third.pk


def test_a_held_out_slice_of_ties_only_is_skipped_not_a_failed_run(settings):
    """Thumbs up on weak answers are ties: a slice of nothing else has no strong-weak gap, so APGR
    is undefined there (NaN, which Postgres' jsonb refuses); the run leaves that set out."""
    from feedback.store import preferences_store
    from training.core.datasets import ParsedBattle

    settings.ROUTERHUB_EVAL_FILES = []
    settings.ROUTERHUB_ROUTER_PARAMS = {"mf": {"epochs": 2, "batch_size": 32}}
    settings.ROUTERHUB_EVAL_TENANT_HOLDOUT_MIN = 2
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")
    tenant = pair_tenant("likes")
    preferences_store(battles=[ParsedBattle(f"Say something nice about day {i}.", "gpt-4-1106-preview",
                                            "mixtral-8x7b-instruct-v0.1", "tie", "thumbs", "", f"like{i}", 0)
                               for i in range(30)], tenant=tenant)
    run = training_run_execute(run_id=TrainingRun.objects.create(kinds=["mf"], tenant=tenant).pk)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert "held-out likes feedback" not in run.metrics["mf"]["candidate"]


def test_auto_promotion_happens_only_over_the_version_the_candidate_was_compared_with():
    from training.runs import candidate_promote

    compared, meanwhile = RouterVersion.objects.create(kind="mf"), RouterVersion.objects.create(kind="mf")
    router_version_promote(version=compared)
    candidate = RouterVersion.objects.create(kind="mf")
    metrics = {"candidate": {"eval": {"apgr": 0.7}}, "active": {"version": compared.pk, "eval": {"apgr": 0.6}}}
    router_version_promote(version=meanwhile)  # an admin promoted another one during the run
    assert not candidate_promote(version=candidate, kind_metrics=metrics)
    assert RouterVersion.objects.get(status=ACTIVE).pk == meanwhile.pk and "an admin decides" in metrics["gate_note"]
    metrics["active"]["version"] = meanwhile.pk  # compared with what serves now: promoted
    assert candidate_promote(version=candidate, kind_metrics=metrics)
    assert RouterVersion.objects.get(status=ACTIVE).pk == candidate.pk
    # a tenant's first own candidate is compared with the global version that serves the tenant
    tenant = pair_tenant("acme")
    own = RouterVersion.objects.create(kind="mf", tenant=tenant)
    assert candidate_promote(version=own, kind_metrics={"active": {"version": candidate.pk}})
    assert router_version_serving(kind="mf", tenant=tenant).pk == own.pk
