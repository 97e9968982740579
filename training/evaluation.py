"""Offline evaluation of routers on a score file (RouteLLM's protocol), on the stored preferences.

`evaluate_router` (the management command) is a thin wrapper around `routers_evaluate`.
"""
from __future__ import annotations

import gzip
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from feedback.importers import ParsedBattle, UnknownFormat, score_battles
from feedback.services import preference_prompts_reembed, preferences_store
from training.embeddings import text_sha256
from training.metrics import evaluate_win_rates, oracle, random_baseline
from training.models import RouterVersion
from training.routers import Router
from training.selectors import HOLDOUT_PREFIX, battles_load, router_version_active
from training.services import embeddings_for_texts, router_fit, router_for_version

DEFAULT_ROUTER_PARAMS: dict[str, dict] = {"sw": {}, "mf": {}}


@dataclass
class EvalSet:
    path: str
    rows: list[dict]  # score-table rows scoring both models
    strong: str
    weak: str

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
        return EvalSet(self.path, [self.rows[i] for i in index], self.strong, self.weak)


def eval_set_load(path: str | Path, *, strong: str, weak: str) -> EvalSet:
    """Rows of a score-table JSONL (plain or gz) that score both models. Raises UnknownFormat."""
    path = Path(path)
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    rows, strong, weak = [], strong.lower(), weak.lower()
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
            if strong in scores and weak in scores:
                rows.append({**row, "scores": scores})
    if not rows:
        raise UnknownFormat(f"{path}: no row scores both {strong!r} and {weak!r}")
    return EvalSet(str(path), rows, strong, weak)


def holdout_split(eval_set: EvalSet, *, fraction: float, seed: int) -> tuple[EvalSet, EvalSet]:
    """(train part, test part): a seeded random `fraction` of the rows for training."""
    order = np.random.default_rng(seed).permutation(len(eval_set.rows))
    cut = int(round(fraction * len(order)))
    return eval_set.subset(sorted(order[:cut])), eval_set.subset(sorted(order[cut:]))


def holdout_source(eval_set: EvalSet, seed: int) -> str:
    return f"{HOLDOUT_PREFIX}{Path(eval_set.path).name.split('.')[0]}:seed{seed}"


def holdout_import(train_part: EvalSet, *, seed: int, progress: bool = False) -> tuple[int, int]:
    """Store the train part's rows as battles (source `holdout:<file>:seed<seed>`), idempotently.
    Only an evaluation that names this source trains on them (see `battles_load`)."""
    source = holdout_source(train_part, seed)
    battles = [ParsedBattle(row["prompt"], a, b, winner, source, "", str(row.get("id") or text_sha256(row["prompt"])),
                            0, {"category": row.get("category")} if row.get("category") else {})
               for row in train_part.rows for a, b, winner in score_battles(
                   {m: float(s) for m, s in row["scores"].items()})]
    return preferences_store(battles=battles, progress=progress)


def routers_evaluate(*, eval_set: EvalSet, routers: list[str], train: bool, tenant_id: int | None = None,
                     router_params: dict | None = None, data_params: dict | None = None,
                     progress: bool = False, log=print) -> dict:
    """Metrics of each router on `eval_set`, in the JSON shape of `evaluate_router --json`."""
    strong_scores, weak_scores = eval_set.strong_scores, eval_set.weak_scores
    queries = embeddings_for_texts(eval_set.prompts, progress=progress)
    result = {"eval": {"file": eval_set.path, "n": len(eval_set.rows)}, "strong": eval_set.strong,
              "weak": eval_set.weak, "strong_quality": float(strong_scores.mean()),
              "weak_quality": float(weak_scores.mean()), "routers": {}, "oracle": oracle(strong_scores, weak_scores)}
    battles = None
    preference_prompts_reembed(progress=progress)
    needs_data = train or any(kind == "sw" for kind in routers)
    if needs_data:
        exclude = {text_sha256(p) for p in eval_set.prompts}  # never train on a test prompt
        battles = battles_load(tenant_id=tenant_id, exclude_prompt_sha256=exclude, **(data_params or {}))
        result["train"] = {"battles": len(battles), "prompts": len(battles.prompt_embeddings),
                           "models": len(battles.models), "by_source": battles.meta["counts"]["by_source"],
                           "weights": battles.meta["params"]}
        log(f"training data: {len(battles)} battles on {len(battles.prompt_embeddings)} prompts, "
            f"{len(battles.models)} models")
    for kind in routers:
        started = time.monotonic()
        if kind == "random":
            metrics = random_baseline(strong_scores, weak_scores)
            result["routers"]["random"] = metrics
            continue
        router, version = _router_for(kind, train=train, battles=battles, router_params=router_params)
        if router is None:
            log(f"{kind}: no active version; skipped (use --train to train one)")
            continue
        win_rates = router.predict_win_rate(queries, strong=eval_set.strong, weak=eval_set.weak)
        metrics = evaluate_win_rates(win_rates, strong_scores, weak_scores)
        metrics["seconds"] = round(time.monotonic() - started, 1)
        if version is not None:
            metrics["version"] = version.pk
        result["routers"][kind] = metrics
        log(f"{kind}: APGR {metrics['apgr']:.3f} in {metrics['seconds']}s")
    return result


def _router_for(kind: str, *, train: bool, battles, router_params) -> tuple[Router | None, RouterVersion | None]:
    params = {**DEFAULT_ROUTER_PARAMS.get(kind, {}), **((router_params or {}).get(kind, {}))}
    if train:
        return router_fit(kind=kind, battles=battles, params=params), None
    version = router_version_active(kind=kind)
    if version is None:
        return None, None
    return router_for_version(version, battles), version


def curves_plot(result: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, metrics in result["routers"].items():
        style = {"linestyle": "--", "color": "grey"} if name == "random" else {"marker": "o", "markersize": 3}
        ax.plot(np.array(metrics["curve"]["share"]) * 100, metrics["curve"]["quality"],
                label=f"{name} (APGR {metrics['apgr']:.3f})", **style)
    curve = result["oracle"]["curve"]
    ax.plot(np.array(curve["share"]) * 100, curve["quality"], color="black", linewidth=0.8, linestyle=":",
            label=f"oracle (APGR {result['oracle']['apgr']:.3f})")
    ax.axhline(result["strong_quality"], color="tab:red", linewidth=0.8, label=f"strong: {result['strong']}")
    ax.axhline(result["weak_quality"], color="tab:blue", linewidth=0.8, label=f"weak: {result['weak']}")
    ax.set_xlabel("strong-model calls (%)")
    ax.set_ylabel("quality (mean score)")
    ax.set_title(f"{Path(result['eval']['file']).name} (n={result['eval']['n']})")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
