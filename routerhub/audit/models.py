from django.conf import settings
from django.db import models


class AuditEvent(models.Model):
    """Who changed what, and when: thresholds and tenant settings, promotions and rollbacks, API keys,
    retraining. Written by the services that make the change, in the same transaction."""

    class Action(models.TextChoices):
        THRESHOLD_CHANGED = "threshold_changed"
        TENANT_UPDATED = "tenant_updated"
        VERSION_PROMOTED = "version_promoted"
        VERSION_ROLLED_BACK = "version_rolled_back"
        KEY_CREATED = "key_created"
        KEY_REVOKED = "key_revoked"
        RETRAIN_QUEUED = "retrain_queued"

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="+")
    actor_name = models.CharField(max_length=150, blank=True, help_text="Kept when the user is deleted.")
    action = models.CharField(max_length=32, choices=Action.choices, db_index=True)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    router_version = models.ForeignKey("training.RouterVersion", on_delete=models.SET_NULL, null=True, blank=True,
                                       related_name="+")
    summary = models.CharField(max_length=300)
    details = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "console_auditevent"  # created by the console app, which owned it first
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} {self.actor_name or 'system'}: {self.summary}"
