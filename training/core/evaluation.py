"""Evaluating a router on an evaluation set (RouteLLM's protocol), and the promotion gate.

Plain numpy, no Django. One evaluation-set type, `EvalSet`: rows of a score table (a prompt and
its models' scores; the routed pair is `strong` and `weak`) and, once computed, their prompts'
embeddings. Score files, the held-out slices of the preference store and the simulation's test
part are all `EvalSet`s, and `router_evaluate` is the one way any of them is scored.
"""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from training.core.datasets import UnknownFormat
from training.core.metrics import evaluate_win_rates
from training.core.routers.base import Router

METRIC_KEYS = ("apgr", "cpt20", "cpt50", "cpt80", "auc", "curve")


@dataclass
class EvalSet:
    name: str
    rows: list[dict]  # score-table rows that score both models: {"prompt", "scores": {model: score}, ...}
    strong: str
    weak: str
    path: str = ""
    embeddings: np.ndarray | None = field(default=None, repr=False)  # one row per row, once computed

    @property
    def prompts(self) -> list[str]:
        return [row["prompt"] for row in self.rows]

    @property
    def strong_scores(self) -> np.ndarray:
        return np.array([float(row["scores"][self.strong]) for row in self.rows])

    @property
    def weak_scores(self) -> np.ndarray:
        return np.array([float(row["scores"][self.weak]) for row in self.rows])

    def subset(self, index) -> "EvalSet":
        index = list(index)
        return replace(self, rows=[self.rows[i] for i in index],
                       embeddings=None if self.embeddings is None else self.embeddings[index])


def eval_set_from_pairs(name: str, prompts: list[str], strong_scores, *, strong: str, weak: str) -> EvalSet:
    """An evaluation set from labelled battles of the pair: the strong model's score per prompt
    (the winner scores 1, the loser 0, a tie 0.5 each), the weak one's its complement."""
    rows = [{"prompt": prompt, "scores": {strong: float(score), weak: 1.0 - float(score)}}
            for prompt, score in zip(prompts, strong_scores)]
    return EvalSet(name=name, rows=rows, strong=strong, weak=weak)


def score_rows_load(path: str | Path) -> list[dict]:
    """The rows of a score-table JSONL (plain or gz): {"prompt", "scores": {model: score},
    "costs"?: {model: USD}, ...}, model names lower-cased. Raises UnknownFormat."""
    path = Path(path)
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    rows = []
    with opener(path, "rt", encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise UnknownFormat(f"{path}:{line_no}: not JSON: an eval file is a score-table JSONL") from None
            if not isinstance(row, dict) or "scores" not in row or "prompt" not in row:
                raise UnknownFormat(f"{path}:{line_no}: an eval file is a score-table JSONL (prompt, scores)")
            if not isinstance(row["scores"], dict) or not isinstance(row["prompt"], str):
                raise UnknownFormat(f"{path}:{line_no}: `prompt` must be text and `scores` an object")
            try:
                scores = {str(k).lower(): float(v) for k, v in row["scores"].items() if v is not None}
            except (TypeError, ValueError):
                raise UnknownFormat(f"{path}:{line_no}: scores must be numbers") from None
            try:
                costs = {str(k).lower(): float(v) for k, v in (row.get("costs") or {}).items() if v is not None}
            except (TypeError, ValueError, AttributeError):
                raise UnknownFormat(f"{path}:{line_no}: costs must be an object of model: USD") from None
            rows.append({**row, "scores": scores, "costs": costs})
    return rows


def eval_set_load(path: str | Path, *, strong: str, weak: str) -> EvalSet:
    """Rows of a score-table JSONL (plain or gz) that score both models. Raises UnknownFormat."""
    path = Path(path)
    strong, weak = strong.lower(), weak.lower()
    rows = [row for row in score_rows_load(path) if strong in row["scores"] and weak in row["scores"]]
    if not rows:
        raise UnknownFormat(f"{path}: no row scores both {strong!r} and {weak!r}")
    return EvalSet(name=path.name, rows=rows, strong=strong, weak=weak, path=str(path))


def rows_split(rows: list, *, fraction: float, seed: int) -> tuple[list, list]:
    """(train part, test part): a seeded random `fraction` of the rows for training, order kept."""
    order = np.random.default_rng(seed).permutation(len(rows))
    cut = int(round(fraction * len(order)))
    return [rows[i] for i in sorted(order[:cut])], [rows[i] for i in sorted(order[cut:])]


def holdout_split(eval_set: EvalSet, *, fraction: float, seed: int) -> tuple[EvalSet, EvalSet]:
    """(train part, test part): a seeded random `fraction` of the rows for training."""
    train, test = rows_split(list(range(len(eval_set.rows))), fraction=fraction, seed=seed)
    return eval_set.subset(train), eval_set.subset(test)


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
    win_rates = router.predict_win_rate(eval_set.embeddings, strong=eval_set.strong, weak=eval_set.weak)
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
    shared = [name for name in candidate if name in active and name != "version"]
    return bool(shared) and all(candidate[name]["apgr"] >= active[name]["apgr"] + margin for name in shared)
