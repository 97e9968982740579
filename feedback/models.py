from django.conf import settings
from django.db import models
from pgvector.django import HnswIndex

from routerhub.embeddings.fields import VectorField


class PreferencePrompt(models.Model):
    """A prompt that has battles, stored once with its embedding (HNSW, cosine).

    SW routing searches these for a query's nearest prompts and expands them to their battles;
    keeping one row per prompt (not per battle) keeps the index free of duplicate vectors.
    """

    text_sha256 = models.CharField(max_length=64, unique=True)
    text = models.TextField()
    embedding_backend = models.CharField(max_length=100)
    embedding = VectorField(dimensions=settings.ROUTERHUB_EMBEDDING_DIM)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [HnswIndex(name="prefprompt_embedding_hnsw", fields=["embedding"], m=16, ef_construction=64,
                             opclasses=["vector_cosine_ops"])]

    def __str__(self) -> str:
        return self.text[:80]


class Preference(models.Model):
    """One battle: two models' answers to a prompt and which one won (a tie counts half each)."""

    class Winner(models.TextChoices):
        MODEL_A = "model_a"
        MODEL_B = "model_b"
        TIE = "tie"

    prompt = models.ForeignKey(PreferencePrompt, on_delete=models.PROTECT, related_name="preferences")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, null=True, blank=True,
                               related_name="preferences", help_text="Empty: shared by every tenant.")
    model_a = models.CharField(max_length=200)
    model_b = models.CharField(max_length=200)
    winner = models.CharField(max_length=8, choices=Winner.choices)
    source = models.CharField(max_length=100, db_index=True)
    judge = models.CharField(max_length=200, blank=True)
    weight = models.FloatField(default=1.0)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    content_hash = models.CharField(max_length=64, unique=True, help_text="Idempotency key of the import.")
    metadata = models.JSONField(default=dict, blank=True)
    request = models.ForeignKey("gateway.RoutedRequest", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="preferences", help_text="The gateway request it is about, if any.")

    class Meta:
        indexes = [models.Index(fields=["tenant", "created"], name="pref_tenant_created")]
        constraints = [models.CheckConstraint(condition=~models.Q(model_a=models.F("model_b")),
                                              name="preference_two_different_models")]

    def __str__(self) -> str:
        return f"{self.model_a} vs {self.model_b}: {self.winner} ({self.source})"


class Feedback(models.Model):
    """A user's thumbs on one gateway answer: one per request (a second rating replaces the first)."""

    class Rating(models.TextChoices):
        UP = "up"
        DOWN = "down"

    request = models.OneToOneField("gateway.RoutedRequest", on_delete=models.CASCADE, related_name="feedback")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="feedback")
    rating = models.CharField(max_length=4, choices=Rating.choices)
    comment = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["tenant", "created"], name="feedback_tenant_created")]

    def __str__(self) -> str:
        return f"{self.rating} on {self.request_id}"


class Duel(models.Model):
    """Exploration: a routed request's answer beside the other model's answer to the same messages,
    fetched after the user had theirs (Celery, off the request path), waiting for a label from a
    person (arena, POST /v1/preferences) or the tenant's LLM judge. Model a is the tenant's strong
    model, model b its weak one; a label becomes one battle (`preference`)."""

    class Status(models.TextChoices):
        PENDING = "pending"  # the other answer is not fetched yet
        FETCHING = "fetching"
        AWAITING_LABEL = "awaiting_label"
        LABELLED = "labelled"
        FAILED = "failed"  # the other model did not answer (after retries)

    request = models.OneToOneField("gateway.RoutedRequest", on_delete=models.CASCADE, related_name="duel")
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="duels")
    model_a = models.CharField(max_length=128, help_text="The strong model.")
    model_b = models.CharField(max_length=128, help_text="The weak model.")
    answer_a = models.TextField(blank=True)
    answer_b = models.TextField(blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    winner = models.CharField(max_length=8, choices=Preference.Winner.choices, blank=True)
    labelled_by = models.CharField(max_length=200, blank=True, help_text="user:<name>, api, or judge:<model>.")
    labelled_at = models.DateTimeField(null=True, blank=True)
    judge_verdicts = models.JSONField(default=dict, blank=True, help_text="The judge's two verdicts (both orders).")
    preference = models.ForeignKey(Preference, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    skips = models.PositiveIntegerField(default=0, help_text="Times a person skipped it in the arena.")
    probability = models.FloatField(null=True, blank=True,
                                    help_text="The chance its request had of being duelled (duel selection): "
                                              "what an unbiased estimate weighs its label by.")
    attempts = models.PositiveSmallIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cost = models.DecimalField(max_digits=14, decimal_places=8, default=0, help_text="What the extra answer cost.")
    error = models.TextField(blank=True)
    queued_at = models.DateTimeField(null=True, blank=True,
                                     help_text="When the dispatch sweep queued its fetch (empty: not yet).")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created"]
        indexes = [models.Index(fields=["status", "created"], name="duel_status_created"),
                   models.Index(fields=["tenant", "status"], name="duel_tenant_status"),
                   models.Index(fields=["created"], name="duel_unqueued",
                                condition=models.Q(status="pending", queued_at__isnull=True))]

    def __str__(self) -> str:
        return f"duel {self.pk} on {self.request_id}: {self.status}"
