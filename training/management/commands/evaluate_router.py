import json

from django.core.management.base import BaseCommand, CommandError

from feedback.store import preferences_import
from training.core.datasets import UnknownFormat
from training.core.evaluation import eval_set_load, holdout_split
from training.core.routers import ROUTERS, UnknownModel
from training.evaluation import curves_plot, holdout_import, holdout_source, routers_evaluate


def parse_params(values: list[str]) -> dict:
    """`kind.name=value` pairs into {kind: {name: value}} (values parsed as JSON when they can be)."""
    params: dict = {}
    for item in values:
        key, sep, raw = item.partition("=")
        kind, dot, name = key.partition(".")
        if not sep or not dot or kind not in ROUTERS:
            raise CommandError(f"--param {item!r}: expected KIND.NAME=VALUE with KIND in {', '.join(ROUTERS)}",
                               returncode=2)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        params.setdefault(kind, {})[name] = value
    return params


def parse_source_weights(values: list[str]) -> dict[str, float]:
    """`SOURCE=WEIGHT` pairs into {source: weight}."""
    weights = {}
    for item in values:
        name, _, value = item.partition("=")
        try:
            weights[name] = float(value)
        except ValueError:
            raise CommandError(f"--source-weight {item!r}: expected SOURCE=NUMBER", returncode=2) from None
    return weights


class Command(BaseCommand):
    help = "Evaluate routers on a score file with RouteLLM's metrics (APGR, CPT(20/50/80%), AUC)."

    def add_arguments(self, parser):
        parser.add_argument("--eval", required=True, metavar="SCORES_FILE")
        parser.add_argument("--strong", required=True)
        parser.add_argument("--weak", required=True)
        parser.add_argument("--train", nargs="*", metavar="FILE", default=None,
                            help="Import these files (idempotently) and train fresh routers on everything stored. "
                                 "Without --train (and without --holdout), the active versions are evaluated.")
        parser.add_argument("--holdout", type=float, default=None, metavar="FRACTION",
                            help="Import a seeded random FRACTION of the eval rows as extra training data and "
                                 "evaluate fresh routers on the rest.")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--routers", default="random,sw,mf")
        parser.add_argument("--param", action="append", default=[], metavar="KIND.NAME=VALUE",
                            help="Router hyperparameter, e.g. mf.epochs=30 or sw.top_k=1000 (repeatable).")
        parser.add_argument("--source-weight", action="append", default=[], metavar="SOURCE=WEIGHT",
                            help="Weight of a training source (0 leaves it out), repeatable.")
        parser.add_argument("--own-weight", type=float, default=None,
                            help="Weight of the holdout rows (the tenant's own data) [ROUTERHUB_OWN_DATA_WEIGHT].")
        parser.add_argument("--shared-judged-weight", type=float, default=None,
                            help="Weight of shared LLM-judge battles [ROUTERHUB_SHARED_JUDGED_WEIGHT].")
        parser.add_argument("--json", dest="json_out", metavar="OUT")
        parser.add_argument("--plot", metavar="OUT.png")

    def handle(self, *args, **opts):
        routers = [name.strip() for name in opts["routers"].split(",") if name.strip()]
        unknown = [name for name in routers if name not in ROUTERS]
        if unknown:
            raise CommandError(f"unknown router(s) {', '.join(unknown)}; known: {', '.join(ROUTERS)}", returncode=2)
        if opts["holdout"] is not None and not 0.0 < opts["holdout"] < 1.0:
            raise CommandError("--holdout must be a fraction strictly between 0 and 1", returncode=2)
        router_params = parse_params(opts["param"])
        source_weights = parse_source_weights(opts["source_weight"])
        try:
            eval_set = eval_set_load(opts["eval"], strong=opts["strong"], weak=opts["weak"])
        except FileNotFoundError:
            raise CommandError(f"{opts['eval']}: no such file", returncode=2) from None
        except UnknownFormat as exc:
            raise CommandError(str(exc), returncode=2) from None

        for path in opts["train"] or []:
            try:
                report = preferences_import(path=path, progress=True)
            except FileNotFoundError:
                raise CommandError(f"{path}: no such file", returncode=2) from None
            except UnknownFormat as exc:
                raise CommandError(str(exc), returncode=2) from None
            self.stdout.write(f"imported {path}: {report.created} new battles, {report.duplicates} already stored, "
                              f"{report.skipped} malformed rows skipped")
        test_set = eval_set
        data_params = {"source_weights": source_weights} if source_weights else {}
        for name in ("own_weight", "shared_judged_weight"):
            if opts[name] is not None:
                data_params[name] = opts[name]
        if opts["holdout"] is not None:
            train_part, test_set = holdout_split(eval_set, fraction=opts["holdout"], seed=opts["seed"])
            created, existing = holdout_import(train_part, seed=opts["seed"], progress=True)
            data_params["holdout_source"] = holdout_source(eval_set, opts["seed"])
            self.stdout.write(f"holdout: {len(train_part.rows)} eval rows as training data ({created} new battles, "
                              f"{existing} already stored); evaluating on the other {len(test_set.rows)}")
        train = opts["train"] is not None or opts["holdout"] is not None
        try:
            result = routers_evaluate(eval_set=test_set, routers=routers, train=train, router_params=router_params,
                                      data_params=data_params, progress=True, log=self.stdout.write)
        except UnknownModel as exc:  # the pair was never seen in training
            raise CommandError(f"cannot score this pair: {exc}", returncode=2) from None
        except TypeError as exc:  # an unknown --param name
            raise CommandError(f"bad hyperparameter: {exc}", returncode=2) from None
        result["holdout"] = opts["holdout"]
        result["seed"] = opts["seed"]
        self._print_table(result)
        if opts["json_out"]:
            with open(opts["json_out"], "w") as handle:
                json.dump(result, handle, indent=1)
            self.stdout.write(f"wrote {opts['json_out']}")
        if opts["plot"]:
            curves_plot(result, opts["plot"])
            self.stdout.write(f"wrote {opts['plot']}")

    def _print_table(self, result: dict) -> None:
        self.stdout.write(f"\n{result['eval']['file']}: n={result['eval']['n']}  strong {result['strong']} "
                          f"{result['strong_quality']:.3f}  weak {result['weak']} {result['weak_quality']:.3f}")
        self.stdout.write(f"{'router':10s} {'APGR':>7s} {'CPT(20%)':>9s} {'CPT(50%)':>9s} {'CPT(80%)':>9s} {'AUC':>7s}")
        rows = list(result["routers"].items()) + [("oracle", result["oracle"])]
        for name, m in rows:
            self.stdout.write(f"{name:10s} {m['apgr']:7.3f} {m['cpt20']:9.1%} {m['cpt50']:9.1%} {m['cpt80']:9.1%} "
                              f"{m['auc']:7.3f}")
