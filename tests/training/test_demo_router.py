"""A fresh start routes at once (issue 14): the demo router, trained at first start on the
project's demo set, routes the demo tenant's `model="router"` requests (hard prompts to the strong
model, small talk to a cheap one) and says it is a demo router; it is made only once."""
from __future__ import annotations

import openai
import pytest

from feedback.models import Preference
from routerhub.gateway import routing
from routerhub.tenants.services import DEMO_ENDPOINTS, demo_seed
from training.demo import DEMO_SOURCE, demo_router_ensure
from training.models import RouterVersion

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_demo_router_routes_the_demo_tenant_from_the_first_start(live_server, sim):
    demo_seed(upstream_base_url=sim, admin_user="admin", admin_password="pw-for-tests",
              demo_api_key="rh-demo-key-for-tests")
    lines = []
    made = demo_router_ensure(log=lines.append)
    assert {v.kind for v in made} == {"mf", "sw"} and all(v.is_demo and v.status == "active" for v in made)
    assert any("demo router" in line for line in lines)
    assert Preference.objects.filter(source=DEMO_SOURCE).count() == Preference.objects.count() > 100
    assert demo_router_ensure() == []  # once: every kind has its version now
    routing.registry.reload()
    client = openai.OpenAI(base_url=live_server.url + "/v1", api_key="rh-demo-key-for-tests", max_retries=0)
    strong, cheap = DEMO_ENDPOINTS[0][0], {DEMO_ENDPOINTS[1][0], DEMO_ENDPOINTS[2][0]}
    mf = next(v for v in made if v.kind == "mf")
    for prompt, expected in [("Prove that there is no largest prime number, step by step.", {strong}),
                             ("Write a Python function that merges two sorted lists and prove it correct.", {strong}),
                             ("Hello! How is it going?", cheap), ("What is the capital of Italy?", cheap)]:
        raw = client.chat.completions.with_raw_response.create(
            model="router", messages=[{"role": "user", "content": prompt}])
        assert raw.headers["x-routerhub-router"] == f"mf:v{mf.pk}"
        assert raw.headers["x-routerhub-model"] in expected, (prompt, raw.headers["x-routerhub-model"])


def test_with_real_preferences_stored_the_version_is_not_a_demo(stored_preferences):
    made = demo_router_ensure(kinds=["mf"], log=lambda line: None)
    assert len(made) == 1 and not made[0].is_demo
    assert RouterVersion.objects.get(pk=made[0].pk).data_counts["battles"] > 100

