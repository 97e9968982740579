"""`python manage.py retrain [--tenant SLUG] [--wait]`: queue a training run on the Celery worker
(queue `training`): the global versions, or with --tenant that tenant's own (shared data + its feedback)."""
import time

from django.core.management.base import BaseCommand, CommandError

from routerhub.tenants.selectors import tenant_by_slug
from training.core.routers import TRAINABLE_KINDS
from training.models import TrainingRun
from training.runs import TrainingRunBusy, training_kinds_default, training_run_queue


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--kinds", default=None,
                            help="Router kinds to train (comma-separated; default: sw,mf, and causal_llm when "
                                 "ROUTERHUB_CAUSAL_LLM_ENDPOINT is set).")
        parser.add_argument("--tenant", default=None,
                            help="Train this tenant's own versions (shared data + its feedback) instead of the global ones.")
        parser.add_argument("--wait", action="store_true",
                            help="Wait for the run to end, showing its progress; exit 1 if it fails.")
        parser.add_argument("--timeout", type=float, default=None, help="With --wait: give up after this many s.")

    def handle(self, *args, **opts):
        kinds = [k.strip() for k in (opts["kinds"] or ",".join(training_kinds_default())).split(",") if k.strip()]
        unknown = [k for k in kinds if k not in TRAINABLE_KINDS]
        if not kinds or unknown:
            raise CommandError(f"--kinds: unknown or untrainable {', '.join(unknown) or '(none)'}; use "
                               f"{' and/or '.join(TRAINABLE_KINDS)}", returncode=2)
        tenant = None
        if opts["tenant"]:
            tenant = tenant_by_slug(opts["tenant"])
            if tenant is None:
                raise CommandError(f"--tenant: no tenant {opts['tenant']!r}", returncode=2)
        try:  # two runs of one scope would race each other to promote
            run = training_run_queue(trigger="manual", kinds=kinds, tenant=tenant, via="cli: retrain")
        except TrainingRunBusy as exc:
            raise CommandError(f"{exc} ({tenant or 'the global scope'})", returncode=2) from None
        self.stdout.write(f"training run {run.pk} queued ({', '.join(kinds)}; {tenant or 'global'})")
        if not opts["wait"]:
            return
        from tqdm import tqdm

        deadline = time.monotonic() + opts["timeout"] if opts["timeout"] else None
        with tqdm(total=100, desc=f"run {run.pk}", unit="%") as bar:
            while True:
                run.refresh_from_db()
                bar.n = round(run.progress * 100)
                bar.set_postfix_str(f"{run.status}: {run.message}"[:60])
                bar.refresh()
                if run.status in (TrainingRun.Status.SUCCEEDED, TrainingRun.Status.FAILED):
                    break
                if deadline and time.monotonic() > deadline:
                    raise CommandError(f"run {run.pk} still {run.status} after {opts['timeout']:g} s", returncode=1)
                time.sleep(0.5)
        if run.status == TrainingRun.Status.FAILED:
            raise CommandError(f"training run {run.pk} failed: {run.error}", returncode=1)
        self.stdout.write(self.style.SUCCESS(f"training run {run.pk} succeeded: {run.message}"))
        for kind, metrics in run.metrics.items():
            for name, m in metrics.get("candidate", {}).items():
                self.stdout.write(f"  {kind} v{metrics['candidate_version']} on {name}: APGR {m['apgr']:.3f}, "
                                  f"CPT(50%) {m['cpt50']:.3f}")
