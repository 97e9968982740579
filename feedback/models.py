from django.conf import settings
from django.db import models
from pgvector.django import HnswIndex, VectorField


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
