"""`manage.py retrain` (its runs on a real worker: tests/e2e/test_training_runs.py)."""
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from training.models import TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)


def test_retrain_rejects_unknown_kinds():
    with pytest.raises(CommandError) as caught:
        call_command("retrain", "--kinds", "knn")
    assert caught.value.returncode == 2 and not TrainingRun.objects.exists()
