"""`/metrics` (issue 14): after real requests through gunicorn (prometheus-client's multiprocess
mode, as `make run` serves), a scrape from loopback finds each metric with the right counts; other
clients need the bearer token."""
from __future__ import annotations

import httpx
import openai
import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from feedback.models import Duel
from routerhub.tenants.services import api_key_create
from tests.support.gateway import HARD, train_mf_version
from tests.support.processes import gunicorn_start, stop_process
from tests.support.tenants import make_tenant

pytestmark = pytest.mark.django_db(transaction=True)


def _samples(text: str) -> dict:
    """{(name, frozenset(labels)): value} of every sample."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _total(samples: dict, name: str, **labels) -> float:
    return sum(v for (n, ls), v in samples.items() if n == name and set(labels.items()) <= ls)


def test_a_scrape_after_real_requests_counts_each_of_them(sim):
    tenant = make_tenant("acme", sim, default_router_kind="mf", routing_threshold=0.5)
    version = train_mf_version()
    key = api_key_create(tenant=tenant, name="k").raw_key
    server, url = gunicorn_start()
    root = sim.removesuffix("/v1")
    try:
        client = openai.OpenAI(base_url=url, api_key=key, max_retries=0)
        for prompt in HARD[:3]:
            client.chat.completions.create(model="router", messages=[{"role": "user", "content": prompt}])
        chunks = list(client.chat.completions.create(model="router", stream=True,
                                                     messages=[{"role": "user", "content": HARD[3]}]))
        assert chunks
        httpx.post(root + "/_sim/config", json={"fail_models": ["strong-model"], "fail_status": 500})
        fell_back = client.chat.completions.with_raw_response.create(
            model="router", messages=[{"role": "user", "content": HARD[4]}])
        assert fell_back.headers["x-routerhub-model"] == "weak-model"
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="router", messages=[])
        text = httpx.get(url.removesuffix("/v1") + "/metrics", timeout=10).text
    finally:
        httpx.post(root + "/_sim/config", json={"fail_models": []})
        stop_process(server)
    s = _samples(text)
    router = f"mf:v{version.pk}"
    assert _total(s, "routerhub_requests_total", tenant="acme", status="ok", http_status="200") == 4
    assert _total(s, "routerhub_requests_total", tenant="acme", status="fallback") == 1
    assert _total(s, "routerhub_requests_total", tenant="acme", status="client_error", http_status="400") == 1
    assert _total(s, "gen_ai_client_operation_duration_seconds_count", gen_ai_request_model="router") == 6
    assert _total(s, "gen_ai_client_operation_duration_seconds_count", error_type="client_error") == 1
    assert _total(s, "gen_ai_client_token_usage_count", gen_ai_token_type="input") == 5
    assert _total(s, "gen_ai_client_token_usage_count", gen_ai_token_type="output",
                  gen_ai_response_model="strong-model") == 4
    assert _total(s, "gen_ai_client_token_usage_sum", gen_ai_token_type="output") > 0
    assert _total(s, "gen_ai_client_operation_time_to_first_chunk_seconds_count") == 1
    assert _total(s, "routerhub_routing_decisions_total", tenant="acme", router=router, model="strong-model") == 5
    assert _total(s, "routerhub_routing_win_rate_count", tenant="acme", router=router) == 5
    assert _total(s, "routerhub_fallbacks_total", tenant="acme", model="weak-model") == 1
    assert _total(s, "routerhub_upstream_errors_total", model="strong-model", kind="http_500") == 1
    assert _total(s, "routerhub_active_router_version", kind="mf", scope="global") == version.pk
    assert ("routerhub_training_runs", frozenset({("status", "failed")})) in s
    assert _total(s, "routerhub_duels", status="pending") == Duel.objects.filter(status="pending").count()


def test_only_loopback_or_the_bearer_token_may_scrape(settings):
    settings.ROUTERHUB_METRICS_TOKEN = "s3cret"
    far = Client(REMOTE_ADDR="203.0.113.9")
    refused = far.get("/metrics")
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    assert far.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert far.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    # behind the nginx front the client's address is X-Forwarded-For's, whatever REMOTE_ADDR says
    settings.ROUTERHUB_TRUST_X_FORWARDED_FOR = True
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.9").status_code == 403


def test_the_grafana_dashboard_uses_only_metrics_the_service_exports():
    import json
    import re

    from routerhub.ops import metrics as ops_metrics
    from tests.support.paths import REPO

    dashboard = json.loads((REPO / "routerhub" / "ops" / "grafana-dashboard.json").read_text())
    exprs = [re.sub(r"by \([^)]*\)|\{[^}]*\}", "", target["expr"])  # label names and selectors out
             for panel in dashboard["panels"] for target in panel["targets"]]
    used = {name for expr in exprs for name in re.findall(r"\b((?:gen_ai|routerhub)_[a-z_]+)", expr)}
    exported = {sample.name for family in ops_metrics._registry().collect() for sample in family.samples}
    exported |= {family.name for family in ops_metrics._registry().collect()}
    exported |= {name + suffix for name in exported for suffix in ("_bucket", "_sum", "_count", "_total")}
    assert used and used <= exported, used - exported
