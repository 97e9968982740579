import openai
import pytest

from routerhub.tenants.models import ApiKey
from routerhub.tenants.selectors import api_key_authenticate
from routerhub.tenants.services import api_key_create, api_key_hash, api_key_revoke


@pytest.mark.django_db
def test_created_key_authenticates_its_tenant(tenant):
    created = api_key_create(tenant=tenant, name="ci")
    assert api_key_authenticate(raw_key=created.raw_key).tenant == tenant


@pytest.mark.django_db
def test_stored_hash_is_not_the_key(tenant):
    created = api_key_create(tenant=tenant, name="ci")
    stored = ApiKey.objects.get(pk=created.api_key.pk)
    assert stored.key_hash == api_key_hash(created.raw_key)
    assert created.raw_key not in {stored.key_hash, stored.prefix, stored.name}
    assert created.raw_key.startswith(stored.prefix)


@pytest.mark.django_db
def test_revoked_key_is_refused(tenant):
    created = api_key_create(tenant=tenant, name="ci")
    api_key_revoke(api_key=created.api_key)
    assert api_key_authenticate(raw_key=created.raw_key) is None


@pytest.mark.django_db
def test_key_of_an_inactive_tenant_is_refused(tenant):
    created = api_key_create(tenant=tenant, name="ci")
    tenant.active = False
    tenant.save()
    assert api_key_authenticate(raw_key=created.raw_key) is None


@pytest.mark.django_db(transaction=True)
def test_openai_client_lists_models_with_a_valid_key_over_http(live_server, tenant, tenant_key):
    client = openai.OpenAI(base_url=live_server.url + "/v1", api_key=tenant_key, max_retries=0)
    names = [model.id for model in client.models.list()]
    assert names[0] == "router"
    assert {"strong-model", "weak-model"} <= set(names)


@pytest.mark.django_db(transaction=True)
def test_revoked_and_unknown_keys_get_401_with_an_openai_error_body(live_server, tenant):
    created = api_key_create(tenant=tenant, name="ci")
    api_key_revoke(api_key=created.api_key)
    for key in (created.raw_key, "rh-not-a-real-key-000000000000"):
        client = openai.OpenAI(base_url=live_server.url + "/v1", api_key=key, max_retries=0)
        with pytest.raises(openai.AuthenticationError) as caught:
            client.models.list()
        assert caught.value.status_code == 401
        assert caught.value.body["code"] == "invalid_api_key"
