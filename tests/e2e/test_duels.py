"""Duels end to end: the gateway picks requests at the tenant's duel rate and only writes the duel;
the dispatch sweep queues it; a real Celery worker fetches the other model's answer from the
simulated upstream, and the simulated upstream, acting as the LLM judge, labels them; people label
them through the preference API."""
from __future__ import annotations

import time
from decimal import Decimal

import httpx
import pytest

from feedback.duels import duel_judge_run, duel_sampled, duels_dispatch
from feedback.models import Duel, Preference
from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.models import ModelEndpoint
from tests.support.gateway import EASY, HARD, ask_router

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def wait_until(check, timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"{what} not reached in {timeout}s")


def judge_endpoint(sim: str) -> ModelEndpoint:
    return ModelEndpoint.objects.create(name="judge-model", upstream_model="judge-model", base_url=sim, timeout_s=5,
                                        max_retries=0, input_price_per_mtok=Decimal("1"))


def test_duels_are_fetched_and_judged_by_the_llm_judge(gateway, mf_version, celery_worker_process, duel_sweeper):
    gateway.tenant.duel_rate = 1.0
    gateway.tenant.judge_model = judge_endpoint(gateway.sim)
    gateway.tenant.save()
    ids = [ask_router(gateway, prompt) for prompt in (HARD[0], EASY[0], HARD[1])]
    duels = wait_until(lambda: (list(Duel.objects.filter(status=Duel.Status.LABELLED)) if Duel.objects.filter(
        status=Duel.Status.LABELLED).count() == 3 else None), what="three judged duels")
    assert sorted(str(d.request_id) for d in duels) == sorted(ids)
    assert RoutedRequest.objects.count() == 3  # duels are no requests of the tenant's
    for duel in duels:
        request = duel.request
        assert (duel.model_a, duel.model_b) == ("strong-model", "weak-model")
        served = duel.answer_a if request.served_model == "strong-model" else duel.answer_b
        other = duel.answer_b if request.served_model == "strong-model" else duel.answer_a
        assert served == request.answer  # the user's answer, not asked again
        assert other.startswith("[weak-model]" if request.served_model == "strong-model" else "[strong-model]")
        assert duel.cost > 0 and duel.completion_tokens > 0  # the extra answer's spend is kept
        # the simulated judge prefers the longer answer, in both orders: a consistent verdict
        expected = "tie" if len(duel.answer_a) == len(duel.answer_b) else (
            "model_a" if len(duel.answer_a) > len(duel.answer_b) else "model_b")
        assert duel.winner == expected and duel.judge_verdicts["consistent"]
        assert duel.labelled_by == "judge:judge-model"
        battle = duel.preference
        assert (battle.tenant_id, battle.request_id, battle.source, battle.judge) == (
            gateway.tenant.pk, request.pk, "duel-judge", "judge-model")
        assert (battle.model_a, battle.model_b, battle.winner) == ("strong-model", "weak-model", expected)
    calls = httpx.get(gateway.sim.removesuffix("/v1") + "/_sim/stats").json()["calls"]
    assert calls["judge-model"] == 6  # each duel asked twice, answers swapped
    detail = httpx.get(f"{gateway.url}/requests/{ids[0]}", headers={"Authorization": f"Bearer {gateway.key}"}).json()
    assert detail["duel"]["status"] == "labelled" and detail["duel"]["labelled_by"] == "judge:judge-model"


