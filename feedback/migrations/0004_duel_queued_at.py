from django.db import migrations, models


class Migration(migrations.Migration):
    """Duels are queued by a sweep, not by the request: when each was queued, and an index on the
    ones still waiting."""

    dependencies = [("feedback", "0003_duels")]

    operations = [
        migrations.AddField(
            model_name="duel",
            name="queued_at",
            field=models.DateTimeField(blank=True, help_text="When the dispatch sweep queued its fetch (empty: not yet).",
                                       null=True),
        ),
        migrations.AddIndex(
            model_name="duel",
            index=models.Index(condition=models.Q(("queued_at__isnull", True), ("status", "pending")),
                               fields=["created"], name="duel_unqueued"),
        ),
    ]
