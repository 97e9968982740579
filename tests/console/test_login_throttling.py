"""Sign-in throttling (issue 13, django-axes): after five wrong passwords for one account from one
address, that account is locked out there, the right password included; attempts are rows in the
database, so every web process counts them together."""
from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", ["/console/login/", "/admin/login/"])
def test_five_wrong_passwords_lock_the_account_out_the_right_one_included(client, url):
    get_user_model().objects.create_user("ops", password="pw-ops-123", is_staff=True)
    for _ in range(5):
        wrong = client.post(url, {"username": "ops", "password": "guess"})
        assert wrong.status_code in (200, 429)  # the form again, then the lockout
    locked = client.post(url, {"username": "ops", "password": "pw-ops-123"})
    assert locked.status_code == 429 and "_auth_user_id" not in client.session
    assert b"locked from this address for 15 minutes" in locked.content
    assert AccessAttempt.objects.get(username="ops").failures_since_start >= 5
    # another account from the same address is not locked
    get_user_model().objects.create_user("other", password="pw-other-123", is_staff=True)
    other = client.post(url, {"username": "other", "password": "pw-other-123"})
    assert other.status_code == 302


def test_a_right_password_before_the_limit_resets_the_count(client):
    get_user_model().objects.create_user("ops", password="pw-ops-123", is_staff=True)
    for _ in range(4):
        client.post("/console/login/", {"username": "ops", "password": "guess"})
    assert client.post("/console/login/", {"username": "ops", "password": "pw-ops-123"}).status_code == 302
    client.logout()
    for _ in range(4):  # four more wrong ones: still under the limit after the reset
        client.post("/console/login/", {"username": "ops", "password": "guess"})
    assert client.post("/console/login/", {"username": "ops", "password": "pw-ops-123"}).status_code == 302
