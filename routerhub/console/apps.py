from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "routerhub.console"
    label = "console"
    verbose_name = "Admin console"
