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
    """`index` into the candidates; `win_rates[j]` = P(candidates[0] beats candidates[j])."""

    index: int
    win_rates: tuple[float, ...]

    @property
    def win_rate(self) -> float | None:
        """P(first beats second): RouteLLM's P(strong wins) for a pair."""
        return self.win_rates[1] if len(self.win_rates) > 1 else None


def win_rates_against_first(ratings) -> np.ndarray:
    """P(candidates[0] beats candidates[j]) for every j (ratings of one query, shape (m,))."""
    ratings = np.asarray(ratings, dtype=np.float64)
    return 1.0 / (1.0 + np.exp(-(ratings[0] - ratings)))


def choose(ratings, threshold: float) -> Choice:
    """The candidate that answers (see the module's rule)."""
    win_rates = win_rates_against_first(ratings)
    chosen = 0
    for j in range(len(win_rates) - 1, 0, -1):  # the cheapest first
        if win_rates[j] < threshold:
            chosen = j
            break
    return Choice(chosen, tuple(float(w) for w in win_rates))


def strong_chosen(win_rates, threshold: float) -> np.ndarray:
    """The two-model rule over many queries: True where the strong model answers."""
    return np.asarray(win_rates) >= threshold
