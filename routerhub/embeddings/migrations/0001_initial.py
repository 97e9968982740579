"""The embedding cache moves from the training app to this one: the table stays as it is
(`training_embeddingcacheentry`); only Django's record of which app owns it changes."""
import pgvector.django.vector
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("training", "0002_embeddingcacheentry"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="EmbeddingCacheEntry",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("backend", models.CharField(max_length=100)),
                        ("text_sha256", models.CharField(max_length=64)),
                        ("embedding", pgvector.django.vector.VectorField(dimensions=settings.ROUTERHUB_EMBEDDING_DIM)),
                        ("created", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "training_embeddingcacheentry",
                        "constraints": [models.UniqueConstraint(fields=("backend", "text_sha256"),
                                                                name="embedding_cache_key")],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
