"""The causal-LLM router (issue 15) on the real stack: a training run records and evaluates a
`causal_llm` version against the simulated upstream's stand-in classifier (RouteLLM's prompt,
answered with the ratings' log-probabilities), the gateway routes with it through the official
client, and when the classifier fails or is slow the request still gets its answer from the
strong model, with the reason logged."""
from __future__ import annotations

import math
import time

import httpx
import pytest

from routerhub.devtools.simupstream import classifier_logprobs
from routerhub.gateway import routing
from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.models import ModelEndpoint
from tests.support.gateway import EASY, HARD
from tests.support.paths import FIXTURES
from training.core.routers.causal_llm import strong_win_rate
from training.models import RouterVersion, TrainingRun
from training.runs import training_kinds_default, training_run_execute
from training.services import router_version_promote

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def causal_gateway(gateway, stored_preferences, settings):
    ModelEndpoint.objects.create(name="routellm-classifier", upstream_model="routellm-classifier",
                                 base_url=gateway.sim, timeout_s=5, max_retries=0)
    settings.ROUTERHUB_CAUSAL_LLM_ENDPOINT = "routellm-classifier"
    settings.ROUTERHUB_EVAL_FILES = [str(FIXTURES / "scores_eval.jsonl")]
    assert "causal_llm" in training_kinds_default()
    run = training_run_execute(run_id=TrainingRun.objects.create(kinds=["causal_llm"]).pk)
    assert run.status == "succeeded", run.error
    version = RouterVersion.objects.get(training_run=run)
    assert version.kind == "causal_llm" and version.embedder == "" and version.artifact is None
    assert "apgr" in version.metrics["scores_eval.jsonl"]  # evaluated like SW and MF, one classifier call a prompt
    router_version_promote(version=version, via="test")
    gateway.tenant.default_router_kind = "causal_llm"
    gateway.tenant.save()
    routing.registry.reload()
    gateway.version = version
    return gateway


def ask(gateway, prompt):
    return gateway.client.chat.completions.with_raw_response.create(
        model="router", messages=[{"role": "user", "content": prompt}])


def test_the_classifiers_ratings_route_each_prompt(causal_gateway):
    for prompt, expected in [(HARD[0], "strong-model"), (HARD[4], "strong-model"),
                             (EASY[0], "weak-model"), (EASY[6], "weak-model")]:
        raw = ask(causal_gateway, prompt)
        assert raw.headers["x-routerhub-router"] == f"causal_llm:v{causal_gateway.version.pk}"
        assert raw.headers["x-routerhub-model"] == expected, prompt
        row = RoutedRequest.objects.get(pk=raw.headers["x-routerhub-request-id"])
        assert row.win_rate == pytest.approx(strong_win_rate(classifier_logprobs(prompt)), abs=1e-4)
        assert math.isclose(float(raw.headers["x-routerhub-win-rate"]), row.win_rate, abs_tol=1e-4)


def test_a_failing_or_slow_classifier_falls_back_to_the_strong_model(causal_gateway, settings):
    sim = causal_gateway.sim.removesuffix("/v1")
    httpx.post(f"{sim}/_sim/config", json={"fail_models": ["routellm-classifier"]})
    raw = ask(causal_gateway, EASY[1])
    assert raw.headers["x-routerhub-model"] == "strong-model"
    row = RoutedRequest.objects.get(pk=raw.headers["x-routerhub-request-id"])
    assert row.status == RoutedRequest.Status.OK and row.answer
    assert "router causal_llm" in row.routing_reason and "UpstreamUnavailable" in row.routing_reason

    httpx.post(f"{sim}/_sim/config", json={"fail_models": [], "latency_ms": 1500})
    settings.ROUTERHUB_CAUSAL_LLM_TIMEOUT_S = 0.3
    routing.registry._snapshot.clear()  # reload the version: its call takes the new timeout
    routing.registry.reload()
    started = time.monotonic()
    raw = ask(causal_gateway, EASY[2])
    elapsed = time.monotonic() - started
    row = RoutedRequest.objects.get(pk=raw.headers["x-routerhub-request-id"])
    assert raw.headers["x-routerhub-model"] == "strong-model" and "UpstreamUnavailable" in row.routing_reason
    assert elapsed < 1.5 + 0.3 + 1.0  # the answer's own 1.5 s, the classifier's 0.3 s, and slack
