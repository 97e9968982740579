"""Evaluation on the service's data: which sets a router is evaluated on (score files, the
held-out slices of the preference store), and evaluating stored versions or fresh fits on them.
The scoring itself is the pure core's one implementation, `training.core.evaluation.router_evaluate`.

`evaluate_router` (the management command) is a thin wrapper around `routers_evaluate`.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from django.conf import settings

from feedback.selectors import HOLDOUT_PREFIX, battles_load, newest_slice_prompts, pair_labels
from feedback.store import preference_prompts_reembed, preferences_store
from routerhub.embeddings.services import embeddings_for_texts
from routerhub.tenants.selectors import tenant_pool_by_price
from training.core.datasets import ParsedBattle, read_score_rows
from training.core.embeddings import text_sha256
from training.core.evaluation import EvalSet, eval_set_from_pairs, eval_set_from_rows, eval_set_load, router_evaluate
from training.core.labels import score_battles
from training.core.metrics import oracle, random_baseline
from training.core.pools import pool_baselines, pool_evaluate
from training.core.routers import ROUTERS, UnknownModel
from training.selectors import router_version_active
from training.services import router_fit, router_for_version


def eval_set_embed(eval_set: EvalSet, *, progress: bool = False) -> EvalSet:
    """The set with its prompts' embeddings (from the embedding cache, computing what is missing)."""
    if eval_set.embeddings is None:
        eval_set.embeddings = embeddings_for_texts(eval_set.prompts, progress=progress)
    return eval_set


def evaluate_on_sets(router, sets: list[EvalSet]) -> dict:
    """{set name: metrics} of one router on every set it can be scored on (a set whose APGR is
    undefined, or with a model the router never saw, is left out). A pool set gives the pool's
    quality-vs-cost figures (AIQ, cost to reach the best model, quality at a third of its cost,
    the hull) instead of APGR."""
    out = {}
    for eval_set in sets:
        try:
            if eval_set.priced:
                baselines = pool_baselines(eval_set)
                ratings = router.ratings_for(eval_set.embeddings, eval_set.models, eval_set.prompts)
                result = pool_evaluate(ratings, eval_set, baselines=baselines)
                curve = {key: [round(v, 8) for v in result["curve"][key]] for key in ("threshold", "cost", "quality")}
                metrics = {"pool": list(eval_set.models), "n": len(eval_set.rows), "aiq": result["aiq"],
                           "cost_to_best": result["cost_to_best"],
                           "quality_at_third_cost": result["quality_at_third_cost"], "hull": result["hull"],
                           "curve": curve, "reference": baselines["reference"],
                           "random_mix_aiq": baselines["random_mix"]["aiq"]}
            else:
                metrics = router_evaluate(router, eval_set)
        except UnknownModel:
            continue
        if metrics is not None:
            out[eval_set.name] = metrics
    return out


# --- the sets a training run evaluates on
def evaluation_sets(progress=None, tenant=None) -> tuple[list[EvalSet], set[str]]:
    """The configured score files (ROUTERHUB_EVAL_FILES), the time-ordered held-out slice of the
    shared preferences and, for a tenant, the newest slice of its own feedback battles (in-domain:
    what its routing will meet); also the held-out prompts' hashes, which training must leave out."""
    sets: list[EvalSet] = []
    strong, weak = settings.ROUTERHUB_EVAL_STRONG, settings.ROUTERHUB_EVAL_WEAK
    for path in settings.ROUTERHUB_EVAL_FILES:
        loaded = eval_set_load(path, strong=strong, weak=weak)
        if loaded.rows:
            sets.append(loaded)
        pool = _pool_set(path, tenant)
        if pool is not None:
            sets.append(pool)
    holdout, holdout_shas = holdout_slice(strong, weak)
    if holdout is not None:
        sets.append(holdout)
    if tenant is not None:
        own, own_shas = holdout_slice(tenant.strong_model.name, tenant.weak_model.name, tenant=tenant)
        if own is not None:
            sets.append(own)
            holdout_shas |= own_shas
    for eval_set in sets:
        if progress:
            progress(0.02, f"embedding {len(eval_set.rows)} prompts of {eval_set.name}")
        eval_set_embed(eval_set)
    return sets, holdout_shas


def _pool_set(path: str, tenant) -> EvalSet | None:
    """A score file's pool set, when it prices its models: the tenant's pool if the file prices
    every model of it, else every model the file prices (a version's curve against cost)."""
    rows = read_score_rows(path)
    priced = sorted({m for row in rows for m in row["scores"] if m in row["costs"]})
    pool = tenant_pool_by_price(tenant) if tenant is not None else []
    models = pool if len(pool) > 2 and set(pool) <= set(priced) else priced
    if len(models) < 3:  # a pair's quality against cost is its APGR curve already
        return None
    pool_set = eval_set_from_rows(f"{Path(path).name} (pool of {len(models)})", rows, models, priced=True,
                                  path=path)
    return pool_set if pool_set.rows else None


