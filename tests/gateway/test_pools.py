"""A tenant's pool of three models through the real gateway and the official `openai` client:
different prompts go to different models, a request can narrow the pool (`models`, `max_cost`),
and the log keeps every candidate's score and the expected cost."""
from __future__ import annotations

from decimal import Decimal

import httpx
import numpy as np
import openai
import pytest

from routerhub.embeddings.services import embeddings_for_texts
from routerhub.gateway.models import RoutedRequest
from routerhub.gateway.registry import registry
from routerhub.tenants.models import ModelEndpoint
from tests.support.gateway import EASY, HARD
from training.core.routers import Battles, MFRouter
from training.services import router_version_create, router_version_promote

pytestmark = pytest.mark.django_db(transaction=True)

CODE = [
    "Write a Python function that reverses a linked list in place.",
    "Implement binary search in JavaScript and explain its complexity.",
    "Write a SQL query that returns the second highest salary per department.",
    "Refactor this Java loop into a stream: for (int x : xs) if (x > 0) out.add(x * 2);",
    "Write a Bash one-liner that counts the lines of every .py file in a directory tree.",
    "Implement an LRU cache class in Python with get and put in O(1).",
    "Write a Go function that merges two sorted slices of ints.",
    "Write a regular expression that matches ISO 8601 dates and explain it.",
]


def three_model_battles():
    """strong > mid > weak on maths; strong = mid > weak on code; all tie on small talk."""
    texts = HARD + CODE + EASY
    outcomes = {"hard": {("strong-model", "mid-model"): 1.0, ("strong-model", "weak-model"): 1.0,
                         ("mid-model", "weak-model"): 1.0},
                "code": {("strong-model", "mid-model"): 0.5, ("strong-model", "weak-model"): 1.0,
                         ("mid-model", "weak-model"): 1.0},
                "easy": {("strong-model", "mid-model"): 0.5, ("strong-model", "weak-model"): 0.5,
                         ("mid-model", "weak-model"): 0.5}}
    families = ["hard"] * len(HARD) + ["code"] * len(CODE) + ["easy"] * len(EASY)
    index, model_a, model_b, outcome = [], [], [], []
    for _ in range(4):
        for i, family in enumerate(families):
            for (a, b), result in outcomes[family].items():
                index.append(i)
                model_a.append(a)
                model_b.append(b)
                outcome.append(result)
    return Battles.from_records(embeddings_for_texts(texts), index, model_a, model_b, outcome)


@pytest.fixture
def pool_gateway(gateway):
    mid = ModelEndpoint.objects.create(name="mid-model", upstream_model="mid-model", base_url=gateway.sim,
                                       timeout_s=5, max_retries=0, input_price_per_mtok=Decimal("1"),
                                       output_price_per_mtok=Decimal("3"))
    tenant = gateway.tenant
    tenant.pool.set([tenant.strong_model, mid, tenant.weak_model])
    tenant.routing_threshold = 0.6
    tenant.save()
    # 400 epochs: the fit reaches the stated outcomes (small talk's ties near 0.5) in the 2-layer
    # space too, where 200 left it at 0.56-0.61 for the weak model, against this tenant's 0.6
    router = MFRouter(dim=16, epochs=400, batch_size=16, lr=1e-2, noise=0.0).fit(three_model_battles())
    router_version_promote(version=router_version_create(router=router, battles=three_model_battles()))
    registry.reload()
    return gateway


def ask(gateway, prompt: str, **extra):
    return gateway.client.chat.completions.with_raw_response.create(
        model="router", messages=[{"role": "user", "content": prompt}], extra_body=extra or None)


def test_a_pool_sends_each_kind_of_prompt_to_its_own_model(pool_gateway):
    served = {family: {ask(pool_gateway, p).headers["x-routerhub-model"] for p in prompts[:3]}
              for family, prompts in (("hard", HARD), ("code", CODE), ("easy", EASY))}
    assert served == {"hard": {"strong-model"}, "code": {"mid-model"}, "easy": {"weak-model"}}
    raw = ask(pool_gateway, CODE[4])
    assert raw.parse().model == "mid-model"
    estimated = Decimal(raw.headers["x-routerhub-estimated-cost"])
    row = RoutedRequest.objects.get(pk=raw.headers["x-routerhub-request-id"])
    assert set(row.scores) == {"strong-model", "mid-model", "weak-model"} and row.estimated_cost == estimated
    # the mid model's expected cost: the prompt at $1/M, 256 expected completion tokens at $3/M (no log yet)
    assert Decimal("0.000768") < estimated < Decimal("0.0009")
    detail = httpx.get(f"{pool_gateway.url}/requests/{row.pk}",
                       headers={"Authorization": f"Bearer {pool_gateway.key}"}).json()
    assert set(detail["scores"]) == set(row.scores) and detail["estimated_cost"] == pytest.approx(float(estimated))


def test_a_request_narrows_the_pool_with_models_and_max_cost(pool_gateway):
    assert ask(pool_gateway, HARD[0], models=["mid-model", "weak-model"]).headers["x-routerhub-model"] == "mid-model"
    # strong-model costs ~$0.008 expected here, mid-model ~$0.0008: a ceiling between them leaves mid and weak
    assert ask(pool_gateway, HARD[1], max_cost=0.002).headers["x-routerhub-model"] == "mid-model"
    only = ask(pool_gateway, HARD[2], models=["weak-model"])
    assert only.headers["x-routerhub-model"] == "weak-model" and "x-routerhub-win-rate" not in only.headers


