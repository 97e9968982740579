import numpy as np
from django.core.management.base import BaseCommand, CommandError

from training.core.calibration import threshold_for_strong_share
from training.core.datasets import UnknownFormat
from training.core.evaluation import eval_set_load
from training.core.routers import TRAINABLE_KINDS, UnknownModel
from training.evaluation import version_win_rates
from training.selectors import router_version_active


class Command(BaseCommand):
    help = ("The threshold that sends a target share of queries to the strong model, calibrated on the "
            "active router's win rates over a score file's prompts (RouteLLM's calibrate_threshold).")

    def add_arguments(self, parser):
        parser.add_argument("--kind", required=True, choices=TRAINABLE_KINDS)
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
        try:
            win_rates = version_win_rates(version, prompts=eval_set.prompts, strong=eval_set.strong,
                                          weak=eval_set.weak)
        except UnknownModel as exc:
            raise CommandError(f"cannot score this pair: {exc}", returncode=2) from None
        threshold = threshold_for_strong_share(win_rates, opts["strong_share"])
        self.stdout.write(f"For {opts['strong_share']:.1%} strong calls, threshold = {threshold:.5f} "
                          f"(model name router-{opts['kind']}-{threshold:.5f}); "
                          f"win rates on {len(win_rates)} prompts: median {np.median(win_rates):.4f}")
