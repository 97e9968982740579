"""training.core.replay's label store: a label moves SW's ratings the way its outcome says, for a
pair and for any two models of a pool."""
from __future__ import annotations

import numpy as np
import pytest

from training.core.replay import _Labelled, duel_outcome
from training.core.routers.base import Battles

MODELS = ["big", "mid", "small"]  # most expensive first


def shared_battles() -> Battles:
    """Ties between every two models on random prompts: no model is ahead before the labels."""
    rng = np.random.default_rng(0)
    prompts = rng.normal(size=(30, 8)).astype(np.float32)
    prompts /= np.linalg.norm(prompts, axis=1, keepdims=True)
    pairs = [(0, 1), (0, 2), (1, 2)]
    index = np.repeat(np.arange(30), len(pairs))
    a = np.tile([p[0] for p in pairs], 30)
    b = np.tile([p[1] for p in pairs], 30)
    return Battles(prompts, index, a, b, np.full(len(index), 0.5), MODELS)


def p_first_beats(store: _Labelled, query: np.ndarray, first: int, other: int) -> float:
    ratings = store.ratings(query[None], MODELS)[0]
    return float(1.0 / (1.0 + np.exp(-(ratings[first] - ratings[other]))))


def test_a_pool_label_moves_the_pair_it_names_the_way_its_outcome_says():
    shared = shared_battles()
    query = shared.prompt_embeddings[3]
    store = _Labelled(shared, strong="big", weak="mid", own_weight=10.0)
    before = p_first_beats(store, query, 0, 2)
    for _ in range(5):  # the cheap model's answer scored 1, the expensive one's 0
        store.add(query, duel_outcome(0.0, 1.0), model_a="big", model_b="small")
    assert duel_outcome(0.0, 1.0) == 0.0 and duel_outcome(1.0, 1.0) == 0.5
    assert p_first_beats(store, query, 0, 2) < before - 0.2  # P(big beats small) fell


def test_a_pair_label_by_default_and_half_a_pool_label_refused():
    shared = shared_battles()
    query = shared.prompt_embeddings[5]
    store = _Labelled(shared, strong="big", weak="mid", own_weight=10.0)
    for _ in range(5):
        store.add(query, 1.0)  # the strong model won
    assert store.win_rates(query[None])[0] > 0.7
    with pytest.raises(ValueError, match="both model_a and model_b"):
        store.add(query, 1.0, model_a="big")
