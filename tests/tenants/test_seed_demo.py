import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from routerhub.tenants.models import ApiKey, ModelEndpoint, Tenant
from routerhub.tenants.selectors import api_key_authenticate


def counts():
    return (ModelEndpoint.objects.count(), Tenant.objects.count(), ApiKey.objects.count(),
            get_user_model().objects.count())


@pytest.mark.django_db
def test_seed_demo_twice_creates_nothing_twice(monkeypatch, settings, tmp_path):
    settings.STATE_DIR = tmp_path
    for name in ("ROUTERHUB_ADMIN_USER", "ROUTERHUB_ADMIN_PASSWORD", "ROUTERHUB_DEMO_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    call_command("seed_demo")
    first = counts()
    call_command("seed_demo")
    assert counts() == first == (5, 1, 1, 1)  # 3 chat models, an embedding model and the classifier
    # the demo tenant routes among a pool of three models named as RouterBench's
    assert sorted(Tenant.objects.get(slug="demo").pool.values_list("name", flat=True)) == [
        "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1", "zero-one-ai/yi-34b-chat"]


@pytest.mark.django_db
def test_seed_demo_uses_credentials_from_the_environment(monkeypatch, settings, tmp_path):
    settings.STATE_DIR = tmp_path
    monkeypatch.setenv("ROUTERHUB_ADMIN_USER", "ops")
    monkeypatch.setenv("ROUTERHUB_ADMIN_PASSWORD", "a-long-demo-password")
    monkeypatch.setenv("ROUTERHUB_DEMO_API_KEY", "rh-demo-key-for-scripts-0001")
    call_command("seed_demo")
    call_command("seed_demo")
    user = get_user_model().objects.get(username="ops")
    assert user.is_staff and user.check_password("a-long-demo-password")
    assert api_key_authenticate(raw_key="rh-demo-key-for-scripts-0001").tenant.slug == "demo"
    assert ApiKey.objects.count() == 1
    assert not (tmp_path / "demo-credentials.txt").exists()  # nothing generated, nothing to show


@pytest.mark.django_db
def test_seed_demo_shows_generated_credentials_once(monkeypatch, settings, tmp_path, capsys):
    settings.STATE_DIR = tmp_path
    for name in ("ROUTERHUB_ADMIN_USER", "ROUTERHUB_ADMIN_PASSWORD", "ROUTERHUB_DEMO_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    call_command("seed_demo")
    first = capsys.readouterr().out
    call_command("seed_demo")
    second = capsys.readouterr().out
    key = next(line.split(": ")[1] for line in first.splitlines() if line.startswith("demo tenant API key"))
    assert api_key_authenticate(raw_key=key) is not None
    assert "API key" not in second and "password" not in second
