"""Duels (`feedback.duels`) without a worker: fetching the other model's answer is retried, then
the duel fails; a label before the second answer is there is refused. Duels end to end on a real
Celery worker, with the LLM judge, are in tests/e2e/test_duels.py."""
from __future__ import annotations

import httpx
import pytest

from feedback.duels import duel_fetch_answer
from feedback.models import Duel, Preference
from routerhub.gateway.models import RoutedRequest
from tests.support.gateway import EASY, ask_router

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_failing_other_model_is_retried_then_the_duel_fails(gateway, mf_version, settings):
    request_id = ask_router(gateway, EASY[2])  # duel rate 0: the duel is made here, with no task queued
    request = RoutedRequest.objects.get(pk=request_id)
    duel = Duel.objects.create(request=request, tenant=gateway.tenant, model_a="strong-model",
                               model_b="weak-model", **({"answer_a": request.answer}
                                                        if request.served_model == "strong-model"
                                                        else {"answer_b": request.answer}))
    # a label before the second answer is there is refused: it would become a second battle later
    early = httpx.post(f"{gateway.url}/preferences", headers={"Authorization": f"Bearer {gateway.key}"}, json={
        "request_id": request_id, "model_a": "strong-model", "model_b": "weak-model", "winner": "tie"})
    assert early.status_code == 409 and early.json()["error"]["code"] == "duel_not_ready"
    assert not Preference.objects.exists()
    other = "weak-model" if request.served_model == "strong-model" else "strong-model"
    httpx.post(gateway.sim.removesuffix("/v1") + "/_sim/config", json={"fail_models": [other]})
    settings.ROUTERHUB_DUEL_MAX_ATTEMPTS = 2
    first = duel_fetch_answer(duel_id=duel.pk)
    assert first.status == Duel.Status.PENDING and first.attempts == 1 and "simulated upstream failure" in first.error
    assert duel_fetch_answer(duel_id=duel.pk).status == Duel.Status.FAILED
    assert duel_fetch_answer(duel_id=duel.pk).attempts == 2  # a failed duel is not fetched again
    assert RoutedRequest.objects.get(pk=request_id).answer == request.answer  # the user's answer is untouched
