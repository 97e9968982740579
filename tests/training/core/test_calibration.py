"""Thresholds from a target strong share or a target average cost (`training.core.calibration`)."""
import numpy as np
import pytest

from training.core.calibration import (
    costs_at_thresholds,
    strong_share_at,
    threshold_for_strong_share,
    threshold_index_for_cost,
)


def test_calibrated_threshold_gives_the_target_share():
    win_rates = np.linspace(0, 1, 101)
    threshold = threshold_for_strong_share(win_rates, 0.3)
    assert threshold == pytest.approx(0.7)
    assert strong_share_at(win_rates, threshold) == pytest.approx(0.31, abs=0.011)
    with pytest.raises(ValueError):
        threshold_for_strong_share(win_rates, 1.5)


def test_a_target_cost_gives_the_lowest_threshold_within_it():
    # two queries, three candidates (most expensive first); P(first beats j) = σ(0 − r_j)
    ratings = np.array([[0.0, 0.0, -10.0], [0.0, -2.0, -3.0]])
    costs = np.array([[10.0, 4.0, 1.0], [10.0, 4.0, 1.0]])
    thresholds = np.array([0.0, 0.5, 0.6, 0.9, 0.96, 1.0])
    mean_cost, shares = costs_at_thresholds(ratings, costs, thresholds)
    # t=0.6: query 1 to candidate 1 (P 0.5 < t), query 2 stays first (σ(2) = 0.88); t=0.9: query 2 to 1
    assert mean_cost.tolist() == pytest.approx([10.0, 10.0, 7.0, 4.0, 2.5, 1.0])
    assert shares[3].tolist() == [0.0, 1.0, 0.0]
    assert threshold_index_for_cost(thresholds, mean_cost, 7.0) == 2  # the most quality within the budget
    assert threshold_index_for_cost(thresholds, mean_cost, 100.0) == 0
    with pytest.raises(ValueError, match=r"lowest reachable is \$1.0"):
        threshold_index_for_cost(thresholds, mean_cost, 0.5)
