import numpy as np
import pytest

from training.core.metrics import apgr, auc, cpt, evaluate_win_rates, oracle, quality_curve, random_baseline

# Four queries. Strong is right on all; weak only on queries 2 and 3.
STRONG = np.array([1.0, 1.0, 1.0, 1.0])
WEAK = np.array([0.0, 0.0, 1.0, 1.0])


def test_quality_curve_by_hand():
    win_rates = np.array([0.9, 0.8, 0.2, 0.1])  # a perfect ordering
    thresholds, shares, qualities = quality_curve(win_rates, STRONG, WEAK, n_bins=4)
    # quantile edges of [0.1, 0.2, 0.8, 0.9] at 0, 25, 50, 75, 100 %: 0.1, 0.175, 0.5, 0.825, 0.9
    np.testing.assert_allclose(thresholds, [0.9, 0.825, 0.5, 0.175, 0.1])
    np.testing.assert_allclose(shares, [0.0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(qualities, [0.5, 0.75, 1.0, 1.0, 1.0])


def test_auc_apgr_and_cpt_by_hand():
    shares = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    qualities = np.array([0.5, 0.75, 1.0, 1.0, 1.0])
    # trapezoids: 0.25 * (0.625 + 0.875 + 1 + 1) = 0.875
    assert auc(shares, qualities) == pytest.approx(0.875)
    # (0.875 - 0.5) / (1.0 - 0.5)
    assert apgr(shares, qualities, 1.0, 0.5) == pytest.approx(0.75)
    # quality 0.5 + 0.5 * 0.5 = 0.75 is reached at share 0.25; 0.8 level -> 0.9 -> share 0.4
    assert cpt(shares, qualities, 1.0, 0.5, 0.5) == pytest.approx(0.25)
    assert cpt(shares, qualities, 1.0, 0.5, 0.8) == pytest.approx(0.4)


def test_a_reversed_router_is_below_random_and_the_oracle_is_at_the_top():
    rng = np.random.default_rng(2024)  # not one of random_baseline's seeds 0-9
    strong = rng.uniform(size=500) < 0.8
    weak = rng.uniform(size=500) < 0.6
    gain = strong.astype(float) - weak
    best = evaluate_win_rates(gain + 1e-3 * rng.normal(size=500), strong, weak)["apgr"]
    worst = evaluate_win_rates(-gain + 1e-3 * rng.normal(size=500), strong, weak)["apgr"]
    random = random_baseline(strong, weak)
    assert worst < random["apgr"] < best <= oracle(strong, weak)["apgr"] + 1e-9
    assert random["apgr"] == pytest.approx(0.5, abs=0.05)


def test_oracle_by_hand():
    result = oracle(STRONG, WEAK, n_bins=4)
    # gains [1, 1, 0, 0]: quality 0.5, 0.75, 1, 1, 1 at shares 0 .. 1
    np.testing.assert_allclose(result["curve"]["quality"], [0.5, 0.75, 1.0, 1.0, 1.0])
    assert result["apgr"] == pytest.approx(0.75)
