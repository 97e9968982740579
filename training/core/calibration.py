"""Threshold calibration: the threshold that sends a target share of queries to the strong model,
and the share a threshold gives. Plain numpy, no Django.

Two sources, one rule each:
- win rates of real queries (RouteLLM's `calibrate_threshold`): the (1 − share) quantile, so that
  win_rate >= threshold holds for about `share` of them;
- an evaluation curve (thresholds and shares at the deciles, `training.core.metrics`), when too
  few queries are there yet: linear interpolation along it.

And the threshold that keeps a target average cost per request (pools and pairs alike): the rule
replayed over the ratings of queries already routed, each candidate priced per query
(`costs_at_thresholds`), then the lowest threshold within the target (`threshold_index_for_cost`).
"""
from __future__ import annotations

import numpy as np

from training.core.policy import choice_shares, choose_many, strong_chosen


def threshold_for_strong_share(win_rates, strong_share: float) -> float:
    if not 0.0 <= strong_share <= 1.0:
        raise ValueError("strong_share must be in [0, 1]")
    win_rates = np.asarray(win_rates, dtype=np.float64)
    if win_rates.size == 0:
        raise ValueError("no win rates to calibrate on")
    return float(np.percentile(win_rates, 100 * (1 - strong_share)))


def strong_share_at(win_rates, threshold: float) -> float:
    return float(np.mean(strong_chosen(win_rates, threshold)))


def threshold_on_curve(curve: dict, strong_share: float) -> float:
    """The threshold at `strong_share` along an evaluation curve ({"share", "threshold"})."""
    shares, thresholds = np.array(curve["share"]), np.array(curve["threshold"])
    order = np.argsort(shares)
    return float(np.interp(strong_share, shares[order], thresholds[order]))


def strong_share_on_curve(curve: dict, threshold: float) -> float:
    """The strong-call share at `threshold` along an evaluation curve ({"share", "threshold"})."""
    shares, thresholds = np.array(curve["share"]), np.array(curve["threshold"])
    order = np.argsort(thresholds)
    return float(np.interp(threshold, thresholds[order], shares[order]))


# --- pools (and pairs) by cost: the knob set by a target average cost per request
KNOB_GRID = np.linspace(0.0, 1.0, 1001)


def costs_at_thresholds(ratings, costs, thresholds=KNOB_GRID, order=None) -> tuple[np.ndarray, np.ndarray]:
    """Replay the decision rule (`training.core.policy.choose_many`) on queries already rated:
    `ratings` and `costs` (n, m) per query and candidate, `order` most expensive first. Returns
    the mean cost per threshold (T,) and each candidate's share of the queries (T, m)."""
    ratings, costs = np.atleast_2d(ratings), np.atleast_2d(np.asarray(costs, dtype=np.float64))
    chosen = choose_many(ratings, thresholds, order)  # (T, n)
    mean_cost = costs[np.arange(costs.shape[0])[None, :], chosen].mean(axis=1)
    return mean_cost, choice_shares(chosen, ratings.shape[1])


def threshold_index_for_cost(thresholds, mean_costs, target_cost: float) -> int:
    """The index of the lowest threshold (the most quality) whose mean cost is at most
    `target_cost` (mean cost falls as the threshold rises). ValueError when even the cheapest
    choice costs more."""
    thresholds, mean_costs = np.asarray(thresholds, dtype=np.float64), np.asarray(mean_costs, dtype=np.float64)
    within = np.flatnonzero(mean_costs <= target_cost * (1 + 1e-9))
    if len(within) == 0:
        raise ValueError(f"no threshold keeps the mean cost at or below ${target_cost:g}: the lowest reachable is "
                         f"${float(mean_costs.min()):.6f} per request")
    return int(within[np.argmin(thresholds[within])])
