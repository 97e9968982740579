"""`manage.py train_router` (its audited promotion: tests/training/test_services.py)."""
import pytest
from django.core.management import call_command

from tests.support.paths import FIXTURES
from training.models import RouterVersion


@pytest.mark.django_db
def test_train_router_activate_keeps_one_active_version_per_kind():
    call_command("import_preferences", str(FIXTURES / "scores_train.jsonl.gz"))
    call_command("train_router", "--kind", "mf", "--param", "epochs=2", "--activate")
    call_command("train_router", "--kind", "mf", "--param", "epochs=2", "--activate")
    assert RouterVersion.objects.filter(kind="mf", status="active").count() == 1
    assert RouterVersion.objects.filter(kind="mf", status="retired").count() == 1
    active = RouterVersion.objects.get(kind="mf", status="active")
    assert active.artifact_sha256 and active.data_counts["battles"] == 48 * 3
