"""Duel selection (`training.core.active`): the budget holds on average, active spends it on the
requests nearest the threshold whatever the spread of the router's win rates, uniform spends it
evenly, and in a pool the second model is the one the router is least sure about."""
import numpy as np
import pytest

from training.core.active import DuelSelector, informative_opponent


def _spend(selector, win_rates, threshold, rate):
    return np.array([selector.probability(win_rate=p, threshold=threshold, rate=rate) for p in win_rates])


@pytest.mark.parametrize("spread", [0.02, 0.3])  # win rates bunched around 0.5, or spread wide
@pytest.mark.parametrize("strong_share", [0.4, 0.95])  # the band moves inward near an end
def test_active_keeps_the_budget_and_spends_it_on_the_requests_nearest_the_threshold(spread, strong_share):
    rng = np.random.default_rng(0)
    win_rates = np.clip(0.5 + spread * rng.standard_normal(6000), 0, 1)
    centre = 1 - strong_share
    threshold = float(np.quantile(win_rates, centre))
    probabilities = _spend(DuelSelector(selection="active"), win_rates, threshold, rate=0.2)
    assert probabilities.mean() == pytest.approx(0.2, abs=0.02)
    quantiles = np.searchsorted(np.sort(win_rates), win_rates) / len(win_rates)
    low = min(max(centre - 0.1, 0.0), 0.8)
    inside, outside = (quantiles > low + 0.02) & (quantiles < low + 0.18), (quantiles < low - 0.02) | (
        quantiles > low + 0.22)
    assert probabilities[50:][inside[50:]].mean() > 0.9 and probabilities[50:][outside[50:]].mean() < 0.05


def test_until_it_knows_enough_win_rates_it_spends_the_rate_uniformly():
    selector = DuelSelector(min_history=10)
    assert set(_spend(selector, np.linspace(0, 1, 10), 0.5, rate=0.3)) == {0.3}
    assert set(_spend(selector, [0.0, 1.0], 0.5, rate=0.3)) == {0.0}  # then: far from the threshold


def test_uniform_spends_the_rate_on_every_request_and_no_rate_spends_nothing():
    selector = DuelSelector(selection="uniform")
    assert set(_spend(selector, [0.1, 0.5, 0.9], 0.5, rate=0.25)) == {0.25}
    assert DuelSelector().probability(win_rate=0.5, threshold=0.5, rate=0.0) == 0.0
    assert DuelSelector().probability(win_rate=None, threshold=None, rate=0.3) == 0.3  # no win rate: as uniform
    assert DuelSelector().probability(win_rate=0.9, threshold=0.5, rate=1.0) == 1.0


def test_the_window_forgets_old_win_rates():
    selector = DuelSelector(window=100)
    _spend(selector, np.full(100, 0.9), 0.5, rate=0.1)
    _spend(selector, np.linspace(0.0, 1.0, 100), 0.5, rate=0.1)  # the 0.9s are gone
    assert len(selector._sorted) == 100 and selector._sorted == sorted(selector._sorted)
    assert selector.in_band(0.5, 0.5, 0.1) and not selector.in_band(0.9, 0.5, 0.1)


def test_in_a_pool_the_second_model_is_the_closest_rated_one():
    pool = ["big", "mid", "small"]  # most expensive first
    assert informative_opponent(served="small", ratings={"big": 2.0, "mid": 0.1, "small": 0.0}, pool=pool) == "mid"
    assert informative_opponent(served="small", ratings={"big": 0.2, "mid": -0.2, "small": 0.0}, pool=pool) == "big"
    assert informative_opponent(served="mid", ratings={"mid": 0.0}, pool=pool) is None


def test_an_unknown_selection_is_refused():
    with pytest.raises(ValueError, match="unknown duel selection"):
        DuelSelector(selection="greedy")


def test_traffic_drifting_into_the_band_does_not_overspend_the_budget():
    rng = np.random.default_rng(1)
    selector = DuelSelector(window=1000)
    _spend(selector, rng.uniform(0, 1, 1000), 0.5, rate=0.2)  # the window: win rates spread out
    drifted = _spend(selector, rng.uniform(0.45, 0.55, 500), 0.5, rate=0.2)  # now all near the threshold
    assert drifted.mean() <= 0.2 + 0.02