@pytest.mark.parametrize("extra, code", [({"max_cost": 0}, "max_cost_too_low"),
                                         ({"models": ["gpt-9"]}, "model_not_in_pool"),
                                         ({"models": []}, "invalid_request"),
                                         ({"max_cost": -1}, "invalid_request"),
                                         ({"max_cost": 10 ** 400}, "invalid_request")])
def test_an_impossible_narrowing_is_a_clear_400_and_a_log_row(pool_gateway, extra, code):
    with pytest.raises(openai.BadRequestError) as raised:
        ask(pool_gateway, HARD[0], **extra)
    assert raised.value.body["code"] == code
    row = RoutedRequest.objects.get()
    assert row.status == RoutedRequest.Status.CLIENT_ERROR and row.http_status == 400


def test_a_pool_model_the_router_never_saw_is_left_to_the_others(pool_gateway):
    new = ModelEndpoint.objects.create(name="new-model", upstream_model="new-model", base_url=pool_gateway.sim,
                                       input_price_per_mtok=Decimal("0.01"), output_price_per_mtok=Decimal("0.01"))
    pool_gateway.tenant.pool.add(new)
    raw = ask(pool_gateway, EASY[0])
    assert raw.headers["x-routerhub-model"] == "weak-model"  # new-model is cheaper, but unknown to the router
    assert "not seen by the router: new-model" in RoutedRequest.objects.get(
        pk=raw.headers["x-routerhub-request-id"]).routing_reason
    assert np.isfinite(float(raw.headers["x-routerhub-win-rate"]))


def test_pool_feedback_and_duels_compare_the_served_model_with_the_next_one_up(pool_gateway):
    from feedback.models import Duel, Preference

    headers = {"Authorization": f"Bearer {pool_gateway.key}"}
    code = ask(pool_gateway, CODE[5])  # answered by mid-model
    assert code.headers["x-routerhub-model"] == "mid-model"
    response = httpx.post(f"{pool_gateway.url}/feedback", headers=headers,
                          json={"request_id": code.headers["x-routerhub-request-id"], "rating": "down"})
    assert response.status_code == 201
    battle = Preference.objects.get(tenant=pool_gateway.tenant, source="thumbs")
    assert (battle.model_a, battle.model_b, battle.winner) == ("strong-model", "mid-model", "model_a")
    pool_gateway.tenant.duel_rate, pool_gateway.tenant.duel_selection = 1.0, "uniform"
    pool_gateway.tenant.save()
    easy = ask(pool_gateway, EASY[4])  # answered by weak-model: its duel asks mid-model, the next one up
    duel = Duel.objects.get(request_id=easy.headers["x-routerhub-request-id"])
    assert (duel.model_a, duel.model_b) == ("mid-model", "weak-model") and duel.answer_b and not duel.answer_a


def test_active_duels_in_a_pool_ask_the_model_the_router_is_least_sure_about(pool_gateway):
    from feedback.models import Duel
    from training.core.active import informative_opponent

    pool_gateway.tenant.duel_rate, pool_gateway.tenant.duel_selection = 1.0, "active"
    pool_gateway.tenant.save()
    pool = ["strong-model", "mid-model", "weak-model"]
    for prompt in (HARD[3], CODE[6], EASY[5]):
        raw = ask(pool_gateway, prompt)
        row = RoutedRequest.objects.get(pk=raw.headers["x-routerhub-request-id"])
        duel = Duel.objects.get(request=row)
        other = informative_opponent(served=row.served_model, ratings=row.scores, pool=pool)
        assert {duel.model_a, duel.model_b} == {row.served_model, other} and duel.probability == 1.0
        assert pool.index(duel.model_a) < pool.index(duel.model_b)  # model a: the more expensive one
    # on a code prompt mid-model serves and strong-model is its near-equal: that duel, not weak-model's
    code = Duel.objects.get(request__routed_prompt__startswith=CODE[6][:20])
    assert (code.model_a, code.model_b) == ("strong-model", "mid-model")


def test_the_daily_duel_budget_stops_new_duels_for_the_day(pool_gateway, client):
    from django.contrib.auth import get_user_model

    from feedback.models import Duel

    tenant = pool_gateway.tenant
    tenant.duel_rate, tenant.duel_budget_usd_per_day = 1.0, Decimal("0.0015")
    tenant.save()
    first = ask(pool_gateway, HARD[3])
    duel = Duel.objects.get(request_id=first.headers["x-routerhub-request-id"])
    ask(pool_gateway, HARD[4])
    assert Duel.objects.count() == 2  # the first one's fetch has cost nothing yet
    Duel.objects.filter(pk=duel.pk).update(cost=Decimal("0.0015"))  # what its fetch would have cost
    ask(pool_gateway, HARD[5])
    assert Duel.objects.count() == 2  # today's duels cost the budget: none more today
    # the console's tenant page shows the day's duels against the budget
    client.force_login(get_user_model().objects.create_user("staff", password="x", is_staff=True))
    Duel.objects.filter(pk=duel.pk).update(cost=Decimal("0.001"))  # a cost apart from the budget, to tell them apart
    page = client.get(f"/console/tenants/{tenant.slug}/")
    assert page.context["spend"]["duels_today"] == {"count": 2, "cost": Decimal("0.001")}
    card = page.content.decode().split('data-spend="duels">')[1].split("</div></div>")[0]
    assert "$0.0010" in card and "of $0.0015" in card and "2 duels" in card and "active selection at 100.0%" in card
