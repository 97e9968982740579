"""Pool routing and its quality-vs-cost evaluation, against hand-computed small cases."""
import numpy as np
import pytest

from training.core.evaluation import eval_set_from_rows
from training.core.policy import choose
from training.core.pools import (
    aiq,
    choices,
    hull_cost_to_reach,
    hull_quality_at,
    pool_baselines,
    pool_evaluate,
    upper_hull,
)

# three models: "big" (cost 3), "mid" (cost 2), "small" (cost 1); four prompts
QUALITY = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 1, 0]], dtype=float)
COST = np.array([[3, 2, 1]] * 4, dtype=float)
MODELS = ["big", "mid", "small"]
POOL = eval_set_from_rows("toy", [{"prompt": f"p{i}", "scores": dict(zip(MODELS, QUALITY[i])),
                                   "costs": dict(zip(MODELS, COST[i]))} for i in range(4)], MODELS, priced=True)


def test_choices_match_the_single_decision_rule_for_every_prompt_and_knob():
    rng = np.random.default_rng(0)
    ratings = rng.normal(size=(6, 3))
    expected_cost = np.array([3.0, 2.0, 1.0])
    grid = np.linspace(0, 1, 11)
    chosen = choices(ratings, expected_cost, grid)
    for t_index, threshold in enumerate(grid):
        for row in range(6):
            assert chosen[t_index, row] == choose(ratings[row], threshold).index


def test_candidates_are_ordered_by_expected_cost_not_by_position():
    ratings = np.array([[0.0, 0.0, 5.0]])  # the last model (the most expensive here) is far better
    chosen = choices(ratings, [1.0, 2.0, 3.0], [0.5])
    assert chosen[0, 0] == 2  # P(first beats cheaper ones) > 0.5: the most expensive answers


def test_the_hull_the_aiq_and_the_reads_of_a_hand_made_curve():
    # points (cost, quality): (1, .25) (2, .5) (2, .4) (3, .75) (2.5, .5) (3, .6)
    hull = upper_hull([1, 2, 2, 3, 2.5, 3], [0.25, 0.5, 0.4, 0.75, 0.5, 0.6])
    np.testing.assert_allclose(hull, [[1, 0.25], [3, 0.75]])  # points on or under the hull drop out
    # area from 1 to 3 under the line: (0.25 + 0.75) / 2 * 2 = 1.0, flat to 4: + 0.75 -> 1.75 / 4
    assert aiq(hull, 4.0) == pytest.approx(1.75 / 4)
    assert hull_quality_at(hull, 1.5) == pytest.approx(0.375)
    assert hull_quality_at(hull, 0.5) is None and hull_quality_at(hull, 9) == pytest.approx(0.75)
    assert hull_cost_to_reach(hull, 0.5) == pytest.approx(2.0) and hull_cost_to_reach(hull, 0.8) is None


def test_the_hull_never_goes_down():
    hull = upper_hull([1, 2, 3], [0.5, 0.9, 0.7])
    np.testing.assert_allclose(hull, [[1, 0.5], [2, 0.9]])


def test_baselines_single_models_random_mix_and_oracle():
    base = pool_baselines(POOL)
    assert base["models"]["big"] == {"quality": 0.75, "cost": 3.0}
    assert base["models"]["mid"]["quality"] == 0.75 and base["best_model"] == "mid"  # as good, cheaper
    # the oracle: p0 -> small? no: small scores 0 there; the cheapest best is mid (2); p1 -> big (3);
    # p2 -> small (1); p3 -> mid (2): quality 1, cost 2
    assert base["oracle"] == {"quality": 1.0, "cost": 2.0}
    mix = base["random_mix"]
    assert mix["hull"]["cost"] == [1.0, 2.0] and mix["hull"]["quality"] == [0.25, 0.75]
    assert mix["quality_at_third_cost"] is None  # a third of mid's cost is below the cheapest model's
    assert mix["cost_to_best"] == pytest.approx(2.0)


def test_a_router_that_knows_the_answers_beats_the_random_mix():
    # ratings that put a model high exactly where it scores 1
    ratings = np.where(QUALITY > 0, 3.0, -3.0) + np.array([0.0, -0.1, -0.2])
    result = pool_evaluate(ratings, POOL)
    assert result["aiq"] > pool_baselines(POOL)["random_mix"]["aiq"]
    assert result["curve"]["cost"][0] == pytest.approx(3.0)  # threshold 0: all to the most expensive
    assert result["curve"]["cost"][-1] == pytest.approx(1.0)  # threshold 1: all to the cheapest
    assert set(result["curve"]["shares"]) == {"big", "mid", "small"}


def test_pool_sets_keep_rows_that_score_and_price_every_model():
    rows = [{"prompt": "a", "scores": {"x": 1, "y": 0}, "costs": {"x": 0.1, "y": 0.01}},
            {"prompt": "b", "scores": {"x": 1}, "costs": {"x": 0.1, "y": 0.01}},
            {"prompt": "c", "scores": {"x": 0, "y": 1}, "costs": {"x": 0.2}}]
    pool = eval_set_from_rows("t", rows, ["x", "y"], priced=True)
    assert pool.prompts == ["a"] and pool.quality.tolist() == [[1.0, 0.0]] and pool.cost.tolist() == [[0.1, 0.01]]
    assert [row["prompt"] for row in eval_set_from_rows("t", rows, ["x", "y"]).rows] == ["a", "c"]  # a pair: no prices


def test_the_utility_rule_trades_mean_win_probability_against_relative_cost():
    from training.core.pools import utility_choices

    # one prompt, three models; mean win probability vs the pool: a 0.648, b 0.5 (ratings 1, 0, -1)
    ratings = np.array([[1.0, 0.0, -1.0]])
    quality = (1 / (1 + np.exp(-(ratings[0][:, None] - ratings[0][None, :])))).mean(axis=1)
    costs = [10.0, 2.0, 1.0]  # relative: 1, 0.2, 0.1
    chosen = utility_choices(ratings, costs, [0.0, 0.1, 10.0])
    assert chosen[:, 0].tolist() == [0, int(np.argmax(quality - 0.1 * np.array([1, 0.2, 0.1]))), 2]
    assert chosen[1, 0] == 0  # the gap 0.148 beats 0.1 × 0.8 = 0.08: still the first
