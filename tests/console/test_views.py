"""Every console page and action: permissions, CSRF, and what the pages compute."""
from __future__ import annotations

import re
from decimal import Decimal

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from feedback.models import Duel, Preference
from routerhub.audit.models import AuditEvent
from routerhub.tenants.models import ApiKey, Tenant
from tests.support.console import WIN_RATES
from training.models import RouterVersion, TrainingRun

pytestmark = pytest.mark.django_db

PAGES = ["/console/", "/console/tenants/", "/console/tenants/acme/", "/console/routers/", "/console/routers/{v1}/",
         "/console/routers/{v2}/promote/", "/console/training/", "/console/requests/", "/console/requests/{r0}/",
         "/console/arena/", "/console/audit/"]


def urls(seeded):
    return [page.format(v1=seeded.v1.pk, v2=seeded.v2.pk, r0=seeded.requests[0].pk) for page in PAGES]


def test_anonymous_visitors_are_sent_to_the_login_page(client, seeded):
    for url in urls(seeded):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/console/login/?next="), url


def test_signed_in_non_staff_get_403(client, seeded):
    client.force_login(get_user_model().objects.create_user("viewer", password="x"))
    for url in urls(seeded):
        assert client.get(url).status_code == 403, url
    assert client.post(f"/console/routers/{seeded.v2.pk}/promote/").status_code == 403
    assert RouterVersion.objects.get(pk=seeded.v2.pk).status == "candidate"


def test_view_only_staff_may_look_but_not_change(client, seeded):
    client.force_login(get_user_model().objects.create_user("viewer", password="x", is_staff=True))
    assert client.get("/console/tenants/acme/").status_code == 200
    posts = [(f"/console/routers/{seeded.v2.pk}/promote/", {}), (f"/console/routers/{seeded.v1.pk}/rollback/", {}),
             ("/console/tenants/acme/", {"action": "threshold", "mode": "number", "value": "0.3"}),
             ("/console/tenants/acme/", {"action": "create_key", "name": "x"}),
             ("/console/training/", {"kinds": ["mf"]}),
             ("/console/arena/", {"duel": seeded.duel.pk, "choice": "left"})]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert RouterVersion.objects.get(status="active").pk == seeded.v1.pk and not ApiKey.objects.exists()
    assert Tenant.objects.get(slug="acme").routing_threshold == 0.5 and not AuditEvent.objects.exists()


def test_staff_see_every_page(staff_client, seeded):
    for url in urls(seeded):
        response = staff_client.get(url)
        assert response.status_code == 200, url
        assert re.search(r"<title>[^<>]+ · RouterHub</title>", response.content.decode()), url  # plain text


def test_every_post_needs_the_csrf_token(staff, seeded):
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    posts = [(f"/console/routers/{seeded.v2.pk}/promote/", {}), (f"/console/routers/{seeded.v1.pk}/rollback/", {}),
             ("/console/tenants/acme/", {"action": "threshold", "mode": "number", "value": "0.3"}),
             ("/console/tenants/acme/", {"action": "create_key", "name": "x"}),
             ("/console/tenants/acme/", {"action": "revoke_key", "key": "1"}),
             ("/console/tenants/acme/", {"action": "settings", "duel_rate": "0.5"}),
             ("/console/training/", {"kinds": ["mf"]}),
             ("/console/arena/", {"duel": seeded.duel.pk, "choice": "left"}),
             ("/console/logout/", {})]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert Tenant.objects.get(slug="acme").routing_threshold == 0.5 and not ApiKey.objects.exists()
    assert TrainingRun.objects.count() == 1 and Duel.objects.get().status == "awaiting_label"  # the seeded run only
    assert RouterVersion.objects.get(status="active").pk == seeded.v1.pk
    login = client.get("/console/login/")
    assert login.status_code == 200 and b"csrfmiddlewaretoken" in login.content
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.post("/console/login/", {"username": "ops", "password": "pw-ops-123"}).status_code == 403


def test_the_login_page_signs_staff_in(client, staff, seeded):
    response = client.post("/console/login/", {"username": "ops", "password": "pw-ops-123", "next": "/console/"})
    assert response.status_code == 302 and response["Location"] == "/console/"
    assert client.get("/console/").status_code == 200