def holdout_slice(strong: str, weak: str, tenant=None) -> tuple[EvalSet | None, set[str]]:
    """The newest ROUTERHUB_EVAL_HOLDOUT_SHARE of the shared prompts, or of `tenant`'s own prompts
    (by their latest battle), held out of training; their strong-vs-weak battles become an
    evaluation set. A shared slice with too few battles of the pair is still held out (it stays the
    same slice as data grows); a tenant's is not held out until it has
    ROUTERHUB_EVAL_TENANT_HOLDOUT_MIN of them: its few labels are worth more in training than in a
    measurement too small to trust."""
    share = settings.ROUTERHUB_EVAL_HOLDOUT_SHARE
    if share <= 0:
        return None, set()
    tenant_id = tenant.pk if tenant is not None else None
    held = newest_slice_prompts(tenant_id=tenant_id, share=share)
    if not held:
        return None, set()
    prompts, strong_scores = pair_labels(tenant_id=tenant_id, prompt_sha256=held, strong=strong, weak=weak)
    if tenant is not None:
        if len(prompts) < settings.ROUTERHUB_EVAL_TENANT_HOLDOUT_MIN:
            return None, set()
    elif len(prompts) < settings.ROUTERHUB_EVAL_HOLDOUT_MIN:
        return None, held  # too few battles of the pair to measure anything; still held out
    name = f"held-out {tenant.slug} feedback" if tenant is not None else "held-out preferences"
    return eval_set_from_pairs(name, prompts, strong_scores, strong=strong, weak=weak), held


# --- offline evaluation (evaluate_router)
def holdout_source(eval_path: str, seed: int) -> str:
    return f"{HOLDOUT_PREFIX}{Path(eval_path).name.split('.')[0]}:seed{seed}"


def holdout_import(rows: list[dict], *, source: str, progress: bool = False) -> tuple[int, int]:
    """Store score-table rows as battles (every pair of scored models) under `source`
    (`holdout:<file>:seed<seed>`), idempotently. Only an evaluation that names this source trains
    on them (see `battles_load`)."""
    battles = [ParsedBattle(row["prompt"], a, b, winner, source, "", str(row.get("id") or text_sha256(row["prompt"])),
                            0, {"category": row.get("category")} if row.get("category") else {})
               for row in rows for a, b, winner in score_battles({m: float(s) for m, s in row["scores"].items()})]
    return preferences_store(battles=battles, progress=progress)


def routers_evaluate(*, eval_set: EvalSet, routers: list[str], train: bool, tenant_id: int | None = None,
                     router_params: dict | None = None, data_params: dict | None = None,
                     progress: bool = False, log=print) -> dict:
    """Metrics of each router on `eval_set`, in the JSON shape of `evaluate_router --json`: freshly
    trained on the stored battles (`train`), or the active global versions."""
    strong_scores, weak_scores = eval_set.strong_scores, eval_set.weak_scores
    eval_set_embed(eval_set, progress=progress)
    result = {"eval": {"file": eval_set.path or eval_set.name, "n": len(eval_set.rows)}, "strong": eval_set.strong,
              "weak": eval_set.weak, "strong_quality": float(strong_scores.mean()),
              "weak_quality": float(weak_scores.mean()), "routers": {}, "oracle": oracle(strong_scores, weak_scores)}
    battles = _training_battles(eval_set, result, routers=routers, train=train, tenant_id=tenant_id,
                                data_params=data_params, progress=progress, log=log)
    for kind in routers:
        started = time.monotonic()
        if ROUTERS[kind].stochastic:  # the random baseline: averaged over seeds, as RouteLLM reports it
            result["routers"][kind] = random_baseline(strong_scores, weak_scores)
            continue
        router, version = _router_to_evaluate(kind, train=train, battles=battles, router_params=router_params, log=log)
        if router is None:
            continue
        metrics = router_evaluate(router, eval_set)
        metrics["seconds"] = round(time.monotonic() - started, 1)
        if version is not None:
            metrics["version"] = version.pk
        result["routers"][kind] = metrics
        log(f"{kind}: APGR {metrics['apgr']:.3f} in {metrics['seconds']}s")
    return result


