"""`/healthz`: up or down for anyone, details for staff, an answer within its deadline whatever is stuck."""
import socket
import threading
import time

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings


@pytest.fixture
def staff_client(client, db):
    client.force_login(get_user_model().objects.create_user("ops", password="x", is_staff=True))
    return client


@pytest.mark.django_db
def test_healthz_tells_anonymous_callers_only_up_or_down(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"ok": True, "down": []}  # no versions shown


def test_healthz_shows_staff_the_details(staff_client):
    body = staff_client.get("/healthz").json()
    assert body["ok"] is True and body["down"] == []
    assert body["database"]["vector"].startswith("0.")
    assert body["broker"]["ok"] is True


def test_healthz_is_503_naming_the_broker_when_it_is_down(staff_client):
    with override_settings(CELERY_BROKER_URL="redis://127.0.0.1:1/0"):
        response = staff_client.get("/healthz")
    body = response.json()
    assert response.status_code == 503
    assert body["down"] == ["broker"]
    assert body["broker"]["ok"] is False and "Connection" in body["broker"]["error"]
    assert body["database"]["ok"] is True


def test_healthz_answers_within_its_deadline_when_the_broker_hangs(staff_client, settings):
    """A broker that accepts the connection and never answers (as a paused Redis does)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted = []
    threading.Thread(target=lambda: accepted.append(server.accept()), daemon=True).start()
    settings.ROUTERHUB_HEALTH_DEADLINE_S = 0.5
    try:
        with override_settings(CELERY_BROKER_URL=f"redis://127.0.0.1:{server.getsockname()[1]}/0"):
            started = time.monotonic()
            response = staff_client.get("/healthz")
            elapsed = time.monotonic() - started
    finally:
        server.close()
    assert response.status_code == 503 and response.json()["down"] == ["broker"]
    assert elapsed < 1.0, elapsed
