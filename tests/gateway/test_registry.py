"""The registry of serving routers: SW served from the live preference store (a tenant's own
labels count for it alone and change its routing without a retrain), and a tenant's own router
version serving it and nobody else, both picked up without a restart."""
from __future__ import annotations

import time

import httpx
import pytest

from feedback.selectors import battles_load
from feedback.store import preferences_store
from routerhub.gateway import routing
from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.services import api_key_create
from tests.support.gateway import EASY, HARD, train_mf_version
from tests.support.tenants import make_tenant
from training.core.datasets import ParsedBattle
from training.core.routers import SWRankingRouter
from training.models import RouterVersion
from training.services import router_version_create, router_version_promote, router_version_rollback

ACTIVE = RouterVersion.Status.ACTIVE


def battle(prompt: str, winner: str, source: str = "test", n: int = 0) -> ParsedBattle:
    return ParsedBattle(prompt=prompt, model_a="strong-model", model_b="weak-model", winner=winner, source=source,
                        judge="human", row_key=f"{source}:{prompt}:{n}", line=n)


def sw_activate():
    battles = battles_load()
    version = router_version_create(router=SWRankingRouter().fit(battles), battles=battles)
    router_version_promote(version=version)
    routing.registry.reload()
    return version


def test_sw_serves_from_the_store_and_keeps_tenants_apart(gateway):
    # shared data: on maths the strong model wins, on small talk it ties
    preferences_store(battles=[battle(p, "model_a", n=i) for i in range(3) for p in HARD]
                      + [battle(p, "tie", n=i) for i in range(3) for p in EASY])
    version = sw_activate()
    other = make_tenant("globex", gateway.sim, default_router_kind="sw")
    other_client = gateway.client_for(api_key_create(tenant=other, name="k").raw_key)

    def rate(client, prompt):
        raw = client.chat.completions.with_raw_response.create(
            model="router-sw-0.5", messages=[{"role": "user", "content": prompt}])
        assert raw.headers["x-routerhub-router"] == f"sw:v{version.pk}"
        return float(raw.headers["x-routerhub-win-rate"])

    hard, easy = rate(gateway.client, HARD[4]), rate(gateway.client, EASY[4])
    assert hard > 0.6 > easy
    # globex's own labels (the weak model wins on small talk) change globex's routing at once,
    # without a retrain, and never acme's
    before_other = rate(other_client, EASY[4])
    preferences_store(battles=[battle(p, "model_b", source="globex-ui", n=i) for i in range(5) for p in EASY],
                      tenant=other)
    deadline = time.monotonic() + 10
    while rate(other_client, EASY[4]) >= before_other - 0.05:
        assert time.monotonic() < deadline, "globex's own preferences did not reach SW"
        time.sleep(0.2)
    assert rate(other_client, EASY[4]) < easy
    assert rate(gateway.client, EASY[4]) == pytest.approx(easy, abs=1e-9)


def test_sw_follows_a_changed_thumb_without_a_retrain(gateway, settings):
    """Thumbs down on the weak answer: SW sends similar prompts to the strong model within seconds.
    The user changes it to thumbs up: the battle is replaced, and SW's index, which only reads new
    rows, notices the replaced one and rebuilds itself."""
    settings.ROUTERHUB_SW_REBUILD_CHECK_S = 0.5
    preferences_store(battles=[battle(p, "tie", n=i) for i in range(2) for p in HARD + EASY])
    sw_activate()
    api_headers = {"Authorization": f"Bearer {gateway.key}"}
    question = "What is the capital of Australia, and why is it not Sydney?"

    def ask(prompt, threshold="0.99"):
        raw = gateway.client.chat.completions.with_raw_response.create(
            model=f"router-sw-{threshold}", messages=[{"role": "user", "content": prompt}])
        return raw.headers["x-routerhub-request-id"], float(raw.headers["x-routerhub-win-rate"]), raw.parse().model

    def wait_until(condition, what):
        deadline = time.monotonic() + 15
        while not condition():
            assert time.monotonic() < deadline, what
            time.sleep(0.2)

    request_id, before, served = ask(question)
    assert served == "weak-model" and before == pytest.approx(0.5, abs=0.05)  # only ties so far
    for _ in range(3):  # the same question, three users unhappy with the weak answer
        rid, _, _ = ask(question)
        assert httpx.post(gateway.url + "/feedback", headers=api_headers,
                          json={"request_id": rid, "rating": "down"}).status_code == 201
    wait_until(lambda: ask(question + " ")[1] > before + 0.1, "SW did not learn from the thumbs")
    for rid in RoutedRequest.objects.filter(feedback__rating="down").values_list("id", flat=True):
        assert httpx.post(gateway.url + "/feedback", headers=api_headers,
                          json={"request_id": str(rid), "rating": "up"}).status_code == 201
    wait_until(lambda: abs(ask(question + "  ")[1] - before) < 0.05, "SW kept the replaced thumbs")


def served_by(gateway, key: str) -> str:
    raw = gateway.client_for(key).chat.completions.with_raw_response.create(
        model="router", messages=[{"role": "user", "content": HARD[0]}])
    return raw.headers["x-routerhub-router"]


@pytest.mark.django_db(transaction=True)
def test_a_tenants_own_version_serves_it_and_nobody_else(gateway, mf_version):
    from routerhub.tenants.services import api_key_create

    other = make_tenant("beta", gateway.sim, default_router_kind="mf")
    other_key = api_key_create(tenant=other, name="t").raw_key
    own = train_mf_version(activate=False, flip=True)
    own.tenant = gateway.tenant
    own.save()
    router_version_promote(version=own)
    routing.registry.reload()
    assert served_by(gateway, gateway.key) == f"mf:v{own.pk}"
    assert served_by(gateway, other_key) == f"mf:v{mf_version.pk}"  # the global version
    assert RouterVersion.objects.get(pk=mf_version.pk).status == ACTIVE  # scopes do not retire each other
    # rolling the tenant's version back hands it to the global version again, without a restart
    assert router_version_rollback(version=own) is None
    routing.registry.reload()
    assert served_by(gateway, gateway.key) == f"mf:v{mf_version.pk}"


def test_a_version_trained_on_other_embeddings_is_not_served(gateway, mf_version, caplog):
    """A version records the embedder it was trained with; a process that embeds otherwise (say,
    after ROUTERHUB_EMBEDDING_INT8 changed) refuses to serve it rather than route on noise."""
    from routerhub.embeddings.services import embedder_get

    assert mf_version.embedder == embedder_get().name
    from routerhub.gateway.registry import RouterRegistry

    RouterVersion.objects.filter(pk=mf_version.pk).update(embedder="all-minilm-l6-v2-int8-tail")
    started = RouterRegistry(reload_s=2.0)  # a process that starts now (an embedder change means a restart)
    assert started.get("mf") is None and "retrain it" in caplog.text
    original, routing.registry = routing.registry, started
    try:
        raw = gateway.client.chat.completions.with_raw_response.create(
            model="router", messages=[{"role": "user", "content": HARD[0]}])
    finally:
        routing.registry = original
    assert raw.headers["x-routerhub-router"] == "none"  # the strong model, as with no version
