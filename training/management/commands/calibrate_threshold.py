import numpy as np
from django.core.management.base import BaseCommand, CommandError

from feedback.importers import UnknownFormat
from training.calibration import threshold_for_strong_share
from training.evaluation import eval_set_load
from training.routers import ROUTERS, Router, SWRankingRouter
from training.selectors import battles_load, router_version_active
from training.services import embeddings_for_texts


class Command(BaseCommand):
    help = ("The threshold that sends a target share of queries to the strong model, calibrated on the "
            "active router's win rates over a score file's prompts (RouteLLM's calibrate_threshold).")

    def add_arguments(self, parser):
        parser.add_argument("--kind", required=True, choices=[k for k in ROUTERS if k != "random"])
        parser.add_argument("--strong-share", type=float, required=True, help="Target share in [0, 1].")
        parser.add_argument("--prompts", required=True, metavar="SCORES_FILE", help="Score-table JSONL.")
        parser.add_argument("--strong", required=True)
        parser.add_argument("--weak", required=True)

    def handle(self, *args, **opts):
        if not 0.0 <= opts["strong_share"] <= 1.0:
            raise CommandError("--strong-share must be in [0, 1]", returncode=2)
        version = router_version_active(kind=opts["kind"])
        if version is None:
            raise CommandError(f"no active {opts['kind']} version: train one with train_router --activate",
                               returncode=2)
        try:
            eval_set = eval_set_load(opts["prompts"], strong=opts["strong"], weak=opts["weak"])
        except (FileNotFoundError, UnknownFormat) as exc:
            raise CommandError(str(exc), returncode=2) from None
        queries = embeddings_for_texts(eval_set.prompts, progress=True)
        if opts["kind"] == "sw":
            router = SWRankingRouter(**version.hyperparameters.get("router", {})).fit(battles_load())
        else:
            router = Router.from_bytes(bytes(version.artifact))
        try:
            win_rates = router.predict_win_rate(queries, strong=eval_set.strong, weak=eval_set.weak)
        except KeyError as exc:
            raise CommandError(f"cannot score this pair: {exc.args[0]}", returncode=2) from None
        threshold = threshold_for_strong_share(win_rates, opts["strong_share"])
        self.stdout.write(f"For {opts['strong_share']:.1%} strong calls, threshold = {threshold:.5f} "
                          f"(model name router-{opts['kind']}-{threshold:.5f}); "
                          f"win rates on {len(win_rates)} prompts: median {np.median(win_rates):.4f}")
