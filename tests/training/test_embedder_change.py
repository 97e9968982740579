"""A change of embedder (issue 13: int8 became the default): versions trained on the old vectors
are not served and cannot be promoted; the next start queues a run per scope, which re-embeds the
store and whose candidates replace them whatever the gate says; a demo router is retrained at once.
The change is real here: the process's embedder is swapped for the fp32 one."""
from __future__ import annotations

import pytest

from feedback.models import PreferencePrompt
from routerhub.embeddings import services as embeddings
from routerhub.gateway.registry import RouterRegistry
from tests.support.paths import FIXTURES
from training.core.embeddings import MiniLMEmbedder
from training.demo import demo_router_ensure
from training.models import RouterVersion, TrainingRun
from training.runs import EMBEDDER, embedder_change_queue, scheduled_retrain_queue, training_run_execute
from training.services import PromotionError, router_version_promote

pytestmark = pytest.mark.django_db


@pytest.fixture
def embedder_switched(settings, monkeypatch):
    """After the call, the process embeds with the other MiniLM variant than the configured one."""
    def switch():
        current = embeddings.embedder_get()
        other = MiniLMEmbedder(quantize=not current.quantize, cache_dir=settings.ROUTERHUB_MODEL_CACHE_DIR)
        monkeypatch.setattr(embeddings, "_embedder", other)
        return current.name, other.name
    return switch


def _trained(kind: str, settings) -> RouterVersion:
    settings.ROUTERHUB_EVAL_FILES = [str(FIXTURES / "scores_eval.jsonl")]
    run = training_run_execute(run_id=TrainingRun.objects.create(kinds=[kind]).pk)
    assert run.status == "succeeded", run.error
    return router_version_promote(version=RouterVersion.objects.get(training_run=run), via="test")


def test_versions_on_the_old_vectors_are_retrained_and_replaced(stored_preferences, settings, embedder_switched):
    settings.ROUTERHUB_ROUTER_PARAMS = {"mf": {"epochs": 20, "batch_size": 32}}
    old = _trained("mf", settings)
    before, after = embedder_switched()
    assert old.embedder == before != after and RouterVersion.objects.get(pk=old.pk).on_other_embedder

    registry = RouterRegistry(reload_s=0)
    registry.reload()
    assert registry.get("mf", None) is None  # refused: its scores would be noise on the new vectors
    old.status = "candidate"
    with pytest.raises(PromotionError, match="trained on"):
        router_version_promote(version=old, via="test")  # nor can an admin put it back

    queued = embedder_change_queue(via="test")
    assert [(run.trigger, run.tenant) for run in queued] == [(EMBEDDER, None)]
    assert embedder_change_queue(via="test") == []  # one run per scope
    assert scheduled_retrain_queue() == ["global: a run is already queued or running"]

    run = training_run_execute(run_id=queued[0].pk)
    assert run.status == "succeeded", run.error
    assert set(PreferencePrompt.objects.values_list("embedding_backend", flat=True)) == {after}
    new = RouterVersion.objects.get(kind="mf", status="active", tenant=None)
    assert new.pk != old.pk and new.embedder == after and run.promoted == [new.pk]
    assert run.metrics["mf"]["gate_note"] == f"replaces v{old.pk}, trained on {before} embeddings"
    registry.reload()
    assert registry.get("mf", None).version_id == new.pk
    assert embedder_change_queue(via="test") == []


def test_the_schedule_retrains_a_scope_on_the_old_vectors_without_new_preferences(stored_preferences, settings,
                                                                                  embedder_switched):
    settings.ROUTERHUB_ROUTER_PARAMS = {"mf": {"epochs": 5, "batch_size": 32}}
    _trained("mf", settings)
    assert scheduled_retrain_queue() == ["global: no new preferences"]
    embedder_switched()
    said = scheduled_retrain_queue()
    assert len(said) == 1 and said[0].startswith("global: queued run")


def test_a_demo_router_on_the_old_vectors_is_retrained_at_start(embedder_switched):
    demo = demo_router_ensure(log=lambda line: None)
    assert demo_router_ensure() == []
    embedder_switched()
    assert embedder_change_queue(via="test") == []  # demo data alone: nothing for a real run to train on
    again = demo_router_ensure(log=lambda line: None)
    assert {v.kind for v in again} == {"mf", "sw"} and all(v.is_demo and not v.on_other_embedder for v in again)
    assert not RouterVersion.objects.filter(pk__in=[v.pk for v in demo], status="active").exists()
