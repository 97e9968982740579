"""The gateway over real HTTP: Django's live server, the simulated upstream, the official client.

`gateway` gives a tenant whose strong and weak endpoints are the simulated upstream, an API key
and an `openai.OpenAI` client pointed at the live server. `mf_version` trains a small real MF
router on real embeddings of two kinds of prompt: on hard maths the strong model wins, on small
talk the weak one does. Tests read the win rate it gives from the response header and set
thresholds around it, so which side of the threshold a request falls on is under their control.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np
import openai
import pytest

from routerhub.embeddings.services import embeddings_for_texts
from routerhub.gateway import routing
from routerhub.tenants.models import ModelEndpoint, Tenant
from routerhub.tenants.services import api_key_create
from training.core.routers import Battles, MFRouter
from training.services import router_version_create, router_version_promote

HARD = [
    "Prove that the square root of 2 is irrational, step by step.",
    "Compute the integral of x^2 * e^x dx and verify by differentiation.",
    "Solve the system 3x + 2y = 7, 5x - y = 4 and explain each step.",
    "Find all real roots of x^3 - 6x^2 + 11x - 6 = 0.",
    "Derive the closed form of the sum of the first n squares and prove it by induction.",
    "What is the derivative of sin(x) * ln(x)? Show the product rule.",
    "A train leaves at 3pm at 60 km/h; another at 4pm at 80 km/h. When does the second catch up?",
    "Prove that there are infinitely many primes.",
]
EASY = [
    "Hi there! How are you today?",
    "Say hello to my friend Anna.",
    "Thanks, that was helpful!",
    "Good morning!",
    "What's a nice greeting for a birthday card?",
    "Tell me something cheerful.",
    "Hey, how's it going?",
    "Have a great weekend!",
]


@dataclass
class Gateway:
    url: str
    sim: str
    tenant: Tenant
    key: str
    client: openai.OpenAI

    def client_for(self, key: str, **kwargs) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=key, max_retries=0, **kwargs)


def make_tenant(slug: str, sim: str, **fields) -> Tenant:
    strong, _ = ModelEndpoint.objects.update_or_create(
        name="strong-model", defaults=dict(upstream_model="strong-model", base_url=sim, timeout_s=5, max_retries=0,
                                           input_price_per_mtok=Decimal("10"), output_price_per_mtok=Decimal("30")))
    weak, _ = ModelEndpoint.objects.update_or_create(
        name="weak-model", defaults=dict(upstream_model="weak-model", base_url=sim, timeout_s=5, max_retries=0,
                                         input_price_per_mtok=Decimal("0.2"), output_price_per_mtok=Decimal("0.6")))
    return Tenant.objects.create(slug=slug, name=slug, strong_model=strong, weak_model=weak, **fields)


@pytest.fixture
def gateway(live_server, sim) -> Gateway:
    routing.registry.reload()  # forget versions of earlier tests (their rows are gone)
    tenant = make_tenant("acme", sim, default_router_kind="mf", routing_threshold=0.5)
    key = api_key_create(tenant=tenant, name="test").raw_key
    url = live_server.url + "/v1"
    return Gateway(url, sim, tenant, key, openai.OpenAI(base_url=url, api_key=key, max_retries=0))


def train_mf_version(activate: bool = True, flip: bool = False):
    """A real MF router (and its RouterVersion) that prefers the strong model on HARD prompts
    (or on EASY ones with `flip`)."""
    texts = HARD + EASY
    embeddings = embeddings_for_texts(texts)
    strong_wins = np.array([1.0] * len(HARD) + [0.0] * len(EASY))
    if flip:
        strong_wins = 1.0 - strong_wins
    n = len(texts)
    battles = Battles.from_records(embeddings, np.tile(np.arange(n), 4), ["strong-model"] * 4 * n,
                                   ["weak-model"] * 4 * n, np.tile(strong_wins, 4))
    router = MFRouter(dim=16, epochs=150, batch_size=16, lr=1e-2, noise=0.0).fit(battles)
    version = router_version_create(router=router, battles=battles)
    if activate:
        router_version_promote(version=version)
        routing.registry.reload()
    return version


@pytest.fixture
def mf_version(gateway):
    return train_mf_version()
