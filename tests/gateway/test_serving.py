"""Serving: promotion picked up by a running gunicorn without restart, SW from the live store,
tenant isolation of SW's own data, and the OpenAPI description."""
from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
import openai
import pytest

from feedback.selectors import battles_load
from feedback.store import preferences_store
from routerhub.gateway import routing
from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.services import api_key_create
from tests.conftest import REPO, child_env, free_port, stop_process, wait_for_http
from tests.gateway.conftest import EASY, HARD, make_tenant, train_mf_version
from training.core.datasets import ParsedBattle
from training.core.routers import SWRankingRouter
from training.services import router_version_create, router_version_promote


def battle(prompt: str, winner: str, source: str = "test", n: int = 0) -> ParsedBattle:
    return ParsedBattle(prompt=prompt, model_a="strong-model", model_b="weak-model", winner=winner, source=source,
                        judge="human", row_key=f"{source}:{prompt}:{n}", line=n)


@pytest.fixture
def gunicorn(transactional_db, sim):
    """The web app as `make run` serves it: gunicorn with threads, in its own process."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "routerhub.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "1", "--threads", "4", "--worker-class", "gthread", "--no-control-socket",
         "--config", "python:routerhub.gunicorn_conf"],
        cwd=REPO, env=child_env(ROUTERHUB_ROUTER_RELOAD_S="1"))
    wait_for_http(f"http://127.0.0.1:{port}/healthz", proc=proc, timeout=60)
    yield f"http://127.0.0.1:{port}/v1"
    stop_process(proc)


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


def test_openapi_schema_describes_the_gateway(gateway):
    schema = httpx.get(gateway.url.removesuffix("/v1") + "/api/schema/", params={"format": "json"}).json()
    operation = schema["paths"]["/v1/chat/completions"]["post"]
    assert "router-<kind>-<threshold>" in operation["description"]
    request = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert {"model", "messages"} <= set(schema["components"]["schemas"][request]["required"])
    assert "/v1/models" in schema["paths"]


def test_openapi_schema_is_valid_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert "/v1/chat/completions" in (tmp_path / "schema.yml").read_text()


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
