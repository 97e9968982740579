from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "routerhub.audit"
    label = "audit"
    verbose_name = "Audit log"
