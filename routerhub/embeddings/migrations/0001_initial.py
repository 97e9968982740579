"""The embedding cache moves from the training app to this one: the table stays as it is
(`training_embeddingcacheentry`); only Django's record of which app owns it changes."""
import pgvector.django.vector
from django.conf import settings
from django.db import migrations, models


def content_type_move(apps, schema_editor):
    """The model's content type (and so its permissions, e.g. a staff user's view permission)
    moves with it."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="embeddings", model="embeddingcacheentry").exists():
        ContentType.objects.filter(app_label="training", model="embeddingcacheentry").update(app_label="embeddings")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
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
        migrations.RunPython(content_type_move, migrations.RunPython.noop),
    ]
