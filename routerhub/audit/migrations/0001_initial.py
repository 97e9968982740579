"""The audit log moves from the console app to this one: the table stays as it is
(`console_auditevent`); only Django's record of which app owns it changes."""
import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def content_type_move(apps, schema_editor):
    """The model's content type (and so its permissions, e.g. a staff user's view permission)
    moves with it."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    if not ContentType.objects.filter(app_label="audit", model="auditevent").exists():
        ContentType.objects.filter(app_label="console", model="auditevent").update(app_label="audit")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("console", "0001_audit_events"),
        ("tenants", "0002_duels_and_judge"),
        ("training", "0004_tenant_router_versions"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="AuditEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False,
                                                   verbose_name="ID")),
                        ("actor_name", models.CharField(blank=True, help_text="Kept when the user is deleted.",
                                                        max_length=150)),
                        ("action", models.CharField(choices=[
                            ("threshold_changed", "Threshold Changed"), ("tenant_updated", "Tenant Updated"),
                            ("version_promoted", "Version Promoted"), ("version_rolled_back", "Version Rolled Back"),
                            ("key_created", "Key Created"), ("key_revoked", "Key Revoked"),
                            ("retrain_queued", "Retrain Queued")], db_index=True, max_length=32)),
                        ("summary", models.CharField(max_length=300)),
                        ("details", models.JSONField(blank=True, default=dict)),
                        ("created", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("actor", models.ForeignKey(blank=True, null=True,
                                                    on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                                                    to=settings.AUTH_USER_MODEL)),
                        ("router_version", models.ForeignKey(blank=True, null=True,
                                                             on_delete=django.db.models.deletion.SET_NULL,
                                                             related_name="+", to="training.routerversion")),
                        ("tenant", models.ForeignKey(blank=True, null=True,
                                                     on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                                                     to="tenants.tenant")),
                    ],
                    options={"db_table": "console_auditevent", "ordering": ["-created", "-id"]},
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_type_move, migrations.RunPython.noop),
    ]
