"""`GET /v1/models/{id}` and per-tenant model aliases (issue 14), through the official openai client:
a client that hard-codes `gpt-4o` is routed once the tenant maps `gpt-4o` to `router`."""
from __future__ import annotations

import openai
import pytest

from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.admin import ModelAliasForm, ModelAliasInline, TenantAdmin
from routerhub.tenants.models import ModelAlias
from routerhub.tenants.selectors import alias_problem
from tests.support.gateway import HARD
from tests.support.tenants import make_tenant


def test_every_listed_model_can_be_retrieved_and_an_unknown_one_is_a_json_404(gateway):
    ModelAlias.objects.create(tenant=gateway.tenant, name="gpt-4o", target="router")
    listed = [model.id for model in gateway.client.models.list()]
    assert "router" in listed and "gpt-4o" in listed and "strong-model" in listed
    for name in listed:
        model = gateway.client.models.retrieve(name)
        assert model.id == name and model.object == "model"
    with pytest.raises(openai.NotFoundError) as raised:
        gateway.client.models.retrieve("no-such-model")
    assert raised.value.body["code"] == "model_not_found"


def test_an_alias_routes_as_its_target_and_is_the_tenants_own(gateway, mf_version):
    ModelAlias.objects.create(tenant=gateway.tenant, name="gpt-4o", target="router")
    ModelAlias.objects.create(tenant=gateway.tenant, name="cheap", target="weak-model")
    raw = gateway.client.chat.completions.with_raw_response.create(
        model="gpt-4o", messages=[{"role": "user", "content": HARD[0]}])
    assert raw.headers["x-routerhub-router"] == f"mf:v{mf_version.pk}"
    assert raw.headers["x-routerhub-model"] == "strong-model" == raw.parse().model
    row = RoutedRequest.objects.get(pk=raw.headers["x-routerhub-request-id"])
    assert row.requested_model == "gpt-4o" and row.router_kind == "mf"
    direct = gateway.client.chat.completions.with_raw_response.create(
        model="cheap", messages=[{"role": "user", "content": HARD[0]}])
    assert direct.headers["x-routerhub-model"] == "weak-model" and direct.headers["x-routerhub-router"] == "none"
    # another tenant's alias means nothing here
    other = make_tenant("globex", gateway.sim)
    ModelAlias.objects.create(tenant=other, name="house-model", target="router")
    with pytest.raises(openai.NotFoundError):
        gateway.client.chat.completions.create(model="house-model", messages=[{"role": "user", "content": "hi"}])
    assert "house-model" not in [model.id for model in gateway.client.models.list()]


@pytest.mark.django_db
def test_an_alias_must_name_a_router_or_a_configured_model(sim):
    make_tenant("acme", sim)
    assert alias_problem(name="gpt-4o", target="router") is None
    assert alias_problem(name="gpt-4o", target="router-mf-0.3") is None
    assert alias_problem(name="gpt-4o", target="weak-model") is None
    assert "neither" in alias_problem(name="gpt-4o", target="no-such-model")
    assert "[0, 1]" in alias_problem(name="gpt-4o", target="router-mf-7")
    assert "router name" in alias_problem(name="router", target="weak-model")
    assert "router name" in alias_problem(name="router-mf-0.2", target="weak-model")
    form = ModelAliasForm(data={"name": "gpt-4o", "target": "no-such-model"})
    assert not form.is_valid() and "neither" in str(form.errors)
    assert ModelAliasInline in TenantAdmin.inlines  # edited with its tenant in the admin
