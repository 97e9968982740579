"""Which routed requests get a duel: where a label teaches the router most (issue 15).

A duel costs a second model call and a label, so a tenant spends a budget of them (a share of its
routed requests, `rate`). `uniform` spends it at random. `active` spends it near the tenant's
decision boundary: a label flips decisions only where the router's P(strong wins) is close to the
threshold, and there the router is least sure. Closeness is measured in quantiles of the win
rates the tenant's traffic had lately (`DuelSelector` keeps a window of them), so it means the
same for a router whose win rates spread over [0, 1] and for one whose win rates bunch around 0.5.

The budget holds on average: a request is duelled with probability min(1, rate * u / mean u),
u its informativeness and mean u a running mean over the tenant's requests. Plain Python and
numpy: no Django, no state outside the object.
"""
from __future__ import annotations

import threading
from bisect import bisect_left, insort
from collections import deque

SELECTIONS = ("active", "uniform")


class DuelSelector:
    """One tenant's duel selection in one process: `probability(win_rate, threshold)` for each
    routed request, in arrival order."""

    def __init__(self, *, selection: str = "active", window: int = 1000, smoothing: float = 0.01,
                 sharpness: float = 2.0):
        if selection not in SELECTIONS:
            raise ValueError(f"unknown duel selection {selection!r}: use one of {', '.join(SELECTIONS)}")
        self.selection, self.window, self.smoothing, self.sharpness = selection, window, smoothing, sharpness
        self._recent: deque[float] = deque()
        self._sorted: list[float] = []
        self._mean_u: float | None = None
        self._lock = threading.Lock()

    def informativeness(self, win_rate: float, threshold: float) -> float:
        """u in [0, 1]: 1 at the threshold's quantile of the recent win rates, 0 half the
        distribution or more away (with no history yet, every request counts alike)."""
        if not self._sorted:
            return 1.0
        n = len(self._sorted)
        distance = abs(bisect_left(self._sorted, win_rate) - bisect_left(self._sorted, threshold)) / n
        return max(0.0, 1.0 - 2.0 * distance) ** self.sharpness

    def probability(self, *, win_rate: float | None, threshold: float | None, rate: float) -> float:
        """The chance that this request is duelled, given the tenant's budget `rate` (a share of
        routed requests). Uniform, or a request without a win rate: `rate` itself."""
        if rate <= 0:
            return 0.0
        if self.selection == "uniform" or win_rate is None or threshold is None or rate >= 1:
            return min(1.0, rate)
        with self._lock:
            u = self.informativeness(win_rate, threshold)
            self._mean_u = u if self._mean_u is None else (1 - self.smoothing) * self._mean_u + self.smoothing * u
            self._remember(win_rate)
            return min(1.0, rate * u / max(self._mean_u, 1e-6))

    def _remember(self, win_rate: float) -> None:
        self._recent.append(win_rate)
        insort(self._sorted, win_rate)
        if len(self._recent) > self.window:
            old = self._recent.popleft()
            del self._sorted[bisect_left(self._sorted, old)]


def informative_opponent(*, served: str, ratings: dict[str, float], pool: list[str]) -> str | None:
    """The second model of an active duel in a pool: the one whose duel with `served` the router
    is least sure of, P(it beats served) = σ(r_o − r_served) closest to 1/2 (a Bradley-Terry label
    carries the most information there: p(1 − p) is largest). Models the router gave no rating
    are left out; on a tie, the more expensive one (`pool` is ordered most expensive first). None
    when no other model has a rating."""
    if served not in ratings:
        return None
    others = [model for model in pool if model != served and model in ratings]
    if not others:
        return None
    return min(others, key=lambda model: abs(ratings[model] - ratings[served]))
