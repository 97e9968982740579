"""`python manage.py demo_router`: a router for `model="router"` from the first start (training/demo.py)."""
from django.core.management.base import BaseCommand

from training.core.routers import TRAINABLE_KINDS
from training.demo import demo_router_ensure


class Command(BaseCommand):
    help = ("Train and activate a router for each kind without an active version: on the project's demo set "
            "(a demo router) when the store holds nothing else.")

    def add_arguments(self, parser):
        parser.add_argument("--kind", action="append", choices=TRAINABLE_KINDS,
                            help="Only these kinds (repeatable; default: every trainable kind).")

    def handle(self, *args, **opts):
        made = demo_router_ensure(kinds=opts["kind"] or TRAINABLE_KINDS, log=self.stdout.write)
        if not made:
            self.stdout.write("demo_router: every kind has an active version; nothing to do")
