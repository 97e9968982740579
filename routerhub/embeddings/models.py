from django.conf import settings
from django.db import models

from routerhub.embeddings.fields import VectorField


class EmbeddingCacheEntry(models.Model):
    """Every text is embedded once per backend, across imports, training and serving."""

    backend = models.CharField(max_length=100)
    text_sha256 = models.CharField(max_length=64)
    embedding = VectorField(dimensions=settings.ROUTERHUB_EMBEDDING_DIM)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "training_embeddingcacheentry"  # created by the training app, which owned it first
        constraints = [models.UniqueConstraint(fields=["backend", "text_sha256"], name="embedding_cache_key")]
