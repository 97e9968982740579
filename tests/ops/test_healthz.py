import pytest
from django.test import override_settings


@pytest.mark.django_db
def test_healthz_is_200_when_database_and_broker_answer(client):
    response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 200
    assert body["ok"] is True and body["down"] == []
    assert body["database"]["vector"].startswith("0.")
    assert body["broker"]["ok"] is True


@pytest.mark.django_db
def test_healthz_is_503_naming_the_broker_when_it_is_down(client):
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        response = client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["down"] == ["broker"]
    assert body["broker"]["ok"] is False and "Connection" in body["broker"]["error"]
    assert body["database"]["ok"] is True
