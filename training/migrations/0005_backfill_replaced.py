"""Rollback history for versions activated before `replaced` existed: each version that was ever
active replaced the one activated just before it in its scope (all were global then)."""
from django.db import migrations


def backfill(apps, schema_editor):
    RouterVersion = apps.get_model("training", "RouterVersion")
    for kind in RouterVersion.objects.values_list("kind", flat=True).distinct():
        previous = None
        for version in RouterVersion.objects.filter(kind=kind, tenant__isnull=True, activated_at__isnull=False,
                                                    replaced__isnull=True).order_by("activated_at", "pk"):
            if previous is not None:
                version.replaced_id = previous.pk
                version.save(update_fields=["replaced"])
            previous = version


class Migration(migrations.Migration):
    dependencies = [("training", "0004_tenant_router_versions")]
    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
