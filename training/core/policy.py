"""The decision: from a router's ratings and a tenant's threshold to the model that answers.

One rule for any number of candidate models, ordered from the strongest (most expensive) to the
cheapest: with P(first beats m) = σ(r_first − r_m), send the query to the *cheapest* model m for
which P(first beats m) < threshold, and to the first model when there is none. The threshold is
the tenant's one knob: 0 sends everything to the first model, 1 everything to the cheapest.

For two models this is exactly RouteLLM's rule: the strong model answers when
P(strong wins) ≥ threshold, else the weak one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Choice:
    """`index` into the candidates; `win_rates[j]` = P(candidates[0] beats candidates[j]);
    `ratings`: the router's rating of each candidate."""

    index: int
    win_rates: tuple[float, ...]
    ratings: tuple[float, ...] = ()

    @property
    def win_rate(self) -> float | None:
        """P(first beats second): RouteLLM's P(strong wins) for a pair."""
        return self.win_rates[1] if len(self.win_rates) > 1 else None


def win_rates_against_first(ratings) -> np.ndarray:
    """P(candidates[0] beats candidates[j]) for every j (ratings of one query, shape (m,))."""
    ratings = np.asarray(ratings, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-(ratings[0] - ratings)))


def choose(ratings, threshold: float) -> Choice:
    """The candidate that answers one query (see the module's rule); ratings in candidate order."""
    ratings = np.asarray(ratings, dtype=np.float64)
    chosen = int(choose_many(ratings[None, :], [threshold])[0, 0])
    return Choice(chosen, tuple(float(w) for w in win_rates_against_first(ratings)),
                  tuple(float(r) for r in ratings))


def choose_many(ratings, thresholds, order=None) -> np.ndarray:
    """The rule over many queries and knob values at once: the chosen candidate per threshold and
    query, shape (T, n). `ratings` (n, m); `order`: the candidates' order, most expensive first
    (default: as given). Returns indexes into the columns of `ratings`."""
    ratings = np.atleast_2d(np.asarray(ratings, dtype=np.float64))
    order = np.arange(ratings.shape[1]) if order is None else np.asarray(order)
    ordered = ratings[:, order]
    win_rates = 1.0 / (1.0 + np.exp(-(ordered[:, :1] - ordered)))  # P(first beats j)
    thresholds = np.atleast_1d(np.asarray(thresholds, dtype=np.float64))
    below = win_rates[None, :, :] < thresholds[:, None, None]  # (T, n, m)
    below[:, :, 0] = False  # the first model is the fallback, not a candidate against itself
    cheapest = ordered.shape[1] - 1 - np.argmax(below[:, :, ::-1], axis=2)  # the last True: the cheapest
    return order[np.where(below.any(axis=2), cheapest, 0)]


def choice_shares(chosen, n_candidates: int) -> np.ndarray:
    """Each candidate's share of the queries, per knob value: `chosen` (T, n) -> (T, m)."""
    chosen = np.asarray(chosen)
    return np.stack([(chosen == j).mean(axis=1) for j in range(n_candidates)], axis=1)


def strong_chosen(win_rates, threshold: float) -> np.ndarray:
    """The same rule for a pair, from P(strong wins) itself: True where the strong model answers
    (win_rate >= threshold). Evaluation and calibration use this form, whose thresholds are
    win rates themselves (a round trip through ratings could move a win rate by one ulp)."""
    return np.asarray(win_rates) >= threshold
