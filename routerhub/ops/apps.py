from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "routerhub.ops"
    label = "ops"
