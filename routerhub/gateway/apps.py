from django.apps import AppConfig


class GatewayConfig(AppConfig):
    name = "routerhub.gateway"
    label = "gateway"
