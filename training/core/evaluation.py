"""Evaluating a router on an evaluation set (RouteLLM's protocol), and the promotion gate.

Plain numpy, no Django. One evaluation-set type, `EvalSet`: rows of a score table (a prompt, its
models' scores, for pools their costs) for the routed pair (`strong`, `weak`) or a pool of models,
and, once computed, the prompts' embeddings. Score files, the held-out slices of the preference
store, the simulation's test part and pool sets are all `EvalSet`s; `router_evaluate` scores a
pair (APGR and friends), `training.core.pools.pool_evaluate` a pool (quality against cost).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from training.core.datasets import UnknownFormat, read_score_rows
from training.core.metrics import evaluate_win_rates
from training.core.routers.base import Router

METRIC_KEYS = ("apgr", "cpt20", "cpt50", "cpt80", "auc", "curve")


@dataclass
class EvalSet:
    """Rows of a score table (a prompt, each model's score, and for pools each model's cost) for
    a list of models: the routed pair (`strong`, `weak`) or a pool; and, once computed, the
    prompts' embeddings."""

    name: str
    rows: list[dict]  # rows that score every model: {"prompt", "scores": {model: score}, "costs"?: {...}}
    models: list[str]  # the pair, strong first, or the pool
    path: str = ""
    embeddings: np.ndarray | None = field(default=None, repr=False)  # one row per row, once computed
    priced: bool = False  # a pool set: every row gives every model's cost (quality against cost)

    @property
    def strong(self) -> str:
        return self.models[0]

    @property
    def weak(self) -> str:
        return self.models[1]

    @property
    def prompts(self) -> list[str]:
        return [row["prompt"] for row in self.rows]

    @property
    def quality(self) -> np.ndarray:
        """Each model's score per row, (n, m)."""
        return np.array([[float(row["scores"][m]) for m in self.models] for row in self.rows]).reshape(
            len(self.rows), len(self.models))

    @property
    def cost(self) -> np.ndarray:
        """Each model's cost (USD) per row, (n, m): for pool sets (`eval_set_from_rows(priced=True)`)."""
        return np.array([[float(row["costs"][m]) for m in self.models] for row in self.rows]).reshape(
            len(self.rows), len(self.models))

    @property
    def strong_scores(self) -> np.ndarray:
        return self.quality[:, 0]

    @property
    def weak_scores(self) -> np.ndarray:
        return self.quality[:, 1]

    def subset(self, index) -> "EvalSet":
        index = list(index)
        return replace(self, rows=[self.rows[i] for i in index],
                       embeddings=None if self.embeddings is None else self.embeddings[index])


def eval_set_from_rows(name: str, rows: list[dict], models: list[str], *, priced: bool = False,
                       path: str = "") -> EvalSet:
    """The rows that score every model of `models` (and, `priced`, give each a cost)."""
    models = [m.lower() for m in models]
    kept = [row for row in rows if all(m in row["scores"] and (not priced or m in (row.get("costs") or {}))
                                       for m in models)]
    return EvalSet(name=name, rows=kept, models=models, path=path, priced=priced)


def pool_select(rows: list[dict], spec: str, *, source: str) -> tuple[list[str], list[dict]]:
    """The pool that `spec` names ('all': every model the rows score and price; else comma-separated
    names) and the rows that score and price every model of it. ValueError saying why when a name
    is not scored and priced in `source` or named twice, fewer than two models remain, or no row has
    them all."""
    priced = sorted({m for row in rows for m in row["scores"] if m in (row.get("costs") or {})})
    if spec.strip().lower() == "all":
        pool = priced
    else:
        pool = [m.strip().lower() for m in spec.split(",") if m.strip()]
        unknown = [m for m in pool if m not in priced]
        twice = sorted({m for m in pool if pool.count(m) > 1})
        if twice:
            raise ValueError(f"--pool names {', '.join(twice)} more than once")
        if unknown:
            raise ValueError(f"--pool: {', '.join(unknown)} not scored and priced in {source}; it has "
                             f"{', '.join(priced) or 'no prices (a pool needs costs per model)'}")
    if len(pool) < 2:
        raise ValueError(f"--pool needs two or more models scored and priced in {source}"
                         + ("" if priced else ": the file has no prices (a pool needs a cost per model and row)"))
    kept = [row for row in rows if all(m in row["scores"] and m in (row.get("costs") or {}) for m in pool)]
    if not kept:
        raise ValueError(f"{source}: no row scores and prices every model of the pool")
    return pool, kept


