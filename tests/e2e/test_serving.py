"""Serving under gunicorn, as `make run` serves it: a promotion is picked up by the running workers
without a restart, and every request in flight meanwhile is answered by one whole version."""
from __future__ import annotations

import threading
import time

import openai

from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.services import api_key_create
from tests.support.gateway import HARD, train_mf_version
from tests.support.tenants import make_tenant
from training.services import router_version_promote


def test_promotion_is_picked_up_without_restart(gunicorn, sim):
    tenant = make_tenant("acme", sim, default_router_kind="mf", routing_threshold=0.5)
    client = openai.OpenAI(base_url=gunicorn, api_key=api_key_create(tenant=tenant, name="k").raw_key, max_retries=0)
    first = train_mf_version()
    hard = [{"role": "user", "content": HARD[0]}]
    sent = []

    def ask():
        sent.append(1)
        raw = client.chat.completions.with_raw_response.create(model="router", messages=hard)
        rate = raw.headers.get("x-routerhub-win-rate")
        return raw.headers["x-routerhub-router"], raw.parse().model, float(rate) if rate else None

    def wait_for(label):
        since = time.monotonic()
        while ask()[0] != label:
            assert time.monotonic() - since < 5, f"{label} was not picked up within 5 s"
            time.sleep(0.05)
        return time.monotonic() - since

    wait_for(f"mf:v{first.pk}")  # the worker had loaded its routers before this version existed
    assert ask()[:2] == (f"mf:v{first.pk}", "strong-model")
    second = train_mf_version(activate=False, flip=True)  # prefers strong on small talk, weak on maths

    seen, stop = [], threading.Event()

    def hammer():  # requests in flight during the promotion: each sees one whole version
        while not stop.is_set():
            seen.append(ask())

    threads = [threading.Thread(target=hammer) for _ in range(3)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)
    router_version_promote(version=second)
    picked_up = wait_for(f"mf:v{second.pk}")
    time.sleep(0.3)
    stop.set()
    for thread in threads:
        thread.join()
    label, model, rate = ask()
    assert (label, model) == (f"mf:v{second.pk}", "weak-model") and rate < 0.5
    assert picked_up < 3
    # every answer came from one version, whole: its label, its decision and its win rate agree
    assert {label for label, _, _ in seen} == {f"mf:v{first.pk}", f"mf:v{second.pk}"}
    for label, model, rate in seen:
        assert (model == "strong-model") == (label == f"mf:v{first.pk}") == (rate >= 0.5)
    assert RoutedRequest.objects.count() == len(sent)  # one row per request, none lost
