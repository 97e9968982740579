"""Weighted Bradley-Terry fits, batched: many queries' pair statistics at once.

Ratings r (natural-log scale) maximize sum_k W_k log σ(r_a - r_b) + (G_k - W_k) log σ(r_b - r_a)
- ridge/2 |r|^2, where for the ordered pair k = (a, b) W_k is the weighted count of a's wins
(a tie counts half to each side) and G_k the weighted count of games. This is RouteLLM's
`compute_elo_mle_with_tie` (Elo = 400 r / ln 10 + 1000) with a small ridge that keeps ratings
finite when one model always wins among the neighbours. Solved by Newton's method.
"""
from __future__ import annotations

import numpy as np


def bt_ratings(pair_a: np.ndarray, pair_b: np.ndarray, wins: np.ndarray, games: np.ndarray, n_models: int, *,
               ridge: float = 1.0, max_iter: int = 30, tol: float = 1e-7) -> np.ndarray:
    """Ratings (B, n_models) from pair statistics `wins`, `games` of shape (B, K)."""
    wins = np.atleast_2d(np.asarray(wins, dtype=np.float64))
    games = np.atleast_2d(np.asarray(games, dtype=np.float64))
    batch, m = wins.shape[0], n_models
    pair_a = np.asarray(pair_a, dtype=np.int64)
    pair_b = np.asarray(pair_b, dtype=np.int64)
    incidence = np.zeros((len(pair_a), m))
    np.add.at(incidence, (np.arange(len(pair_a)), pair_a), 1.0)
    np.add.at(incidence, (np.arange(len(pair_b)), pair_b), -1.0)
    diag_a, diag_b = pair_a * m + pair_a, pair_b * m + pair_b
    off_ab, off_ba = pair_a * m + pair_b, pair_b * m + pair_a
    eye = np.eye(m) * ridge
    ratings = np.zeros((batch, m))
    active = np.ones(batch, dtype=bool)
    for _ in range(max_iter):
        r = ratings[active]
        p = 1.0 / (1.0 + np.exp(-(r[:, pair_a] - r[:, pair_b])))
        grad = (wins[active] - games[active] * p) @ incidence - ridge * r
        c = games[active] * p * (1.0 - p)
        laplacian = np.zeros((len(r), m * m))
        np.add.at(laplacian, (slice(None), diag_a), c)
        np.add.at(laplacian, (slice(None), diag_b), c)
        np.add.at(laplacian, (slice(None), off_ab), -c)
        np.add.at(laplacian, (slice(None), off_ba), -c)
        step = np.linalg.solve(laplacian.reshape(-1, m, m) + eye, grad[..., None])[..., 0]
        ratings[active] = r + step
        done = np.abs(step).max(axis=1) < tol
        if done.all():
            break
        active_idx = np.flatnonzero(active)
        active[active_idx[done]] = False
    return ratings


def pair_statistics(model_a: np.ndarray, model_b: np.ndarray, outcome: np.ndarray, weight: np.ndarray):
    """Collapse battles to unordered pairs (lower index first): (pair_a, pair_b, wins_of_a, games, pair_id)."""
    a, b = np.asarray(model_a, dtype=np.int64), np.asarray(model_b, dtype=np.int64)
    n_models = int(max(a.max(initial=0), b.max(initial=0))) + 1
    swap = a > b
    lo, hi = np.where(swap, b, a), np.where(swap, a, b)
    lo_wins = np.where(swap, 1.0 - outcome, outcome)
    keys, pair_id = np.unique(lo * n_models + hi, return_inverse=True)
    pair_a, pair_b = keys // n_models, keys % n_models
    wins = np.bincount(pair_id, weights=weight * lo_wins, minlength=len(keys))
    games = np.bincount(pair_id, weights=weight, minlength=len(keys))
    return pair_a, pair_b, wins, games, pair_id


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))
