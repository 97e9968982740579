from django.core.management.base import BaseCommand, CommandError

from feedback.selectors import battles_load
from feedback.store import preference_prompts_reembed
from training.core.routers import ROUTERS, TRAINABLE_KINDS
from training.management.commands.evaluate_router import parse_params, parse_source_weights
from training.services import router_fit, router_version_create, router_version_promote


class Command(BaseCommand):
    help = "Train a router on the stored preferences and save it as a candidate RouterVersion."

    def add_arguments(self, parser):
        parser.add_argument("--kind", required=True, choices=TRAINABLE_KINDS)
        parser.add_argument("--activate", action="store_true", help="Make it the active version of its kind.")
        parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
        parser.add_argument("--source-weight", action="append", default=[], metavar="SOURCE=WEIGHT")

    def handle(self, *args, **opts):
        kind = opts["kind"]
        params = parse_params([f"{kind}.{item}" for item in opts["param"]]).get(kind, {})
        source_weights = parse_source_weights(opts["source_weight"])
        data_params = {"source_weights": source_weights} if source_weights else {}
        preference_prompts_reembed(progress=True)
        battles = battles_load(with_texts=ROUTERS[kind].reads_text, **data_params)
        if len(battles) == 0:
            raise CommandError("no stored preferences to train on: run import_preferences first", returncode=2)
        self.stdout.write(f"training {kind} on {len(battles)} battles, {len(battles.prompt_embeddings)} prompts, "
                          f"{len(battles.models)} models")
        try:
            router = router_fit(kind=kind, battles=battles, params=params,
                                progress=lambda fraction, message: self.stdout.write(f"  {fraction:4.0%} {message}"))
        except TypeError as exc:
            raise CommandError(f"bad hyperparameter: {exc}", returncode=2) from None
        except ValueError as exc:  # e.g. causal_llm without its classifier endpoint
            raise CommandError(str(exc), returncode=2) from None
        version = router_version_create(router=router, battles=battles, data_params=data_params)
        if opts["activate"]:
            version = router_version_promote(version=version, via="cli: train_router --activate")
        self.stdout.write(self.style.SUCCESS(f"router version {version.pk} ({kind}, {version.status})"))
