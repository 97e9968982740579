import uuid

from django.conf import settings
from django.db import models

from routerhub.embeddings.fields import VectorField


class RoutedRequest(models.Model):
    """One request through the gateway: what was asked, how it was routed, what it cost."""

    class Status(models.TextChoices):
        PENDING = "pending"
        OK = "ok"
        FALLBACK = "fallback"  # answered by the other model after the chosen one failed
        CLIENT_ERROR = "client_error"  # 4xx: bad request after authentication
        UPSTREAM_ERROR = "upstream_error"  # every upstream failed: 502
        CLIENT_DISCONNECTED = "client_disconnected"  # streaming client left early
        SERVER_ERROR = "server_error"  # a RouterHub fault: 500

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="requests")
    api_key = models.ForeignKey("tenants.ApiKey", on_delete=models.SET_NULL, null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    operation = models.CharField(max_length=16, default="chat", help_text="chat (chat completions) or embeddings")
    messages = models.JSONField(default=list, blank=True)
    routed_prompt = models.TextField(blank=True)
    embedding = VectorField(dimensions=settings.ROUTERHUB_EMBEDDING_DIM, null=True, blank=True)
    requested_model = models.CharField(max_length=128, blank=True)
    router_kind = models.CharField(max_length=16, blank=True)
    router_version = models.ForeignKey("training.RouterVersion", on_delete=models.SET_NULL,
                                       null=True, blank=True, related_name="+")
    routing_reason = models.CharField(max_length=300, blank=True)
    win_rate = models.FloatField(null=True, blank=True)
    threshold = models.FloatField(null=True, blank=True)
    scores = models.JSONField(default=dict, blank=True,
                              help_text="The router's rating of every candidate model (P(a beats b) = σ(r_a − r_b)).")
    estimated_cost = models.DecimalField(max_digits=14, decimal_places=8, null=True, blank=True,
                                         help_text="The chosen model's expected cost when it was chosen (USD).")
    chosen_model = models.CharField(max_length=128, blank=True, help_text="Model the router chose.")
    served_model = models.CharField(max_length=128, blank=True, help_text="Model that answered.")
    fallback = models.BooleanField(default=False)
    stream = models.BooleanField(default=False)
    answer = models.TextField(blank=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING, db_index=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=0)
    routing_latency_ms = models.FloatField(null=True, blank=True)
    upstream_latency_ms = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["tenant", "-created"], name="routedreq_tenant_created"),
        ]
        # No vector index on `embedding`: nothing searches requests by similarity (SW searches the
        # preference store), and an HNSW insert (and its vacuum) on every request cost the gateway
        # more than the rest of its database work.

    def __str__(self) -> str:
        return f"{self.id} {self.tenant_id} {self.served_model or self.chosen_model} {self.status}"
