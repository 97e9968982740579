"""The audit log now belongs to the `audit` app (its table stays as it is)."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("console", "0001_audit_events"),
        ("audit", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="AuditEvent")],
            database_operations=[],
        ),
    ]
