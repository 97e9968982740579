"""The decision policy, as plain functions: no HTTP, no database."""
import numpy as np
import pytest

from training.core.policy import choose, strong_chosen, win_rates_against_first


def ratings_for(win_rate: float) -> np.ndarray:
    """Two models' ratings with P(first beats second) = win_rate."""
    return np.array([np.log(win_rate / (1 - win_rate)), 0.0])


@pytest.mark.parametrize("win_rate, threshold, chosen", [
    (0.7, 0.5, 0), (0.3, 0.5, 1), (0.5, 0.5, 0),  # RouteLLM: strong when P(strong wins) >= threshold
    (0.99, 1.0, 1), (0.01, 0.0, 0),  # 1 sends everything to the weak model, 0 everything to the strong one
])
def test_two_models_follow_routellms_rule(win_rate, threshold, chosen):
    choice = choose(ratings_for(win_rate), threshold)
    assert choice.index == chosen
    assert choice.win_rate == pytest.approx(win_rate)


def test_the_rule_over_many_queries_matches_the_single_decisions():
    win_rates = np.linspace(0.05, 0.95, 19)
    many = strong_chosen(win_rates, 0.42)
    single = [choose(ratings_for(w), 0.42).index == 0 for w in win_rates]
    assert list(many) == single


def test_with_more_models_the_cheapest_good_enough_answers():
    # candidates strongest first; P(first beats j): 0.5 (itself), 0.6, 0.9
    ratings = np.array([0.0, -np.log(0.6 / 0.4), -np.log(0.9 / 0.1)])
    np.testing.assert_allclose(win_rates_against_first(ratings), [0.5, 0.6, 0.9])
    assert choose(ratings, 0.95).index == 2  # even the cheapest loses less often than the knob allows
    assert choose(ratings, 0.7).index == 1  # the cheapest loses too often; the middle one does not
    assert choose(ratings, 0.55).index == 0  # every cheaper one loses too often
