"""Model factories (factory_boy) for the rows most tests need: a tenant and its two endpoints."""
from decimal import Decimal

import factory

from routerhub.tenants.models import ModelEndpoint, Tenant


class ModelEndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelEndpoint
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"model-{n}")
    upstream_model = factory.SelfAttribute("name")
    base_url = "http://127.0.0.1:9/v1"
    input_price_per_mtok = Decimal("1")
    output_price_per_mtok = Decimal("2")
    timeout_s = 5.0


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    slug = factory.Sequence(lambda n: f"tenant-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.title())
    strong_model = factory.SubFactory(ModelEndpointFactory, name="strong-model", input_price_per_mtok=Decimal("10"),
                                      output_price_per_mtok=Decimal("30"))
    weak_model = factory.SubFactory(ModelEndpointFactory, name="weak-model", input_price_per_mtok=Decimal("0.2"),
                                    output_price_per_mtok=Decimal("0.2"))
