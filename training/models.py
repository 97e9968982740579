from django.db import models
from django.db.models import Q

from training.core.routers import ROUTER_KINDS


class RouterVersion(models.Model):
    """A trained router: hyperparameters, artifact, data fingerprint and evaluation metrics."""

    class Status(models.TextChoices):
        CANDIDATE = "candidate"
        ACTIVE = "active"
        RETIRED = "retired"

    kind = models.CharField(max_length=16, choices=[(k, k.upper()) for k in ROUTER_KINDS])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.CANDIDATE)
    hyperparameters = models.JSONField(default=dict, blank=True)
    model_names = models.JSONField(default=list, blank=True, help_text="Model names, in artifact index order.")
    artifact = models.BinaryField(null=True, blank=True)
    artifact_sha256 = models.CharField(max_length=64, blank=True)
    data_fingerprint = models.CharField(max_length=64, blank=True)
    embedder = models.CharField(max_length=100, blank=True, help_text="The embedder whose vector space it was "
                                "trained in (its queries must be embedded the same way); empty: not recorded.")
    data_counts = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    training_run = models.ForeignKey("training.TrainingRun", on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="versions")
    replaced = models.ForeignKey("self", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
                                 help_text="The version this one replaced when it was last promoted: where a "
                                           "rollback goes back to.")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True,
                               related_name="router_versions",
                               help_text="Empty: the global version (shared data), served to every tenant that has "
                                         "no active version of its own. Set: trained on the shared data plus this "
                                         "tenant's own feedback, served to this tenant only.")

    class Meta:
        ordering = ["-created"]
        constraints = [
            # one active version per kind and scope (the global scope included: NULLS NOT DISTINCT)
            models.UniqueConstraint(fields=["kind", "tenant"], condition=Q(status="active"), nulls_distinct=False,
                                    name="one_active_router_version_per_kind_scope"),
        ]

    def __str__(self) -> str:
        scope = f" for {self.tenant}" if self.tenant_id else ""
        return f"{self.kind} v{self.pk}{scope} ({self.status})"

    @property
    def is_demo(self) -> bool:
        """Trained on the project's demo set alone (training/demo.py), not on real preferences."""
        return bool((self.hyperparameters or {}).get("data", {}).get("demo"))

    @property
    def on_other_embedder(self) -> bool:
        """Trained on another embedder's vectors than this deployment computes (the embedder setting
        changed since): web processes refuse to serve it, and the next run retrains its scope."""
        from routerhub.embeddings.services import embedder_get

        return bool(self.embedder) and self.embedder != embedder_get().name


class TrainingRun(models.Model):
    """One retraining: queued by the schedule or on demand, run by a Celery worker, its progress and
    outcome kept here (never in a result backend)."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True)
    trigger = models.CharField(max_length=16, default="manual", help_text="manual or schedule")
    kinds = models.JSONField(default=list, help_text="Router kinds to train.")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True,
                               related_name="training_runs",
                               help_text="Empty: global versions on the shared data. Set: this tenant's versions, "
                                         "trained on the shared data plus its own feedback.")
    progress = models.FloatField(default=0.0)
    message = models.CharField(max_length=300, blank=True)
    log = models.TextField(blank=True, help_text="The run's last log lines.")
    error = models.TextField(blank=True)
    data_counts = models.JSONField(default=dict, blank=True)
    metrics = models.JSONField(default=dict, blank=True, help_text="Candidates and active versions on each set.")
    promoted = models.JSONField(default=list, blank=True, help_text="Versions this run promoted.")
    time_limit_s = models.PositiveIntegerField(default=3600)
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"training run {self.pk} ({self.status})"
