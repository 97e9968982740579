"""`python manage.py replay_duels --scores FILE (--strong M --weak M | --pool all|M1,M2,...) --duel-rate d
--selections uniform,active --seeds 0-19 [--requests N --test-size N --checkpoints 50,100,200 --target-apgr 0.57
--knob 0.5 --target-aiq 0.84 --json OUT --plot OUT.png]`: duel selection rules compared offline, over many
seeds, paired.

`training.core.replay` replays each seed's traffic part in memory (SW over the stored shared
battles plus the labels so far; the gateway's own `DuelSelector`) and scores SW on the test part
every few labels: APGR for a pair, AIQ for a pool (`--pool`: the score file's priced models,
routed at `--knob`; the rule also picks each duel's second model). Every rule sees the same
traffic, test part and draws for a seed, so each seed gives a paired difference against the first
rule listed. The split is `simulate_traffic`'s (`--test-share`, seeded), so its figures and these
are on the same prompts. Figures: README, *Which requests to duel*.
"""
from __future__ import annotations

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from routerhub.devtools.simulation import score_file_arguments
from training.core.active import SELECTIONS


def parse_seeds(text: str) -> list[int]:
    """'0,1,2' or '0-19' (or a mix: '0-4,9')."""
    seeds: list[int] = []
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        if high and int(high) < int(low):
            raise ValueError(f"empty range {part!r}")
        seeds += list(range(int(low), int(high) + 1)) if high else [int(low)]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError("no seeds, or a seed twice")
    return seeds


