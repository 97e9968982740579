"""Threshold calibration: the threshold that sends a target share of queries to the strong model.

As RouteLLM's `calibrate_threshold`: the (1 − share) quantile of the win rates, so that
win_rate >= threshold holds for about `share` of them. Plain numpy, no Django.
"""
from __future__ import annotations

import numpy as np


def threshold_for_strong_share(win_rates, strong_share: float) -> float:
    if not 0.0 <= strong_share <= 1.0:
        raise ValueError("strong_share must be in [0, 1]")
    win_rates = np.asarray(win_rates, dtype=np.float64)
    if win_rates.size == 0:
        raise ValueError("no win rates to calibrate on")
    return float(np.percentile(win_rates, 100 * (1 - strong_share)))


def strong_share_at(win_rates, threshold: float) -> float:
    return float(np.mean(np.asarray(win_rates) >= threshold))
