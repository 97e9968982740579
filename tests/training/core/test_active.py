"""Duel selection (`training.core.active`): active spends the budget on the requests farthest from
every duelled prompt, keeps it on average while the covered region grows or the traffic drifts,
uniform spends it evenly, and in a pool the second model is the one the router is least sure about."""
import numpy as np
import pytest

from training.core.active import DuelSelector, informative_opponent


def _unit(rows):
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=-1, keepdims=True)


def _traffic(rng, n, clusters):
    """Unit vectors around a few centres (a tenant's kinds of prompts)."""
    centres = _unit(rng.standard_normal((clusters, 32)))
    return _unit(centres[rng.integers(0, clusters, n)] + 0.3 * rng.standard_normal((n, 32)) / np.sqrt(32))


def _run(selector, embeddings, rate, rng):
    """The gateway's loop: a chance per request, a draw, and the duelled ones marked covered."""
    chances, picked = [], []
    for embedding in embeddings:
        chance = selector.probability(embedding=embedding, rate=rate)
        chances.append(chance)
        if rng.random() < chance:
            selector.duelled(embedding)
            picked.append(embedding)
    return np.array(chances), np.array(picked)


def test_active_keeps_the_budget_while_the_covered_region_grows():
    rng = np.random.default_rng(0)
    chances, picked = _run(DuelSelector(), _traffic(rng, 4000, clusters=8), rate=0.2, rng=rng)
    assert chances.mean() == pytest.approx(0.2, abs=0.02)
    assert chances[-1000:].mean() == pytest.approx(0.2, abs=0.03)  # late too, once most prompts are near one


def test_active_duels_what_no_duel_covers_yet():
    rng = np.random.default_rng(1)
    known, new = _unit(rng.standard_normal((2, 32)))
    covered = _unit(known + 0.05 * rng.standard_normal((20, 32)))  # a region already labelled
    selector = DuelSelector(covered=covered, min_history=20)
    assert selector.distance(known) < 0.05 and selector.distance(-known) > 1.9 and DuelSelector().distance(known) == 2.0
    traffic = _unit(np.where(rng.random(400)[:, None] < 0.8, known, new) + 0.05 * rng.standard_normal((400, 32)))
    near_new = (traffic @ new) > (traffic @ known)
    chances, _ = _run(selector, traffic, rate=0.2, rng=rng)
    # the new kind of prompt (a fifth of the traffic) gets most duels, first of all its first requests
    # (once duelled, its region is covered too); uniform would give it a fifth
    duelled_new = near_new[20:][chances[20:] == 1.0]
    assert duelled_new.mean() > 0.5 and chances[20:][near_new[20:]][:5].min() == 1.0


def test_until_it_knows_enough_distances_it_spends_the_rate_uniformly():
    selector = DuelSelector(min_history=10)
    rng = np.random.default_rng(2)
    assert set(_run(selector, _traffic(rng, 10, 2), rate=0.3, rng=np.random.default_rng(0))[0]) == {0.3}
    assert selector.distance(np.ones(32) / np.sqrt(32)) <= 2.0


def test_uniform_spends_the_rate_on_every_request_and_no_rate_spends_nothing():
    embedding = _unit(np.ones(8))
    assert DuelSelector(selection="uniform").probability(embedding=embedding, rate=0.25) == 0.25
    assert DuelSelector().probability(embedding=embedding, rate=0.0) == 0.0
    assert DuelSelector().probability(embedding=None, rate=0.3) == 0.3  # no embedding: as uniform
    assert DuelSelector().probability(embedding=embedding, rate=1.0) == 1.0


def test_traffic_drifting_away_from_what_is_covered_does_not_overspend_the_budget():
    rng = np.random.default_rng(3)
    selector = DuelSelector()
    _run(selector, _traffic(rng, 1000, clusters=4), rate=0.2, rng=rng)
    drifted, _ = _run(selector, _traffic(np.random.default_rng(99), 500, clusters=4), rate=0.2, rng=rng)
    assert drifted.mean() <= 0.2 + 0.03


def test_in_a_pool_the_second_model_is_the_closest_rated_one():
    pool = ["big", "mid", "small"]  # most expensive first
    assert informative_opponent(served="small", ratings={"big": 2.0, "mid": 0.1, "small": 0.0}, pool=pool) == "mid"
    assert informative_opponent(served="small", ratings={"big": 0.2, "mid": -0.2, "small": 0.0}, pool=pool) == "big"
    assert informative_opponent(served="mid", ratings={"mid": 0.0}, pool=pool) is None


def test_an_unknown_selection_is_refused():
    with pytest.raises(ValueError, match="unknown duel selection"):
        DuelSelector(selection="greedy")
