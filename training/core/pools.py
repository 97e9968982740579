"""Pools: routing among any number of models, evaluated as quality against cost.

Plain numpy, no Django. A pool evaluation set is an `EvalSet` of the pool's models with a cost
per model and row (`eval_set_from_rows(priced=True)`); a router's ratings of every model per
prompt come from `Router.predict_ratings`.

The decision (`training.core.policy.choose_many`, over prompts and knob values at once): the
candidates ordered by expected cost, most expensive first; with P(first beats m) = σ(r_first − r_m),
the cheapest m with P(first beats m) < threshold answers, else the first. Sweeping the threshold
from 0 (everything to the most expensive model) to 1 (everything to the cheapest) traces the
router's quality-vs-cost curve.

Scores of a curve (RouterBench, Hu et al. 2024):
- AIQ: the area under the non-decreasing upper convex hull of the curve's (cost, quality) points,
  extended flat to `max_cost`, divided by `max_cost` (RouterBench's `calc_AIQ`; the hull is what a
  mix of two operating points reaches);
- `cost_to_best`: the lowest cost at which the hull reaches the best single model's quality;
- `quality_at_third_cost`: the hull's quality at a third of the best single model's cost.
Baselines: each single model, a random mix of single models at equal cost (their own hull), and
the oracle (each prompt to the cheapest model that scores best on it).
"""
from __future__ import annotations

import numpy as np

from training.core.evaluation import EvalSet
from training.core.policy import choice_shares, choose_many


def cost_order(expected_cost) -> np.ndarray:
    """Candidate order: most expensive first (ties by position)."""
    return np.argsort(-np.asarray(expected_cost, dtype=np.float64), kind="stable")


def choices(ratings: np.ndarray, expected_cost, thresholds) -> np.ndarray:
    """The chosen model index (into the pool) per knob value and prompt, shape (T, n): the one
    decision rule (`training.core.policy.choose_many`) with the candidates in expected-cost order."""
    return choose_many(ratings, thresholds, order=cost_order(expected_cost))


def utility_choices(ratings: np.ndarray, expected_cost, lambdas) -> np.ndarray:
    """An alternative rule, measured for comparison and not served: the model that maximizes its
    mean win probability against the pool, mean_j σ(r_m − r_j), minus λ × its expected cost
    relative to the most expensive model's; one row per λ, shape (Λ, n)."""
    ratings = np.atleast_2d(np.asarray(ratings, dtype=np.float64))
    quality = (1.0 / (1.0 + np.exp(-(ratings[:, :, None] - ratings[:, None, :])))).mean(axis=2)  # (n, m)
    relative = np.asarray(expected_cost, dtype=np.float64) / max(float(np.max(expected_cost)), 1e-300)
    lambdas = np.atleast_1d(np.asarray(lambdas, dtype=np.float64))
    return np.argmax(quality[None, :, :] - lambdas[:, None, None] * relative[None, None, :], axis=2)


# the knob's range per rule: the shipped threshold rule, and the utility rule's λ
RULES = {"threshold": np.linspace(0, 1, 201), "utility": np.concatenate([[0.0], np.geomspace(1e-4, 10, 200)])}


