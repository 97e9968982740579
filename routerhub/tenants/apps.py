from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "routerhub.tenants"
    label = "tenants"

    def ready(self):
        from django.db import transaction
        from django.db.models.signals import post_delete, post_save

        from routerhub.tenants.models import ApiKey, ModelEndpoint, Tenant
        from routerhub.tenants.selectors import api_key_cache_clear

        def clear(**kwargs):  # authentication caches keys with their tenant and endpoints
            api_key_cache_clear()  # now, and again once the change is committed (a request in
            transaction.on_commit(api_key_cache_clear)  # between may have cached the old rows)

        for model in (ApiKey, Tenant, ModelEndpoint):
            post_save.connect(clear, sender=model, dispatch_uid=f"auth-cache-{model.__name__}-save", weak=False)
            post_delete.connect(clear, sender=model, dispatch_uid=f"auth-cache-{model.__name__}-delete", weak=False)
