from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "routerhub.tenants"
    label = "tenants"
