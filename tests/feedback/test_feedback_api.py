"""`/v1/feedback`, `/v1/preferences` and `/v1/requests/<id>` over HTTP, tenant-scoped."""
from __future__ import annotations

import uuid

import httpx
import pytest

from feedback.models import Feedback, Preference
from routerhub.tenants.services import api_key_create
from tests.support.gateway import EASY, HARD
from tests.support.tenants import make_tenant


class Api:
    def __init__(self, gateway, key):
        self.base, self.headers = gateway.url, {"Authorization": f"Bearer {key}"}

    def post(self, path, body):
        return httpx.post(self.base + path, json=body, headers=self.headers, timeout=30)

    def get(self, path):
        return httpx.get(self.base + path, headers=self.headers, timeout=30)


def routed(gateway, prompt, model="router"):
    raw = gateway.client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": prompt}])
    return raw.headers["x-routerhub-request-id"], raw.parse().model


def test_thumbs_become_one_battle_and_a_second_rating_replaces_the_first(gateway, mf_version):
    api = Api(gateway, gateway.key)
    request_id, served = routed(gateway, EASY[0])
    assert served == "weak-model"
    response = api.post("/feedback", {"request_id": request_id, "rating": "down", "comment": "wrong"})
    assert response.status_code == 201, response.text
    battle = Preference.objects.get(request_id=request_id)
    assert (battle.model_a, battle.model_b, battle.winner) == ("strong-model", "weak-model", "model_a")
    assert battle.tenant_id == gateway.tenant.pk and battle.source == "thumbs" and battle.judge == "user"
    assert battle.prompt.text == EASY[0]

    assert api.post("/feedback", {"request_id": request_id, "rating": "up"}).status_code == 201
    assert Feedback.objects.get().rating == "up"
    assert Preference.objects.get(request_id=request_id).winner == "tie"  # replaced, not counted twice

    detail = api.get(f"/requests/{request_id}").json()
    assert detail["feedback"]["rating"] == "up" and detail["served_model"] == "weak-model"
    assert detail["preferences"] == [{"model_a": "strong-model", "model_b": "weak-model", "winner": "tie",
                                      "source": "thumbs"}]
    assert detail["router"] == f"mf:v{mf_version.pk}" and detail["win_rate"] < 0.5


def test_thumbs_up_on_the_strong_answer_is_kept_without_a_battle(gateway, mf_version):
    request_id, served = routed(gateway, HARD[0])
    assert served == "strong-model"
    assert Api(gateway, gateway.key).post("/feedback", {"request_id": request_id, "rating": "up"}).status_code == 201
    assert Feedback.objects.filter(request_id=request_id).exists() and not Preference.objects.exists()


def test_pairwise_preferences_are_idempotent(gateway, mf_version):
    api = Api(gateway, gateway.key)
    body = {"prompt": "Write a limerick about routers.", "model_a": "strong-model", "model_b": "weak-model",
            "response_a": "There once was a router…", "response_b": "Routers route.", "winner": "model_a"}
    first = api.post("/preferences", body)
    assert first.status_code == 201, first.text
    assert api.post("/preferences", body).status_code == 201
    assert Preference.objects.count() == 1
    assert api.post("/preferences", {**body, "winner": "tie"}).status_code == 201
    stored = Preference.objects.get()
    assert stored.winner == "tie" and stored.tenant_id == gateway.tenant.pk and stored.source == "preference-api"
    assert stored.metadata["response_b"] == "Routers route."
    request_id, _ = routed(gateway, HARD[1])
    about_request = api.post("/preferences", {"request_id": request_id, "model_a": "weak-model",
                                              "model_b": "strong-model", "winner": "model_b"})
    assert about_request.status_code == 201
    assert Preference.objects.get(request_id=request_id).prompt.text == HARD[1]


def test_another_tenants_request_is_not_found(gateway, mf_version):
    request_id, _ = routed(gateway, EASY[1])
    other = make_tenant("globex", gateway.sim)
    api = Api(gateway, api_key_create(tenant=other, name="k").raw_key)
    for response in (api.post("/feedback", {"request_id": request_id, "rating": "down"}),
                     api.post("/preferences", {"request_id": request_id, "model_a": "strong-model",
                                               "model_b": "weak-model", "winner": "model_a"}),
                     api.get(f"/requests/{request_id}")):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "request_not_found"
        assert request_id not in response.text or "No request" in response.json()["error"]["message"]
    assert not Feedback.objects.exists() and not Preference.objects.exists()


@pytest.mark.parametrize("path, body, status, param", [
    ("/feedback", {"rating": "up"}, 400, "request_id"),
    ("/feedback", {"request_id": "not-a-uuid", "rating": "up"}, 400, "request_id"),
    ("/feedback", {"request_id": "REQ", "rating": "meh"}, 400, "rating"),
    ("/feedback", {"request_id": str(uuid.uuid4()), "rating": "up"}, 404, "request_id"),
    ("/preferences", {"prompt": "p", "model_a": "a", "model_b": "b", "winner": "both"}, 400, "winner"),
    ("/preferences", {"prompt": "p", "model_a": "a", "model_b": "a", "winner": "tie"}, 400, "model_b"),
    ("/preferences", {"prompt": "p", "model_a": "a", "winner": "tie"}, 400, "model_b"),
    ("/preferences", {"model_a": "a", "model_b": "b", "winner": "tie"}, 400, "prompt"),
    ("/preferences", {"request_id": str(uuid.uuid4()), "model_a": "a", "model_b": "b", "winner": "tie"}, 404,
     "request_id"),
    # training data names configured models only (issue 13: garbage names were stored as battles)
    ("/preferences", {"prompt": "p", "model_a": "'; DROP TABLE feedback_preference; --", "model_b": "weak-model",
                      "winner": "model_a"}, 404, "model_a"),
    ("/preferences", {"prompt": "p", "model_a": "strong-model", "model_b": "x" * 129, "winner": "tie"}, 400,
     "model_b"),
    ("/preferences", {"prompt": "p", "model_a": 12345, "model_b": "weak-model", "winner": "tie"}, 404, "model_a"),
    ("/preferences", {"prompt": "p", "model_a": "strong-model", "model_b": "模型 ☃", "winner": "tie"}, 404, "model_b"),
])
def test_bad_feedback_is_a_4xx_and_stores_nothing(gateway, mf_version, path, body, status, param):
    request_id, _ = routed(gateway, EASY[2])
    Api(gateway, gateway.key).post("/feedback", {"request_id": request_id, "rating": "up"})  # stored before
    body = {key: (request_id if value == "REQ" else value) for key, value in body.items()}
    response = Api(gateway, gateway.key).post(path, body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["message"] and error["type"] == "invalid_request_error" and error["param"] == param
    assert Feedback.objects.get().rating == "up" and Preference.objects.count() == 1  # nothing lost, nothing added


def test_a_failed_request_has_nothing_to_rate(gateway, mf_version):
    httpx.post(gateway.sim.removesuffix("/v1") + "/_sim/config", json={"fail_models": ["weak-model", "strong-model"]})
    response = httpx.post(gateway.url + "/chat/completions", headers={"Authorization": f"Bearer {gateway.key}"},
                          json={"model": "router", "messages": [{"role": "user", "content": "hi"}]})
    assert response.status_code == 502
    rating = Api(gateway, gateway.key).post("/feedback", {"request_id": response.headers["x-routerhub-request-id"],
                                                          "rating": "down"})
    assert rating.status_code == 400 and rating.json()["error"]["code"] == "nothing_to_rate"
    assert not Feedback.objects.exists()