def curve_points(chosen: np.ndarray, quality: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean cost and mean quality of each row of choices (T, n)."""
    rows = np.arange(quality.shape[0])[None, :]
    return cost[rows, chosen].mean(axis=1), quality[rows, chosen].mean(axis=1)


def upper_hull(costs, qualities) -> np.ndarray:
    """The non-decreasing upper convex hull of (cost, quality) points, as (k, 2) sorted by cost."""
    best: dict[float, float] = {}
    for c, q in zip(np.asarray(costs, float).tolist(), np.asarray(qualities, float).tolist()):
        best[c] = max(q, best.get(c, -np.inf))  # at one cost, only the best quality counts
    points = sorted(best.items())
    hull: list[tuple[float, float]] = []
    for point in points:  # monotone chain, upper side
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            if (x2 - x1) * (point[1] - y1) - (y2 - y1) * (point[0] - x1) >= 0:  # hull[-1] lies below
                hull.pop()
            else:
                break
        hull.append(point)
    out = np.array(hull)
    top = int(np.argmax(out[:, 1]))  # non-decreasing: nothing after the highest point
    return out[: top + 1]


def hull_quality_at(hull: np.ndarray, cost: float) -> float | None:
    """The hull's quality at `cost` (flat beyond its last point; None below its first)."""
    if cost < hull[0, 0] - 1e-15:
        return None
    return float(np.interp(cost, hull[:, 0], hull[:, 1]))


def hull_cost_to_reach(hull: np.ndarray, quality: float) -> float | None:
    """The lowest cost at which the hull reaches `quality` (None if it never does)."""
    if hull[-1, 1] < quality - 1e-12:
        return None
    if hull[0, 1] >= quality:
        return float(hull[0, 0])
    return float(np.interp(quality, hull[:, 1], hull[:, 0]))


def aiq(hull: np.ndarray, max_cost: float) -> float:
    """RouterBench's AIQ: the area under the hull extended flat to `max_cost`, over `max_cost`."""
    points = hull[hull[:, 0] <= max_cost]
    if len(points) == 0:
        return float("nan")
    points = np.vstack([points, [max_cost, points[-1, 1]]])
    return float(np.trapezoid(points[:, 1], points[:, 0]) / max_cost)


def curve_summary(costs, qualities, *, best_quality: float, best_cost: float, max_cost: float) -> dict:
    hull = upper_hull(costs, qualities)
    return {"curve": {"cost": [float(c) for c in costs], "quality": [float(q) for q in qualities]},
            "hull": {"cost": hull[:, 0].tolist(), "quality": hull[:, 1].tolist()},
            "aiq": aiq(hull, max_cost), "cost_to_best": hull_cost_to_reach(hull, best_quality),
            "quality_at_third_cost": hull_quality_at(hull, best_cost / 3)}


def pool_evaluate(ratings: np.ndarray, pool: EvalSet, *, thresholds=None, expected_cost=None,
                  baselines: dict | None = None, rule: str = "threshold") -> dict:
    """A router's quality-vs-cost curve on `pool` over the knob's range, with its AIQ,
    cost_to_best and quality_at_third_cost. `expected_cost` orders the candidates (default: each
    model's mean cost on the set); `baselines`: the set's `pool_baselines`, when already computed;
    `rule`: the served threshold rule, or `utility` (`utility_choices`, for comparison; its
    "thresholds" are then the λ values)."""
    thresholds = RULES[rule] if thresholds is None else np.asarray(thresholds)
    quality, cost = pool.quality, pool.cost
    expected = cost.mean(axis=0) if expected_cost is None else np.asarray(expected_cost)
    chosen = (choices if rule == "threshold" else utility_choices)(ratings, expected, thresholds)
    costs, qualities = curve_points(chosen, quality, cost)
    reference = (baselines or pool_baselines(pool))["reference"]
    summary = curve_summary(costs, qualities, **reference)
    summary["curve"]["threshold"] = [float(t) for t in thresholds]
    shares = choice_shares(chosen, len(pool.models))
    summary["curve"]["shares"] = {m: shares[:, j].round(4).tolist() for j, m in enumerate(pool.models)}
    return summary


def pool_baselines(pool: EvalSet) -> dict:
    """Each single model's quality and cost, a random mix at equal cost (their hull), the oracle,
    and the reference the router's scores use (the best single model, the most expensive cost)."""
    quality, cost = pool.quality, pool.cost
    mean_q, mean_c = quality.mean(axis=0), cost.mean(axis=0)
    best = int(np.lexsort((mean_c, -mean_q))[0])  # highest quality, then cheapest
    models = {m: {"quality": float(mean_q[j]), "cost": float(mean_c[j])} for j, m in enumerate(pool.models)}
    max_cost = float(mean_c.max())
    reference = {"best_quality": float(mean_q[best]), "best_cost": float(mean_c[best]), "max_cost": max_cost}
    mix = curve_summary(mean_c, mean_q, **reference)
    # the oracle: on each prompt, the cheapest of the models that score best there
    top = quality.max(axis=1, keepdims=True)
    masked = np.where(quality >= top - 1e-12, cost, np.inf)
    pick = masked.argmin(axis=1)
    rows = np.arange(len(pick))
    oracle = {"quality": float(quality[rows, pick].mean()), "cost": float(cost[rows, pick].mean())}
    return {"models": models, "best_model": pool.models[best], "random_mix": mix, "oracle": oracle,
            "reference": reference}
