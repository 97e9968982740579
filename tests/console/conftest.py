"""The console's fixtures: the seeded data (tests/support/console.py) and a signed-in operator."""
from __future__ import annotations

import pytest

from tests.support.console import Seeded, make_operator, seed


@pytest.fixture
def seeded(db) -> Seeded:
    return seed()


@pytest.fixture
def staff(db):
    return make_operator()


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client
