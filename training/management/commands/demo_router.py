"""`python manage.py demo_router`: a router for `model="router"` from the first start (training/demo.py),
and after a change of embedder a run that retrains what can no longer be served (training/runs.py)."""
from django.core.management.base import BaseCommand

from training.core.routers import DEFAULT_TRAINING_KINDS
from training.demo import demo_router_ensure
from training.runs import embedder_change_queue


class Command(BaseCommand):
    help = ("Train and activate a router for each kind without an active version: on the project's demo set "
            "(a demo router) when the store holds nothing else. Queue a training run for every scope whose active "
            "versions were trained on another embedder than the configured one.")

    def add_arguments(self, parser):
        parser.add_argument("--kind", action="append", choices=DEFAULT_TRAINING_KINDS,
                            help="Only these kinds (repeatable; default: every trainable kind).")

    def handle(self, *args, **opts):
        made = demo_router_ensure(kinds=opts["kind"] or DEFAULT_TRAINING_KINDS, log=self.stdout.write)
        for run in embedder_change_queue(via="start: the embedder changed"):
            scope = run.tenant.slug if run.tenant else "global"
            self.stdout.write(f"demo_router: training run {run.pk} queued ({scope}): its active versions were "
                              f"trained on another embedder's vectors and are not served until it finishes")
        if not made:
            self.stdout.write("demo_router: every kind has an active version; nothing to do")
