"""The first start with data (issue 14): ROUTERHUB_BOOTSTRAP_DATA's files are imported and trained
on by one training run, whose real versions replace the demo router; a later start imports only
what is new, and queues nothing when nothing is new and no demo router serves."""
from __future__ import annotations

import shutil

import pytest

from feedback.models import Preference
from tests.support.paths import FIXTURES
from training.demo import DEMO_SOURCE, demo_router_ensure
from training.models import RouterVersion, TrainingRun
from training.runs import BOOTSTRAP, bootstrap_files, bootstrap_queue, training_run_execute

pytestmark = pytest.mark.django_db


@pytest.fixture
def bootstrap_dir(tmp_path, settings):
    folder = tmp_path / "data"
    folder.mkdir()
    shutil.copy(FIXTURES / "scores_train.jsonl.gz", folder)
    settings.ROUTERHUB_BOOTSTRAP_DATA = str(folder)
    settings.ROUTERHUB_EVAL_FILES = [str(FIXTURES / "scores_eval.jsonl")]
    settings.ROUTERHUB_ROUTER_PARAMS = {"mf": {"epochs": 60, "batch_size": 32}}
    settings.ROUTERHUB_AUTO_PROMOTE = False  # the demo router is replaced whatever the gate says
    return folder


def test_bootstrap_data_replaces_the_demo_router_and_is_imported_once(bootstrap_dir):
    demo = demo_router_ensure(log=lambda line: None)
    assert all(v.is_demo for v in demo)
    assert bootstrap_files() == [bootstrap_dir / "scores_train.jsonl.gz"]
    assert bootstrap_queue(via="test") is not None  # queued (its message is sent only on commit)
    TrainingRun.objects.all().delete()

    run = training_run_execute(run_id=TrainingRun.objects.create(trigger=BOOTSTRAP, kinds=["mf", "sw"]).pk)
    assert run.status == "succeeded", run.error
    assert list(run.data_counts["bootstrap_files"].values())[0]["created"] > 100
    assert set(run.data_counts["by_source"]) == {"fixture"}  # the demo set is left out once real data is there
    assert Preference.objects.filter(source=DEMO_SOURCE).exists()
    active = RouterVersion.objects.filter(status="active", tenant=None)
    assert {v.kind for v in active} == {"mf", "sw"} and not any(v.is_demo for v in active)
    assert sorted(run.promoted) == sorted(v.pk for v in active)
    assert all(m.get("gate_note") == "replaces the demo router" for m in run.metrics.values())

    assert bootstrap_queue(via="test") is None  # nothing new, no demo router: nothing to do
    (bootstrap_dir / "more.jsonl").write_text((FIXTURES / "battles.jsonl").read_text())
    assert bootstrap_queue(via="test") is not None  # a new file: a new run
    TrainingRun.objects.filter(status="queued").delete()
    again = training_run_execute(run_id=TrainingRun.objects.create(trigger=BOOTSTRAP, kinds=["mf"]).pk)
    assert again.status == "succeeded", again.error
    assert [key.split(":")[0].rsplit("/", 1)[1] for key in again.data_counts["bootstrap_files"]] == ["more.jsonl"]


def test_a_run_with_nothing_stored_says_what_to_run():
    run = training_run_execute(run_id=TrainingRun.objects.create(kinds=["mf"]).pk)
    assert run.status == "failed" and "import_preferences" in run.error and "ROUTERHUB_BOOTSTRAP_DATA" in run.error
