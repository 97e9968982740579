from django.db import migrations
from pgvector.django import VectorExtension


class Migration(migrations.Migration):
    """pgvector: needed by every table with an embedding column."""

    initial = True
    dependencies: list = []
    operations = [VectorExtension()]