def test_overview_numbers(staff_client, seeded):
    context = staff_client.get("/console/?tenant=acme&period=7d").context
    stats = context["stats"]
    strong = int((WIN_RATES >= 0.5).sum())
    assert (stats.requests, stats.answered, stats.strong) == (61, 60, strong)
    assert stats.spend == Decimal("0.04") * strong + Decimal("0.0004") * (60 - strong)
    assert stats.spend_reference == Decimal("0.04") * 60  # every request at the strong model's prices
    assert stats.savings == stats.spend_reference - stats.spend
    assert stats.error_rate == pytest.approx(1 / 61) and stats.feedback_rate == pytest.approx(10 / 60)
    thumbs = {row["model"]: row for row in stats.thumbs}
    assert thumbs["weak-model"]["total"] == 10 and thumbs["weak-model"]["up"] == 5
    assert context["win_rate_n"] == 60


def test_a_threshold_from_a_target_share_is_the_quantile_of_the_tenants_win_rates(staff_client, seeded):
    preview = staff_client.get("/console/tenants/acme/?mode=share&value=25")
    assert preview.status_code == 200
    expected = float(np.percentile(WIN_RATES, 75))
    assert preview.context["preview"].threshold == pytest.approx(expected)
    assert preview.context["preview"].strong_share == pytest.approx(np.mean(WIN_RATES >= expected))
    assert Tenant.objects.get(slug="acme").routing_threshold == 0.5  # a preview saves nothing
    staff_client.post("/console/tenants/acme/", {"action": "threshold", "mode": "share", "value": "25"})
    assert Tenant.objects.get(slug="acme").routing_threshold == pytest.approx(expected)
    event = AuditEvent.objects.get(action="threshold_changed")
    assert event.actor_name == "ops" and event.tenant.slug == "acme" and "target strong share 25%" in event.summary


def test_a_tenant_with_little_traffic_is_calibrated_on_the_evaluation_curve(staff_client, seeded):
    from tests.support.factories import TenantFactory

    TenantFactory(slug="quiet")
    response = staff_client.get("/console/tenants/quiet/?mode=share&value=50")
    assert response.context["preview"].threshold == pytest.approx(0.5)  # the curve: share 0.5 at threshold 0.5
    assert "evaluation set" in response.context["calibration"].basis
    assert response.context["preview"].expected_quality == pytest.approx(0.8)


def test_a_bad_threshold_is_refused_and_nothing_changes(staff_client, seeded):
    response = staff_client.post("/console/tenants/acme/", {"action": "threshold", "mode": "number", "value": "1.5"})
    assert response.status_code == 400 and Tenant.objects.get(slug="acme").routing_threshold == 0.5
    assert not AuditEvent.objects.exists()


def test_promotion_and_rollback_change_the_active_version_and_are_audited(staff_client, seeded):
    confirm = staff_client.get(f"/console/routers/{seeded.v2.pk}/promote/")
    assert b"Promote MF v" in confirm.content and RouterVersion.objects.get(pk=seeded.v2.pk).status == "candidate"
    staff_client.post(f"/console/routers/{seeded.v2.pk}/promote/")
    assert RouterVersion.objects.get(status="active").pk == seeded.v2.pk
    staff_client.post(f"/console/routers/{seeded.v2.pk}/rollback/")
    assert RouterVersion.objects.get(status="active").pk == seeded.v1.pk
    events = list(AuditEvent.objects.order_by("created", "id").values_list("action", "actor_name"))
    assert events == [("version_promoted", "ops"), ("version_rolled_back", "ops")]
    page = staff_client.get(f"/console/routers/{seeded.v2.pk}/")
    assert b"rolled back mf v" in page.content  # the audit log is on the version's page
    # nothing before v1: the rollback is refused with a message, and nothing changes
    response = staff_client.post(f"/console/routers/{seeded.v1.pk}/rollback/", follow=True)
    assert b"nothing to roll back to" in response.content
    assert RouterVersion.objects.get(status="active").pk == seeded.v1.pk


def test_api_keys_are_shown_once_and_revoked(staff_client, seeded):
    response = staff_client.post("/console/tenants/acme/", {"action": "create_key", "name": "backend"})
    raw = response.context["new_key"]
    assert raw.startswith("rh-") and raw.encode() in response.content
    key = ApiKey.objects.get(name="backend")
    assert raw.encode() not in staff_client.get("/console/tenants/acme/").content  # never again
    staff_client.post("/console/tenants/acme/", {"action": "revoke_key", "key": key.pk})
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    assert list(AuditEvent.objects.order_by("id").values_list("action", flat=True)) == ["key_created", "key_revoked"]


