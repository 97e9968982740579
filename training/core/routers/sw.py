"""Similarity-weighted (SW) Bradley-Terry ranking, as in RouteLLM.

For a query q, each battle i is weighted by γ^(1 + S_i) with S_i = cos(q, q_i) / max_j cos(q, q_j),
a weighted Bradley-Terry model is fitted on those battles (ties half a win to each side), and
P(a beats b) = σ(r_a − r_b): the fitted ratings are SW's scores for every model it has seen.

The router is the fit; where the weighted battles come from is its *neighbour source*, injected:
- `fit(battles)` keeps the battles in memory (`BattleArrays`: the exact scan over every battle,
  one matrix product per batch of queries; `top_k` restricts it to the k most similar battles);
- at serving time `attach(source)` reads them from the preference store instead
  (`feedback.neighbors.BattleNeighborIndex`: the nearest battles exactly, cluster summaries for
  the rest), so that new preferences count at once, without a retrain.
A source answers `pair_statistics(queries, gamma=)` with the weighted wins and games per model
pair (`PairStatistics`); both kinds weigh battles with `similarity_weights`.

γ defaults to 100, not the paper's 10: on the development sets γ = 100 lifted RouterBench test from
0.586 to 0.608 APGR and in-domain GSM8K from 0.605 to 0.627 (README, "What mattered").
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from training.core.routers.base import Battles, Router, UnknownModel, model_index
from training.core.routers.bradley_terry import bt_ratings, pair_statistics, sigmoid


def similarity_weights(similarities: np.ndarray, gamma: float, top=None) -> np.ndarray:
    """γ^(1 + S/max S) per row (RouteLLM's `get_weightings`); `top` overrides the row maximum."""
    sims = np.atleast_2d(np.asarray(similarities, dtype=np.float64))
    if top is None:
        top = sims.max(axis=1, keepdims=True)
    top = np.where(np.asarray(top) > 1e-9, top, 1.0)
    return gamma ** (1.0 + sims / top)


@dataclass
class PairStatistics:
    """Weighted battle counts per unordered model pair (pair_a < pair_b, indexes into `models`):
    `wins` of pair_a and `games`, one row per query, shapes (B, K)."""

    models: list[str]
    pair_a: np.ndarray
    pair_b: np.ndarray
    wins: np.ndarray
    games: np.ndarray


class NeighborSource(Protocol):
    def pair_statistics(self, queries: np.ndarray, *, gamma: float) -> PairStatistics: ...


def sw_win_rate_from_neighbors(similarities, model_a, model_b, outcome, weight, models: list[str], *,
                               strong: str, weak: str, gamma: float = 100.0, ridge: float = 1.0) -> float:
    """P(strong beats weak) from a query's neighbour battles (model indexes into `models`)."""
    if strong not in models or weak not in models or len(outcome) == 0:
        return 0.5  # no evidence about this pair among the neighbours
    w = similarity_weights(similarities, gamma)[0] * np.asarray(weight)
    w *= len(w) / w.sum()  # ridge acts as a fixed pseudo-count, whatever the weight scale
    pair_a, pair_b, wins, games, _ = pair_statistics(model_a, model_b, np.asarray(outcome, float), w)
    n = max(len(models), int(max(pair_a.max(initial=0), pair_b.max(initial=0))) + 1)
    ratings = bt_ratings(pair_a, pair_b, wins[None], games[None], n, ridge=ridge)[0]
    return float(sigmoid(ratings[models.index(strong)] - ratings[models.index(weak)]))


class BattleArrays:
    """A neighbour source over battles held in memory: the exact SW scan (or its top-k)."""

    def __init__(self, battles: Battles, top_k: int | None = None):
        keep = battles.model_a != battles.model_b
        self.models = list(battles.models)
        self.top_k = top_k
        self.prompt_embeddings = battles.prompt_embeddings
        self.prompt_index = battles.prompt_index[keep]
        self.model_a = battles.model_a[keep]
        self.model_b = battles.model_b[keep]
        self.outcome = battles.outcome[keep]
        self.weight = battles.weight[keep]
        # pair statistics per prompt, so the exact scan is one matrix product per batch of queries
        self.pair_a, self.pair_b, _, _, self.pair_id = pair_statistics(
            self.model_a, self.model_b, self.outcome, self.weight)
        swap = self.model_a > self.model_b
        self.lo_wins = np.where(swap, 1.0 - self.outcome, self.outcome)
        n_prompts, n_pairs = len(self.prompt_embeddings), len(self.pair_a)
        self.prompt_wins = np.zeros((n_prompts, n_pairs))
        self.prompt_games = np.zeros((n_prompts, n_pairs))
        np.add.at(self.prompt_wins, (self.prompt_index, self.pair_id), self.weight * self.lo_wins)
        np.add.at(self.prompt_games, (self.prompt_index, self.pair_id), self.weight)
        self.used = np.zeros(n_prompts, dtype=bool)
        self.used[self.prompt_index] = True

    def __len__(self) -> int:
        return len(self.outcome)

    def pair_statistics(self, queries: np.ndarray, *, gamma: float) -> PairStatistics:
        sims = np.atleast_2d(np.asarray(queries, dtype=np.float32)) @ self.prompt_embeddings.T  # (B, P)
        if self.top_k is None or self.top_k >= len(self.outcome):
            wins, games = self._exact(sims, gamma)
        else:
            wins, games = self._top_k(sims, gamma)
        return PairStatistics(self.models, self.pair_a, self.pair_b, wins, games)

    def _exact(self, sims, gamma):
        # every battle of a prompt shares the prompt's weight; the max runs over battles' prompts
        weights = np.where(self.used, similarity_weights(np.where(self.used, sims, -np.inf), gamma), 0.0)
        wins, games = weights @ self.prompt_wins, weights @ self.prompt_games
        scale = len(self.outcome) / np.maximum(games.sum(axis=1, keepdims=True), 1e-12)
        return wins * scale, games * scale

    def _top_k(self, sims, gamma):
        k = self.top_k
        wins = np.zeros((len(sims), len(self.pair_a)))
        games = np.zeros_like(wins)
        for row, prompt_sims in enumerate(sims):
            battle_sims = prompt_sims[self.prompt_index]
            top = np.argpartition(-battle_sims, k - 1)[:k]
            w = similarity_weights(battle_sims[top], gamma)[0] * self.weight[top]
            w *= k / w.sum()
            wins[row] = np.bincount(self.pair_id[top], weights=w * self.lo_wins[top], minlength=len(self.pair_a))
            games[row] = np.bincount(self.pair_id[top], weights=w, minlength=len(self.pair_a))
        return wins, games


class SWRankingRouter(Router):
    kind = "sw"
    # a fitted SW's arrays are its in-memory battles (an artifact can carry them); stored versions
    # keep none: served, SW reads the preference store
    _arrays = ("prompt_embeddings_", "prompt_index_", "model_a_", "model_b_", "outcome_", "weight_")
    stores_artifact = False
    reads_battles = True

    def __init__(self, gamma: float = 100.0, top_k: int | None = None, ridge: float = 1.0,
                 batch_size: int = 256):
        self.gamma = gamma
        self.top_k = top_k
        self.ridge = ridge
        self.batch_size = batch_size

    def fit(self, battles: Battles, *, progress=None) -> "SWRankingRouter":
        keep = battles.model_a != battles.model_b
        self.prompt_embeddings_ = battles.prompt_embeddings
        self.prompt_index_ = battles.prompt_index[keep]
        self.model_a_, self.model_b_ = battles.model_a[keep], battles.model_b[keep]
        self.outcome_, self.weight_ = battles.outcome[keep], battles.weight[keep]
        return self._attach_arrays(list(battles.models))

    def _attach_arrays(self, models: list[str]) -> "SWRankingRouter":
        battles = Battles(self.prompt_embeddings_, self.prompt_index_, self.model_a_, self.model_b_, self.outcome_,
                          models, self.weight_)
        return self.attach(BattleArrays(battles, top_k=self.top_k))

    def _load_extra_state(self, extra: dict) -> None:
        self._attach_arrays(self.models_)

    def attach(self, source: NeighborSource) -> "SWRankingRouter":
        """Read battles from `source` (e.g. the serving index over the preference store)."""
        self.source_ = source
        self.models_ = list(source.models)
        return self

    @classmethod
    def restore(cls, params: dict, artifact: bytes | None, *, neighbors=None) -> "SWRankingRouter":
        if neighbors is None:
            raise ValueError("an SW version needs a neighbour source (battles or the serving index)")
        router = cls(**params)
        return router.fit(neighbors) if isinstance(neighbors, Battles) else router.attach(neighbors)

    def scoped(self, **scope) -> "SWRankingRouter":
        scoped_source = getattr(self.source_, "scoped", None)
        if scoped_source is None:
            return self
        narrowed = copy.copy(self)  # on the request path: no re-reading of hyperparameters or model list
        narrowed.source_ = scoped_source(**scope)
        return narrowed

    def knows(self, name: str) -> bool:
        return name in self.source_.models  # the serving index learns new models as battles arrive

    def predict_ratings(self, query_embeddings, models: list[str]) -> np.ndarray:
        queries = np.atleast_2d(np.asarray(query_embeddings, dtype=np.float32))
        out = np.empty((len(queries), len(models)))
        for start in range(0, len(queries), self.batch_size):
            stats = self.source_.pair_statistics(queries[start:start + self.batch_size], gamma=self.gamma)
            columns = [model_index(stats.models, name) for name in models]
            ratings = bt_ratings(stats.pair_a, stats.pair_b, stats.wins, stats.games, len(stats.models),
                                 ridge=self.ridge)
            out[start:start + len(ratings)] = ratings[:, columns]
        return out


__all__ = ["BattleArrays", "NeighborSource", "PairStatistics", "SWRankingRouter", "UnknownModel",
           "similarity_weights", "sw_win_rate_from_neighbors"]
