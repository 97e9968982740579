"""Before real data (issue 14), the console's overview and training pages say a demo router serves
and exactly what to run; the router pages mark it a demo router."""
from __future__ import annotations

import pytest

from training.demo import demo_router_ensure

pytestmark = pytest.mark.django_db


def test_the_console_says_a_demo_router_serves_and_what_to_run(staff_client):
    made = demo_router_ensure(log=lambda line: None)
    for url in ("/console/", "/console/training/"):
        page = staff_client.get(url).content.decode()
        assert 'id="data-hint"' in page and "import_preferences" in page and "ROUTERHUB_BOOTSTRAP_DATA" in page
        assert "demo router" in page and f"v{made[0].pk}" in page
    page = staff_client.get(f"/console/routers/{made[0].pk}/").content.decode()
    assert 'id="version-demo"' in page
    assert "demo router" in staff_client.get("/console/routers/").content.decode()


def test_the_hint_goes_once_real_preferences_are_stored(staff_client, stored_preferences):
    demo_router_ensure(log=lambda line: None)
    assert 'id="data-hint"' not in staff_client.get("/console/training/").content.decode()