def test_tenant_settings(staff_client, seeded):
    tenant = seeded.tenant
    data = {"action": "settings", "default_router_kind": "sw", "duel_rate": "0.2", "duel_selection": "active", "strong_model": tenant.strong_model.pk,
            "weak_model": tenant.weak_model.pk, "judge_model": "", "budget_action": "block", "active": "on"}
    staff_client.post("/console/tenants/acme/", data)
    tenant.refresh_from_db()
    assert (tenant.default_router_kind, tenant.duel_rate) == ("sw", 0.2)
    assert AuditEvent.objects.get().action == "tenant_updated"
    bad = staff_client.post("/console/tenants/acme/", {**data, "weak_model": tenant.strong_model.pk})
    assert bad.status_code == 400 and b"must differ" in bad.content


def test_retrain_now_queues_a_run(staff_client, seeded):
    response = staff_client.post("/console/training/", {"tenant": "acme", "kinds": ["mf"]})
    run = TrainingRun.objects.get(status="queued")
    assert response.status_code == 302 and response["Location"] == f"/console/training/{run.pk}/"
    assert run.tenant.slug == "acme" and run.kinds == ["mf"] and run.status == "queued"
    assert AuditEvent.objects.get().action == "retrain_queued"
    assert b"refreshes every 3 s" in staff_client.get(f"/console/training/{run.pk}/").content


def test_requests_are_filtered(staff_client, seeded):
    page = staff_client.get("/console/requests/?tenant=acme&model=weak-model&win_max=0.3&feedback=with").context["page"]
    rows = list(page)
    assert rows and all(r.served_model == "weak-model" and r.win_rate <= 0.3 and r.feedback for r in rows)
    assert staff_client.get("/console/requests/?status=upstream_error").context["page"].paginator.count == 1


def test_the_arena_labels_a_duel_with_the_side_shown(staff_client, seeded):
    from routerhub.console.selectors import arena_swapped

    page = staff_client.get("/console/arena/")
    left = page.context["left"]
    staff_client.post("/console/arena/", {"duel": seeded.duel.pk, "choice": "left"})
    duel = Duel.objects.get()
    assert duel.status == "labelled" and duel.labelled_by == "user:ops"
    assert duel.winner == ("model_a" if left == "strong answer" else "model_b")
    assert left == ("weak answer" if arena_swapped(duel) else "strong answer")
    battle = Preference.objects.get()
    assert (battle.source, battle.judge, battle.tenant_id) == ("duel", "user", seeded.tenant.pk)
    assert b"Nothing to label" in staff_client.get("/console/arena/").content


def test_threshold_changes_in_the_django_admin_are_audited_too(admin_client, seeded):
    tenant = seeded.tenant
    response = admin_client.post(f"/admin/tenants/tenant/{tenant.pk}/change/", {
        "slug": tenant.slug, "name": tenant.name, "default_router_kind": "mf", "routing_threshold": "0.3",
        "strong_model": tenant.strong_model.pk, "weak_model": tenant.weak_model.pk, "duel_rate": "0", "duel_selection": "active",
        "judge_model": "", "budget_action": "block", "active": "on", "api_keys-TOTAL_FORMS": "0", "api_keys-INITIAL_FORMS": "0",
        "api_keys-MIN_NUM_FORMS": "0", "api_keys-MAX_NUM_FORMS": "1000", "aliases-TOTAL_FORMS": "0",
        "aliases-INITIAL_FORMS": "0", "aliases-MIN_NUM_FORMS": "0", "aliases-MAX_NUM_FORMS": "1000"})
    assert response.status_code == 302
    event = AuditEvent.objects.get()
    assert event.action == "threshold_changed" and event.actor_name == "admin" and "(admin)" in event.summary
    assert Tenant.objects.get(pk=tenant.pk).routing_threshold == 0.3


def test_a_tenants_pool_is_set_in_the_console_and_audited(staff_client, seeded):
    tenant = seeded.tenant
    data = {"action": "settings", "default_router_kind": "mf", "duel_rate": "0", "duel_selection": "active", "strong_model": tenant.strong_model.pk,
            "weak_model": tenant.weak_model.pk, "judge_model": "", "budget_action": "block", "active": "on",
            "pool": [tenant.strong_model.pk, tenant.weak_model.pk]}
    page = staff_client.get("/console/tenants/acme/").content.decode()
    assert "per 1M tokens in / out" in page  # each pool choice shows its prices
    assert staff_client.post("/console/tenants/acme/", data).status_code == 302
    assert sorted(tenant.pool.values_list("pk", flat=True)) == sorted([tenant.strong_model.pk, tenant.weak_model.pk])
    event = AuditEvent.objects.get()
    assert event.action == "tenant_updated" and "pool" in event.details
    one = staff_client.post("/console/tenants/acme/", {**data, "pool": [tenant.strong_model.pk]})
    assert one.status_code == 400 and b"two or more models" in one.content
    assert tenant.pool.count() == 2  # nothing changed