def eval_set_from_pairs(name: str, prompts: list[str], strong_scores, *, strong: str, weak: str) -> EvalSet:
    """An evaluation set from labelled battles of the pair: the strong model's score per prompt
    (the winner scores 1, the loser 0, a tie 0.5 each), the weak one's its complement."""
    rows = [{"prompt": prompt, "scores": {strong: float(score), weak: 1.0 - float(score)}}
            for prompt, score in zip(prompts, strong_scores)]
    return EvalSet(name=name, rows=rows, models=[strong, weak])


def eval_set_load(path: str | Path, *, strong: str, weak: str) -> EvalSet:
    """Rows of a score-table JSONL (plain or gz) that score both models. Raises UnknownFormat."""
    path = Path(path)
    eval_set = eval_set_from_rows(path.name, read_score_rows(path), [strong, weak], path=str(path))
    if not eval_set.rows:
        raise UnknownFormat(f"{path}: no row scores both {strong.lower()!r} and {weak.lower()!r}")
    return eval_set


def rows_split(rows: list, *, fraction: float, seed: int) -> tuple[list, list]:
    """(train part, test part): a seeded random `fraction` of the rows for training, order kept."""
    order = np.random.default_rng(seed).permutation(len(rows))
    cut = int(round(fraction * len(order)))
    return [rows[i] for i in sorted(order[:cut])], [rows[i] for i in sorted(order[cut:])]


def split_by_prompt(eval_set: EvalSet, *, test_share: float, seed: int, first_size: int | None = None,
                    test_size: int | None = None) -> tuple[EvalSet, EvalSet]:
    """(first part, test part): disjoint by prompt text (a prompt repeated in the file stays on one
    side, one row per prompt), seeded; `first_size` and `test_size` cap the two parts."""
    by_prompt: dict[str, list[int]] = {}
    for i, row in enumerate(eval_set.rows):
        by_prompt.setdefault(row["prompt"], []).append(i)
    prompts = list(by_prompt)
    order = np.random.default_rng(seed).permutation(len(prompts))
    cut = int(round(test_share * len(prompts)))
    test_prompts = [prompts[i] for i in order[:cut]][:test_size]
    first_prompts = [prompts[i] for i in order[cut:]][:first_size]
    return (eval_set.subset([by_prompt[p][0] for p in first_prompts]),
            eval_set.subset([by_prompt[p][0] for p in test_prompts]))


def router_evaluate(router: Router, eval_set: EvalSet) -> dict | None:
    """APGR, CPT(20/50/80%), AUC and the quality curve of `router` on `eval_set` (its embeddings
    computed), with the set's size and both models' quality. None where APGR is undefined (both
    models score the same on average, e.g. a held-out slice of ties only). Raises UnknownModel
    when the router never saw one of the pair."""
    strong_scores, weak_scores = eval_set.strong_scores, eval_set.weak_scores
    if np.mean(strong_scores) == np.mean(weak_scores):
        return None
    if eval_set.embeddings is None:
        raise ValueError(f"evaluation set {eval_set.name!r} has no embeddings yet")
    win_rates = router.predict_win_rate(eval_set.embeddings, strong=eval_set.strong, weak=eval_set.weak,
                                        texts=eval_set.prompts)
    metrics = {key: value for key, value in evaluate_win_rates(win_rates, strong_scores, weak_scores).items()
               if key in METRIC_KEYS}
    metrics.update(n=len(eval_set.rows), strong_quality=float(np.mean(strong_scores)),
                   weak_quality=float(np.mean(weak_scores)))
    return metrics


def gate_passes(kind_metrics: dict, margin: float) -> bool:
    """The evaluation gate: the candidate beats the active version by `margin` APGR on every set
    both were evaluated on (no active version: it passes; no set: it does not).
    `kind_metrics`: {"candidate": {set: metrics}, "active": {"version": id, set: metrics} | None}."""
    candidate, active = kind_metrics.get("candidate") or {}, kind_metrics.get("active")
    if not candidate:
        return False
    if active is None:
        return True
    shared = [name for name in candidate if name in active and name != "version" and "apgr" in candidate[name]
              and "apgr" in (active[name] or {})]
    return bool(shared) and all(candidate[name]["apgr"] >= active[name]["apgr"] + margin for name in shared)
