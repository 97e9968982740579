from django.core.management.base import BaseCommand, CommandError

from feedback.store import preferences_import
from routerhub.tenants.models import Tenant
from training.core.datasets import UnknownFormat


class Command(BaseCommand):
    help = ("Import preferences: battles JSONL, score-table JSONL (every pair of scored models becomes a "
            "battle: higher score wins, equal = tie) or a Chatbot Arena CSV; plain or gzipped. Idempotent.")

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="+", metavar="PATH")
        parser.add_argument("--source", help="Source name stored on each battle (default: the file's or its name).")
        parser.add_argument("--tenant", help="Slug of the tenant that owns these battles (default: shared).")
        parser.add_argument("--max-errors-shown", type=int, default=20)

    def handle(self, *args, **opts):
        tenant = None
        if opts["tenant"]:
            tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
            if tenant is None:
                raise CommandError(f"no tenant with slug {opts['tenant']!r}", returncode=2)
        for path in opts["paths"]:
            try:
                report = preferences_import(path=path, source=opts["source"], tenant=tenant, progress=True)
            except FileNotFoundError:
                raise CommandError(f"{path}: no such file", returncode=2) from None
            except UnknownFormat as exc:
                raise CommandError(str(exc), returncode=2) from None
            for line, message in report.errors[:opts["max_errors_shown"]]:
                self.stderr.write(f"{path}:{line}: skipped: {message}")
            if len(report.errors) > opts["max_errors_shown"]:
                self.stderr.write(f"... and {len(report.errors) - opts['max_errors_shown']} more malformed rows")
            self.stdout.write(
                f"{path}: {report.format}, {report.rows} rows read, {report.rows - report.skipped} taken, "
                f"{report.skipped} skipped; {report.battles} battles: {report.created} new, "
                f"{report.duplicates} already stored")