class Command(BaseCommand):
    help = __doc__.split("\n\n")[0]

    def add_arguments(self, parser):
        score_file_arguments(parser, pair_required=False)
        parser.add_argument("--pool", metavar="all|M1,M2,...",
                            help="Replay a pool tenant instead of a pair: the file's models that it scores and "
                                 "prices ('all'), or these; scored by AIQ.")
        parser.add_argument("--knob", type=float, default=None,
                            help="The pool's routing threshold (with --pool; default 0.5).")
        parser.add_argument("--target-aiq", type=float, default=None,
                            help="The AIQ to reach (with --pool; default 0.84).")
        parser.add_argument("--duel-rate", type=float, required=True, help="The tenant's duel rate.")
        parser.add_argument("--selections", default="uniform,active",
                            help=f"Rules to compare ({', '.join(SELECTIONS)}); the first is the baseline of the "
                                 "paired differences.")
        parser.add_argument("--seeds", default="0-19", help="'0-19' or '0,1,2'.")
        parser.add_argument("--requests", type=int, default=None, help="Traffic requests (default: the traffic part).")
        parser.add_argument("--test-share", type=float, default=0.5)
        parser.add_argument("--test-size", type=int, default=None)
        parser.add_argument("--max-labels", type=int, default=None)
        parser.add_argument("--every", type=int, default=25, help="Labels between two scorings.")
        parser.add_argument("--block", type=int, default=10,
                            help="Requests routed by the same labels (their labels arrive after the block).")
        parser.add_argument("--checkpoints", default="50,100,200")
        parser.add_argument("--target-apgr", type=float, default=None, help="The APGR to reach (a pair; default 0.57).")
        parser.add_argument("--json", metavar="OUT")
        parser.add_argument("--plot", metavar="OUT.png")

    def handle(self, *args, **opts):
        from tqdm import tqdm

        from feedback.selectors import battles_load
        from routerhub.devtools.simulation import (
            comparison_write,
            paired_differences,
            pool_set_load,
            random_line,
            score_file_load,
            selection_comparison,
            selections_parse,
            traffic_test_split,
        )
        from training.core.pools import pool_baselines
        from training.core.replay import ReplayConfig, duel_replay, pool_duel_replay
        from training.evaluation import eval_set_embed

        if not 0.0 < opts["duel_rate"] <= 1.0 or not 0.0 < opts["test_share"] < 1.0:
            raise CommandError("--duel-rate must be in (0, 1] and --test-share in (0, 1)", returncode=2)
        if bool(opts["pool"]) == bool(opts["strong"] or opts["weak"]) or (
                not opts["pool"] and not (opts["strong"] and opts["weak"])):
            raise CommandError("give --strong and --weak (a pair), or --pool (two or more models)", returncode=2)
        if not opts["pool"] and (opts["knob"] is not None or opts["target_aiq"] is not None):
            raise CommandError("--knob and --target-aiq apply to a pool (--pool); a pair re-calibrates its threshold",
                               returncode=2)
        if opts["pool"] and opts["target_apgr"] is not None:
            raise CommandError("--target-apgr applies to a pair; a pool's target is --target-aiq", returncode=2)
        opts["target_apgr"] = 0.57 if opts["target_apgr"] is None else opts["target_apgr"]
        opts["knob"] = 0.5 if opts["knob"] is None else opts["knob"]
        opts["target_aiq"] = 0.84 if opts["target_aiq"] is None else opts["target_aiq"]
        if not 0.0 <= opts["knob"] <= 1.0:
            raise CommandError("--knob must be in [0, 1]", returncode=2)
        selections = selections_parse(opts["selections"], option="--selections")
        for name in ("block", "every", "requests", "test_size", "max_labels"):
            if opts[name] is not None and opts[name] < 1:
                raise CommandError(f"--{name.replace('_', '-')} must be positive", returncode=2)
        try:
            seeds = parse_seeds(opts["seeds"])
            checkpoints = [int(c) for c in opts["checkpoints"].split(",")]
        except ValueError:
            raise CommandError("--seeds ('0-19' or '0,1,2') and --checkpoints (comma-separated) are integers",
                               returncode=2) from None
        eval_set = pool_set_load(opts) if opts["pool"] else score_file_load(opts)
        shared = battles_load()
        missing = [m for m in eval_set.models if m not in shared.models]
        if missing:
            raise CommandError(f"the shared battles never name {', '.join(missing)}: import them first "
                               "(import_preferences)", returncode=2)
        eval_set_embed(eval_set, progress=True)
        config = ReplayConfig(rate=opts["duel_rate"], every=opts["every"], block=opts["block"], knob=opts["knob"],
                              max_labels=opts["max_labels"], own_weight=settings.ROUTERHUB_OWN_DATA_WEIGHT)
        metric, target = ("aiq", opts["target_aiq"]) if opts["pool"] else ("apgr", opts["target_apgr"])
        results = []
        with tqdm(total=len(seeds) * len(selections), desc="replays", unit="run") as bar:
            for seed in seeds:
                traffic, test = traffic_test_split(eval_set, opts, seed)
                for selection in selections:
                    run = {"config": {"scores": opts["scores"], "duel_selection": selection, "seed": seed,
                                      "duel_rate": opts["duel_rate"], "test_n": len(test.rows),
                                      "traffic_n": len(traffic.rows)}}
                    if opts["pool"]:
                        curve, pairs = pool_duel_replay(shared, traffic, test, selection=selection, config=config,
                                                        seed=seed)
                        run["config"].update(pool=traffic.models, knob=opts["knob"])
                        run["pairs"] = [{"model_a": a, "model_b": b, "duels": n} for (a, b), n in pairs.most_common()]
                        run["random"] = {"aiq": pool_baselines(test)["random_mix"]["aiq"]}
                        run["points"] = [{"router": "sw", "duel_labels": n, **scores} for n, scores in curve]
                    else:
                        curve = duel_replay(shared, traffic, test, selection=selection, config=config, seed=seed)
                        run["random"] = random_line(test)
                        run["points"] = [{"router": "sw", "duel_labels": n, "apgr": a} for n, a in curve]
                    results.append(run)
                    bar.update(1)
        comparison = selection_comparison(results, router="sw", checkpoints=checkpoints, target=target, metric=metric)
        comparison["paired"] = paired_differences(results, router="sw", checkpoints=checkpoints,
                                                  baseline=selections[0], metric=metric)
        self._print(comparison, checkpoints, target, selections[0])
        comparison_write(results, comparison, json_path=opts["json"], plot_path=opts["plot"], say=self.stdout.write)

    def _print(self, comparison: dict, checkpoints: list[int], target: float, baseline: str) -> None:
        digits = 3 if comparison["metric"] == "apgr" else 4  # a pool's AIQ moves by thousandths
        for selection, row in comparison["selections"].items():
            cells = [f"{n}: " + (f"{row['at'][str(n)]['mean']:.{digits}f} ± {row['at'][str(n)]['std']:.{digits}f}"
                                 if row["at"][str(n)] else "-") for n in checkpoints]
            reached = [n for n in row["labels_to_target"] if n is not None]
            self.stdout.write(f"{selection} ({row['runs']} seeds): {comparison['metric'].upper()} after "
                              + "; ".join(cells) + f"; reached {target:g} in {len(reached)} of {row['runs']}"
                              + (f" (median {int(np.median(reached))} labels)" if reached else ""))
            paired = comparison["paired"].get(selection)
            if paired:
                self.stdout.write(f"  against {baseline}, paired: " + "; ".join(
                    f"{n}: {d['mean']:+.{digits}f} ± {d['sem'] or 0:.{digits}f} (wins {d['wins']} of {d['runs']})"
                    for n, d in paired.items() if d))
