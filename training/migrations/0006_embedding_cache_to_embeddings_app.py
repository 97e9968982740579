"""The embedding cache now belongs to the `embeddings` app (its table stays as it is)."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("training", "0005_backfill_replaced"),
        ("embeddings", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="EmbeddingCacheEntry")],
            database_operations=[],
        ),
    ]
