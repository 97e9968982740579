"""The console's seed data: a tenant with known traffic, feedback, versions, runs and a duel; and a
staff account with the console's permissions (used by tests/console/conftest.py and the browser test)."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import numpy as np
from django.contrib.auth import get_user_model
from django.utils import timezone

from feedback.models import Duel, Feedback
from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.models import Tenant
from tests.support.factories import TenantFactory
from training.models import RouterVersion, TrainingRun

WIN_RATES = np.round(np.linspace(0.05, 0.95, 60), 4)  # 60 routed requests, evenly spread


def curve_metrics(apgr: float) -> dict:
    lift = (apgr - 0.5) * 0.4  # a better router reaches more quality at the same share
    return {"eval.jsonl": {"apgr": apgr, "cpt50": 0.4, "cpt80": 0.7, "auc": 0.8, "n": 100, "strong_quality": 0.9,
                           "weak_quality": 0.6, "curve": {"share": [0.0, 0.25, 0.5, 0.75, 1.0],
                                                          "quality": [0.6, 0.7 + lift, 0.8, 0.87 + lift / 2, 0.9],
                                                          "threshold": [1.0, 0.75, 0.5, 0.25, 0.0]}}}


@dataclass
class Seeded:
    tenant: Tenant
    requests: list
    v1: RouterVersion
    v2: RouterVersion
    duel: Duel


def seed() -> Seeded:
    tenant = TenantFactory(slug="acme", routing_threshold=0.5)
    rows = []
    for i, win_rate in enumerate(WIN_RATES):
        strong = win_rate >= 0.5
        model = tenant.strong_model if strong else tenant.weak_model
        # 1000 tokens in, 1000 out: strong costs $0.04, weak $0.0004 (see tests.support.factories)
        cost = (model.input_price_per_mtok * 1000 + model.output_price_per_mtok * 1000) / Decimal(1_000_000)
        rows.append(RoutedRequest.objects.create(
            tenant=tenant, routed_prompt=f"question {i}", messages=[{"role": "user", "content": f"question {i}"}],
            requested_model="router", router_kind="mf", win_rate=float(win_rate), threshold=0.5,
            chosen_model=model.name, served_model=model.name, answer=f"answer {i}", status="ok", http_status=200,
            prompt_tokens=1000, completion_tokens=1000, cost=cost))
    # spread over the last six days (newest last), so the time series has a shape
    now = timezone.now()
    for i, row in enumerate(rows):
        RoutedRequest.objects.filter(pk=row.pk).update(created=now - timedelta(hours=2.4 * (len(rows) - 1 - i)))
    RoutedRequest.objects.create(tenant=tenant, routed_prompt="broken", requested_model="router", status="upstream_error",
                                 http_status=502)
    for row in rows[:10]:
        Feedback.objects.create(request=row, tenant=tenant, rating="up" if int(row.routed_prompt.split()[1]) % 2 else "down")
    v1 = RouterVersion.objects.create(kind="mf", metrics=curve_metrics(0.55), data_counts={"battles": 1200})
    run = TrainingRun.objects.create(status="succeeded", kinds=["mf"], progress=1.0, message="done: candidates 2",
                                     log="07:00:00 training on 1500 battles\n07:00:20 mf: eval.jsonl APGR 0.600",
                                     data_counts={"battles": 1500, "by_source": {"thumbs": 300, "shared": 1200}})
    v2 = RouterVersion.objects.create(kind="mf", metrics=curve_metrics(0.60), data_counts={"battles": 1500},
                                      training_run=run)
    run.metrics = {"mf": {"candidate": curve_metrics(0.60), "active": {"version": v1.pk, **curve_metrics(0.55)},
                          "candidate_version": v2.pk}}
    run.save()
    from routerhub.audit.models import AuditEvent
    from training.services import router_version_promote

    router_version_promote(version=v1, via="test seed")
    AuditEvent.objects.all().delete()  # the seed's own promotion is not what the tests look at
    duel = Duel.objects.create(request=rows[0], tenant=tenant, model_a=tenant.strong_model.name,
                               model_b=tenant.weak_model.name, answer_a="strong answer", answer_b="weak answer",
                               status=Duel.Status.AWAITING_LABEL)
    return Seeded(tenant, rows, v1, v2, duel)


def make_operator(username: str = "ops", password: str = "pw-ops-123"):
    """A staff account with the permissions the console's changes need (not a superuser)."""
    from django.contrib.auth.models import Permission

    from routerhub.console.views import PERMISSIONS

    user = get_user_model().objects.create_user(username, password=password, is_staff=True)
    for perm in set(PERMISSIONS.values()):
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user
