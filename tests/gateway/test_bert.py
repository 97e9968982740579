"""The BERT-classifier router on the real stack (issue 15): a training run fine-tunes it on the
stored battles' texts with progress on the run's row, evaluates it beside the others, and the
gateway routes with it through the official client (one encoder pass on the routed prompt); the
console lists it."""
from __future__ import annotations

import json

import pytest

from feedback.store import preferences_import
from routerhub.gateway import routing
from routerhub.gateway.models import RoutedRequest
from tests.support.gateway import EASY, HARD
from tests.support.paths import FIXTURES
from training.models import RouterVersion, TrainingRun
from training.runs import training_kinds_default, training_run_execute
from training.services import router_version_promote

pytestmark = pytest.mark.django_db(transaction=True)


def _pair_battles(path):
    """The gateway tenant's pair: the strong model wins hard maths, the weak one small talk."""
    rows = [{"prompt": p, "model_a": "strong-model", "model_b": "weak-model", "winner": winner, "source": "pair"}
            for prompts, winner in ((HARD, "model_a"), (EASY, "model_b")) for p in prompts]
    path.write_text("\n".join(json.dumps(row) for row in rows * 2))
    preferences_import(path=path)


def test_a_run_fine_tunes_it_and_the_gateway_routes_with_it(gateway, stored_preferences, settings, admin_client,
                                                            tmp_path):
    _pair_battles(tmp_path / "pair.jsonl")
    settings.ROUTERHUB_EVAL_FILES = [str(FIXTURES / "scores_eval.jsonl")]
    settings.ROUTERHUB_ROUTER_PARAMS = {"bert": {"epochs": 1, "trainable_layers": 1, "max_length": 64}}
    settings.ROUTERHUB_TRAINING_KINDS = ["sw", "bert"]
    assert training_kinds_default() == ("sw", "bert")
    run = training_run_execute(run_id=TrainingRun.objects.create(kinds=["bert"]).pk)
    assert run.status == "succeeded", run.error
    assert "bert: epoch 1/1" in run.log  # its progress, on the run's row
    version = RouterVersion.objects.get(training_run=run)
    assert version.kind == "bert" and version.artifact and version.embedder == ""
    assert "apgr" in version.metrics["scores_eval.jsonl"]
    router_version_promote(version=version, via="test")
    gateway.tenant.default_router_kind = "bert"
    gateway.tenant.save()
    routing.registry.reload()
    for prompt in (HARD[0], EASY[0]):
        raw = gateway.client.chat.completions.with_raw_response.create(
            model="router", messages=[{"role": "user", "content": prompt}])
        assert raw.headers["x-routerhub-router"] == f"bert:v{version.pk}"
        row = RoutedRequest.objects.get(pk=raw.headers["x-routerhub-request-id"])
        assert 0.0 < row.win_rate < 1.0 and row.routing_reason.startswith("P(strong wins)")
    page = admin_client.get("/console/routers/")
    assert page.status_code == 200 and f"v{version.pk}".encode() in page.content and b"BERT" in page.content.upper()
