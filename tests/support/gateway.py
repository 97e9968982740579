"""The gateway over real HTTP (the `gateway` and `mf_version` fixtures in tests/conftest.py use these).

`Gateway` is a tenant whose strong and weak endpoints are the simulated upstream, an API key and an
`openai.OpenAI` client pointed at the live server. `train_mf_version` trains a small real MF router
on real embeddings of two kinds of prompt: on hard maths (HARD) the strong model wins, on small talk
(EASY) the weak one does. Tests read the win rate it gives from the response header and set
thresholds around it, so which side of the threshold a request falls on is under their control.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import openai

from routerhub.embeddings.services import embeddings_for_texts
from routerhub.gateway import routing
from routerhub.tenants.models import Tenant
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


def ask_router(gateway: Gateway, prompt: str) -> str:
    """One routed request (model "router") through the gateway's client; its request id."""
    raw = gateway.client.chat.completions.with_raw_response.create(
        model="router", messages=[{"role": "user", "content": prompt}])
    return raw.headers["x-routerhub-request-id"]
