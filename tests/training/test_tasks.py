"""The Celery tasks of training: the scheduled retrain."""
from __future__ import annotations

import pytest

from feedback.store import preferences_import
from tests.support.paths import FIXTURES
from tests.support.runs import wait_for_run
from training.models import TrainingRun
from training.runs import training_run_execute

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_schedule_retrains_only_when_there_is_something_new(stored_preferences, settings):
    from training.tasks import scheduled_retrain

    settings.ROUTERHUB_EVAL_FILES = []
    settings.ROUTERHUB_ROUTER_PARAMS = {"mf": {"epochs": 2, "batch_size": 32}}
    assert scheduled_retrain().startswith("global: queued run")
    run = TrainingRun.objects.get()
    assert scheduled_retrain() == "global: a run is already queued or running"
    training_run_execute(run_id=run.pk)  # here, or by a test worker that took its task first
    wait_for_run(run, {TrainingRun.Status.SUCCEEDED})
    assert scheduled_retrain() == "global: no new preferences"
    preferences_import(path=FIXTURES / "battles.jsonl")
    assert scheduled_retrain().startswith("global: queued run")
