"""Seeded data for the console: a tenant with known traffic, feedback, versions, runs and a duel."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import pytest
from django.contrib.auth import get_user_model

from feedback.models import Duel, Feedback
from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.models import Tenant
from tests.factories import TenantFactory
from training.models import RouterVersion

WIN_RATES = np.round(np.linspace(0.05, 0.95, 60), 4)  # 60 routed requests, evenly spread


def curve_metrics(apgr: float) -> dict:
    return {"eval.jsonl": {"apgr": apgr, "cpt50": 0.4, "cpt80": 0.7, "auc": 0.8, "n": 100, "strong_quality": 0.9,
                           "weak_quality": 0.6, "curve": {"share": [0.0, 0.5, 1.0], "quality": [0.6, 0.8, 0.9],
                                                          "threshold": [1.0, 0.5, 0.0]}}}


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
        # 1000 tokens in, 1000 out: strong costs $0.04, weak $0.0004 (see tests.factories)
        cost = (model.input_price_per_mtok * 1000 + model.output_price_per_mtok * 1000) / Decimal(1_000_000)
        rows.append(RoutedRequest.objects.create(
            tenant=tenant, routed_prompt=f"question {i}", messages=[{"role": "user", "content": f"question {i}"}],
            requested_model="router", router_kind="mf", win_rate=float(win_rate), threshold=0.5,
            chosen_model=model.name, served_model=model.name, answer=f"answer {i}", status="ok", http_status=200,
            prompt_tokens=1000, completion_tokens=1000, cost=cost))
    RoutedRequest.objects.create(tenant=tenant, routed_prompt="broken", requested_model="router", status="upstream_error",
                                 http_status=502)
    for row in rows[:10]:
        Feedback.objects.create(request=row, tenant=tenant, rating="up" if int(row.routed_prompt.split()[1]) % 2 else "down")
    v1 = RouterVersion.objects.create(kind="mf", metrics=curve_metrics(0.55))
    v2 = RouterVersion.objects.create(kind="mf", metrics=curve_metrics(0.60))
    from training.services import router_version_activate

    router_version_activate(version=v1)
    duel = Duel.objects.create(request=rows[0], tenant=tenant, model_a=tenant.strong_model.name,
                               model_b=tenant.weak_model.name, answer_a="strong answer", answer_b="weak answer",
                               status=Duel.Status.AWAITING_LABEL)
    return Seeded(tenant, rows, v1, v2, duel)


@pytest.fixture
def seeded(db) -> Seeded:
    return seed()


@pytest.fixture
def staff(db):
    return get_user_model().objects.create_user("ops", password="pw-ops-123", is_staff=True)


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client
