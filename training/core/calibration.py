"""Threshold calibration: the threshold that sends a target share of queries to the strong model,
and the share a threshold gives. Plain numpy, no Django.

Two sources, one rule each:
- win rates of real queries (RouteLLM's `calibrate_threshold`): the (1 − share) quantile, so that
  win_rate >= threshold holds for about `share` of them;
- an evaluation curve (thresholds and shares at the deciles, `training.core.metrics`), when too
  few queries are there yet: linear interpolation along it.
"""
from __future__ import annotations

import numpy as np

from training.core.policy import strong_chosen


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
