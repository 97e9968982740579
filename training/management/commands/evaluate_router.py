import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from feedback.store import preferences_import
from training.core.datasets import UnknownFormat, read_score_rows
from training.core.evaluation import eval_set_from_rows, pool_select, rows_split
from training.core.routers import ROUTERS, UnknownModel
from training.evaluation import curves_plot, holdout_import, holdout_source, pool_routers_evaluate, routers_evaluate


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
    help = ("Evaluate routers on a score file: for a strong/weak pair with RouteLLM's metrics (APGR, "
            "CPT(20/50/80%), AUC); for a pool of models (--pool) as quality against cost (AIQ, cost to "
            "reach the best model's quality, quality at a third of its cost).")

    def add_arguments(self, parser):
        parser.add_argument("--eval", required=True, metavar="SCORES_FILE")
        parser.add_argument("--strong", help="The strong model of the pair (not with --pool).")
        parser.add_argument("--weak", help="The weak model of the pair (not with --pool).")
        parser.add_argument("--pool", metavar="all|M1,M2,...",
                            help="Route among these models (all: every model the file scores and prices), on the "
                                 "rows that score and price each of them.")
        parser.add_argument("--pool-rule", choices=["threshold", "utility"], default="threshold",
                            help="The pool's decision rule: threshold (served: the cheapest model m with "
                                 "P(most expensive beats m) < threshold) or utility (for comparison: max mean win "
                                 "probability against the pool − λ × relative cost).")
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
        if bool(opts["pool"]) == bool(opts["strong"] or opts["weak"]) or (not opts["pool"] and not (
                opts["strong"] and opts["weak"])):
            raise CommandError("give --strong and --weak (a pair), or --pool (two or more models)", returncode=2)
        if opts["pool_rule"] != "threshold" and not opts["pool"]:
            raise CommandError("--pool-rule applies to a pool (--pool); a pair uses the threshold rule", returncode=2)
        try:
            rows = read_score_rows(opts["eval"])
        except FileNotFoundError:
            raise CommandError(f"{opts['eval']}: no such file", returncode=2) from None
        except UnknownFormat as exc:
            raise CommandError(str(exc), returncode=2) from None
        test_rows = self._test_rows(opts, rows)  # checked before anything is imported

        for path in opts["train"] or []:
            try:
                report = preferences_import(path=path, progress=True)
            except FileNotFoundError:
                raise CommandError(f"{path}: no such file", returncode=2) from None
            except UnknownFormat as exc:
                raise CommandError(str(exc), returncode=2) from None
            self.stdout.write(f"imported {path}: {report.created} new battles, {report.duplicates} already stored, "
                              f"{report.skipped} malformed rows skipped")
        data_params = {"source_weights": source_weights} if source_weights else {}
        for name in ("own_weight", "shared_judged_weight"):
            if opts[name] is not None:
                data_params[name] = opts[name]
        if opts["holdout"] is not None:
            train_rows, test_rows = rows_split(test_rows, fraction=opts["holdout"], seed=opts["seed"])
            data_params["holdout_source"] = holdout_source(opts["eval"], opts["seed"])
            created, existing = holdout_import(train_rows, source=data_params["holdout_source"], progress=True)
            self.stdout.write(f"holdout: {len(train_rows)} eval rows as training data ({created} new battles, "
                              f"{existing} already stored); evaluating on the other {len(test_rows)}")
        train = opts["train"] is not None or opts["holdout"] is not None
        common = dict(routers=routers, train=train, router_params=router_params, data_params=data_params,
                      progress=True, log=self.stdout.write)
        try:
            if opts["pool"]:
                pool = eval_set_from_rows(Path(opts["eval"]).name, test_rows, self._pool, priced=True,
                                          path=opts["eval"])
                result = pool_routers_evaluate(pool=pool, rule=opts["pool_rule"], **common)
            else:
                eval_set = eval_set_from_rows(Path(opts["eval"]).name, test_rows, [opts["strong"], opts["weak"]],
                                              path=opts["eval"])
                result = routers_evaluate(eval_set=eval_set, **common)
        except UnknownModel as exc:  # a model never seen in training
            raise CommandError(f"cannot score this model: {exc}", returncode=2) from None
        except TypeError as exc:  # an unknown --param name
            raise CommandError(f"bad hyperparameter: {exc}", returncode=2) from None
        result["holdout"] = opts["holdout"]
        result["seed"] = opts["seed"]
        (self._print_pool if opts["pool"] else self._print_table)(result)
        if opts["json_out"]:
            with open(opts["json_out"], "w") as handle:
                json.dump(result, handle, indent=1)
            self.stdout.write(f"wrote {opts['json_out']}")
        if opts["plot"]:
            curves_plot(result, opts["plot"])
            self.stdout.write(f"wrote {opts['plot']}")

    def _test_rows(self, opts, rows: list[dict]) -> list[dict]:
        """The rows evaluated on: those scoring both models of the pair, or scoring and pricing every
        pool model. Exit 2 when none do."""
        if not opts["pool"]:
            strong, weak = opts["strong"].lower(), opts["weak"].lower()
            kept = [row for row in rows if strong in row["scores"] and weak in row["scores"]]
            if not kept:
                raise CommandError(f"{opts['eval']}: no row scores both {strong!r} and {weak!r}", returncode=2)
            return kept
        try:
            self._pool, kept = pool_select(rows, opts["pool"], source=opts["eval"])
        except ValueError as exc:
            raise CommandError(str(exc), returncode=2) from None
        return kept

    def _print_pool(self, result: dict) -> None:
        self.stdout.write(f"\n{result['eval']['file']}: n={result['eval']['n']}, {len(result['pool'])} models; best "
                          f"single model {result['best_model']}")
        self.stdout.write(f"{'':34s} {'quality':>8s} {'cost $':>10s}")
        for name, m in sorted(result["models"].items(), key=lambda item: item[1]["cost"]):
            self.stdout.write(f"{name:34s} {m['quality']:8.3f} {m['cost']:10.5f}")
        self.stdout.write(f"{'oracle':34s} {result['oracle']['quality']:8.3f} {result['oracle']['cost']:10.5f}")
        self.stdout.write(f"\n{'router':12s} {'AIQ':>7s} {'q @ 1/3 cost':>13s} {'cost to best':>13s}")
        for name, m in result["routers"].items():
            third = "—" if m["quality_at_third_cost"] is None else f"{m['quality_at_third_cost']:.3f}"
            best = "never" if m["cost_to_best"] is None else f"${m['cost_to_best']:.5f}"
            self.stdout.write(f"{name:12s} {m['aiq']:7.4f} {third:>13s} {best:>13s}")

    def _print_table(self, result: dict) -> None:
        self.stdout.write(f"\n{result['eval']['file']}: n={result['eval']['n']}  strong {result['strong']} "
                          f"{result['strong_quality']:.3f}  weak {result['weak']} {result['weak_quality']:.3f}")
        self.stdout.write(f"{'router':10s} {'APGR':>7s} {'CPT(20%)':>9s} {'CPT(50%)':>9s} {'CPT(80%)':>9s} {'AUC':>7s}")
        rows = list(result["routers"].items()) + [("oracle", result["oracle"])]
        for name, m in rows:
            self.stdout.write(f"{name:10s} {m['apgr']:7.3f} {m['cpt20']:9.1%} {m['cpt50']:9.1%} {m['cpt80']:9.1%} "
                              f"{m['auc']:7.3f}")