def test_duels_are_created_at_the_tenants_rate(gateway, mf_version, celery_worker_process, duel_sweeper):
    gateway.tenant.duel_rate = 0.0
    gateway.tenant.save()
    none = [ask_router(gateway, f"{HARD[2]} (case {i})") for i in range(5)]
    assert not Duel.objects.filter(request_id__in=none).exists()  # rate 0: never
    gateway.tenant.duel_rate, gateway.tenant.duel_selection = 0.5, "uniform"
    gateway.tenant.save()
    time.sleep(5.1)  # the gateway's tenant cache (ROUTERHUB_AUTH_CACHE_S) forgets the old rate
    ids = [ask_router(gateway, f"{EASY[1]} (case {i})") for i in range(40)]
    duelled = {str(pk) for pk in Duel.objects.filter(request_id__in=ids).values_list("request_id", flat=True)}
    assert duelled == {pk for pk in ids if duel_sampled(request_id=pk, rate=0.5)}  # the same rule everywhere
    assert 8 <= len(duelled) <= 32  # ~ Binomial(40, 0.5): far outside only with probability < 1e-4
    wait_until(lambda: not Duel.objects.filter(status__in=["pending", "fetching"]).exists(), what="fetched duels")
    assert set(Duel.objects.values_list("status", flat=True)) == {"awaiting_label"}  # no judge: people label


def test_people_label_duels_through_the_preference_api_and_outrank_the_judge(gateway, mf_version,
                                                                          celery_worker_process, duel_sweeper):
    gateway.tenant.duel_rate = 1.0
    gateway.tenant.save()
    request_id = ask_router(gateway, HARD[3])
    duel = wait_until(lambda: Duel.objects.filter(status=Duel.Status.AWAITING_LABEL).first(), what="a fetched duel")
    # a judge configured later, with a pure position bias: its two verdicts disagree, so it says tie
    httpx.post(gateway.sim.removesuffix("/v1") + "/_sim/config", json={"judge_rule": "first"})
    try:
        gateway.tenant.judge_model = judge_endpoint(gateway.sim)
        gateway.tenant.save()
        duel = duel_judge_run(duel_id=duel.pk)
    finally:
        httpx.post(gateway.sim.removesuffix("/v1") + "/_sim/config", json={"judge_rule": "longer"})
    assert duel.winner == "tie" and not duel.judge_verdicts["consistent"]
    # a person's label (models named in the other order) replaces the judge's battle
    headers = {"Authorization": f"Bearer {gateway.key}"}
    answer = httpx.post(f"{gateway.url}/preferences", headers=headers, json={
        "request_id": request_id, "model_a": "weak-model", "model_b": "strong-model", "winner": "model_b"})
    assert answer.status_code == 201, answer.text
    duel.refresh_from_db()
    assert (duel.winner, duel.labelled_by) == ("model_a", "api")  # the strong model, in the duel's order
    battles = Preference.objects.filter(request_id=request_id)
    assert [(b.model_a, b.winner, b.source, b.judge) for b in battles] == [("strong-model", "model_a", "duel", "user")]
    assert duel_judge_run(duel_id=duel.pk).labelled_by == "api"  # the judge never overrides a person
    # the same label again changes nothing; another label replaces it, still one battle
    httpx.post(f"{gateway.url}/preferences", headers=headers, json={
        "request_id": request_id, "model_a": "strong-model", "model_b": "weak-model", "winner": "tie"})
    assert [(b.winner, b.source) for b in Preference.objects.filter(request_id=request_id)] == [("tie", "duel")]


def test_the_request_only_writes_the_duel_and_the_sweep_queues_it(gateway, mf_version, celery_worker_process,
                                                                    settings):
    gateway.tenant.duel_rate = 1.0
    gateway.tenant.save()
    request_id = ask_router(gateway, HARD[4])
    time.sleep(2)  # a worker is consuming: had the request queued anything, it would be fetched by now
    duel = Duel.objects.get(request_id=request_id)
    assert (duel.status, duel.queued_at) == ("pending", None)
    assert duels_dispatch() == 1 and Duel.objects.get(pk=duel.pk).queued_at is not None
    assert duels_dispatch() == 0  # queued once
    wait_until(lambda: Duel.objects.get(pk=duel.pk).status == Duel.Status.AWAITING_LABEL, what="the fetched duel")
    entry = settings.CELERY_BEAT_SCHEDULE["dispatch-duels"]  # beat runs the sweep every few seconds
    assert entry["task"] == "feedback.dispatch_duels" and entry["schedule"] == settings.ROUTERHUB_DUEL_DISPATCH_S <= 5