# --- pools: quality against cost among any number of models (evaluate_router --pool)
def pool_routers_evaluate(*, pool: EvalSet, routers: list[str], train: bool, tenant_id: int | None = None,
                          router_params: dict | None = None, data_params: dict | None = None,
                          progress: bool = False, log=print, rule: str = "threshold") -> dict:
    """Each router's quality-vs-cost curve on `pool` (`training.core.pools`), beside every single
    model, a random mix at equal cost and the oracle, in the JSON shape of `evaluate_router --pool`
    (`rule`: the served threshold rule, or `utility` for comparison)."""
    eval_set_embed(pool, progress=progress)
    base = pool_baselines(pool)
    result = {"eval": {"file": pool.path or pool.name, "n": len(pool.rows)}, "pool": list(pool.models),
              "models": base["models"], "best_model": base["best_model"], "oracle": base["oracle"],
              "random_mix": base["random_mix"], "reference": base["reference"], "rule": rule, "routers": {}}
    battles = _training_battles(pool, result, routers=routers, train=train, tenant_id=tenant_id,
                                data_params=data_params, progress=progress, log=log)
    for kind in routers:
        started = time.monotonic()
        if ROUTERS[kind].stochastic:  # a random router at equal cost is a random mix of the models
            result["routers"][kind] = base["random_mix"]
            continue
        router, _version = _router_to_evaluate(kind, train=train, battles=battles, router_params=router_params,
                                               log=log)
        if router is None:
            continue
        ratings = router.ratings_for(pool.embeddings, pool.models, pool.prompts)
        metrics = pool_evaluate(ratings, pool, baselines=base, rule=rule)
        metrics["seconds"] = round(time.monotonic() - started, 1)
        result["routers"][kind] = metrics
        log(f"{kind}: AIQ {metrics['aiq']:.4f}, quality at a third of {base['best_model']}'s cost "
            f"{_fmt(metrics['quality_at_third_cost'])}, cost to reach it {_fmt(metrics['cost_to_best'], '$')}")
    return result


def _training_battles(eval_set: EvalSet, result: dict, *, routers, train: bool, tenant_id, data_params, progress,
                      log):
    """The stored battles the routers train on (or SW reads), never a test prompt; None when no
    router needs them. Their counts go into `result["train"]`."""
    preference_prompts_reembed(progress=progress)
    if not (train or any(ROUTERS[kind].reads_battles for kind in routers)):
        return None
    exclude = {text_sha256(p) for p in eval_set.prompts}  # never train on a test prompt
    battles = battles_load(tenant_id=tenant_id, exclude_prompt_sha256=exclude,
                           with_texts=train and any(ROUTERS[kind].reads_text for kind in routers), **(data_params or {}))
    result["train"] = {"battles": len(battles), "prompts": len(battles.prompt_embeddings),
                       "models": len(battles.models), "by_source": battles.meta["counts"]["by_source"],
                       "weights": battles.meta["params"]}
    log(f"training data: {len(battles)} battles on {len(battles.prompt_embeddings)} prompts, "
        f"{len(battles.models)} models")
    return battles


def _router_to_evaluate(kind: str, *, train: bool, battles, router_params, log):
    """(router, version): a fresh fit on `battles`, or the active global version (None, None when
    there is none)."""
    if train:
        return router_fit(kind=kind, battles=battles, params=(router_params or {}).get(kind, {})), None
    version = router_version_active(kind=kind)
    if version is None:
        log(f"{kind}: no active version; skipped (use --train to train one)")
        return None, None
    return router_for_version(version, battles), version


def _fmt(value, unit: str = "") -> str:
    return "never" if value is None else f"{unit}{value:.4f}"


# --- stored versions on a tenant's prompts (simulation, calibration)
def versions_evaluate(versions: dict, *, tenant, eval_set: EvalSet) -> dict:
    """{kind: metrics} of stored versions on `eval_set`, SW over the shared battles and the
    tenant's own (never the set's prompts)."""
    eval_set_embed(eval_set)
    battles = _battles_for(versions.values(), tenant=tenant, exclude=eval_set.prompts)
    out = {}
    for kind, version in versions.items():
        metrics = router_evaluate(router_for_version(version, battles), eval_set)
        out[kind] = {"version": version.pk, **{key: metrics[key] for key in ("apgr", "cpt50", "cpt80", "auc")}}
    return out


def version_win_rates(version, *, prompts: list[str], strong: str, weak: str, tenant=None) -> np.ndarray:
    """P(strong wins) of a stored version on each prompt (the basis of threshold calibration)."""
    battles = _battles_for([version], tenant=tenant)
    router = router_for_version(version, battles)
    return router.predict_win_rate(embeddings_for_texts(prompts), strong=strong, weak=weak, texts=prompts)


def _battles_for(versions, *, tenant=None, exclude=()):
    """Today's battles, for versions whose kind stores no artifact (SW reads them); else None."""
    if not any(ROUTERS[v.kind].reads_battles for v in versions):
        return None
    return battles_load(tenant_id=tenant.pk if tenant is not None else None,
                        exclude_prompt_sha256={text_sha256(p) for p in exclude})


def curves_plot(result: dict, path: str) -> None:
    from training.core.plots import pool_curves_plot, quality_curves_plot

    (pool_curves_plot if "pool" in result else quality_curves_plot)(result, path)
