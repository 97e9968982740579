"""Which routed requests get a duel: where a label teaches the router most (issue 15).

A duel costs a second model call and a label, so a tenant spends a budget of them (a share of its
routed requests, `rate`). `uniform` spends it at random. `active` spends it on the requests
nearest the tenant's decision boundary: a label flips decisions only where the router's P(strong
wins) is close to the threshold, and there the router is least sure. Nearness is measured in
quantiles of the win rates the tenant's traffic had lately (`DuelSelector` keeps a window of
them, for one router version), so it means the same for a router whose win rates spread over
[0, 1] and for one whose win rates bunch around 0.5: the band of width `rate` (in quantiles)
around the threshold's quantile, moved inward at the ends, holds a `rate` share of the traffic,
and a request in it is duelled. When the traffic drifts into the band faster than the window
follows, a guard holds the budget: no duel while the recent requests' chances already average
`rate`.

How it compares (`manage.py replay_duels`, training/core/replay.py: SW, the same traffic, test
part and draws for both rules, paired per seed; README, *Which requests to duel*). In a pool
(RouterBench test, 11 models, twenty seeds) `active` teaches clearly more per label: +0.0065 ±
0.0008 AIQ after 200 labels at knob 0.5 (ahead on 20 of 20 seeds), +0.0033 ± 0.0008 at knob 0.55;
it matches uniform's AIQ after 200 labels with 50 labels (knob 0.5) or 100 (0.55). Most of that
is the second model (a prototype harness, twelve seeds: `informative_opponent` with requests
drawn at random +0.0038 ± 0.0008; the band adds +0.0022 ± 0.0007 on top). In a pool the band is
centred on P(first beats second), the win rate the gateway logs, not on the comparison that
decides the cheapest qualifying model. For a pair the band is level with uniform duels:
GSM8K (twenty seeds) −0.006 ± 0.008, −0.000 ± 0.011, +0.001 ± 0.008 APGR after 50, 100 and 200
labels; MMLU (ten seeds) +0.017 ± 0.012 after 100 labels, −0.004 ± 0.004 after 300, −0.021 ±
0.015 after 1,000. No rule tried for a pair teaches measurably more per label than uniform duels:
softer bands (duel probability ∝ (1 − 2d)^k, d the quantile distance; worse the softer), a 10%
uniform mix (worse), the highest win rates (level), the prompts farthest from every duelled one
(commit 3298c3a: ahead on GSM8K, +0.018 ± 0.011 after 100 labels, behind on MMLU, −0.029 ± 0.013
after 300; with a traffic-density weight −0.049 ± 0.028: the farthest prompts are the untypical
ones), and a stratified rule that duels a request while its nearest recent requests were duelled
less than `rate` (level: with 10 neighbours GSM8K +0.021 ± 0.011 after 100 labels, +0.004 ±
0.009 after 200, MMLU −0.009 ± 0.010 after 900). Plain
Python: no Django, no state outside the object.
"""
from __future__ import annotations

import threading
from bisect import bisect_left, insort
from collections import deque

SELECTIONS = ("active", "uniform")


class DuelSelector:
    """One tenant's duel selection in one process: `probability(win_rate=, threshold=, rate=)`
    for each routed request, in arrival order. Until `min_history` win rates are known it spends
    the rate uniformly."""

    def __init__(self, *, selection: str = "active", window: int = 1000, min_history: int = 50):
        if selection not in SELECTIONS:
            raise ValueError(f"unknown duel selection {selection!r}: use one of {', '.join(SELECTIONS)}")
        self.selection, self.window, self.min_history = selection, window, min_history
        self.version_id = None  # the router version whose win rates it keeps (set by the caller)
        self._recent: deque[float] = deque()
        self._chances: deque[float] = deque()  # the duel chances it gave lately: the budget's guard
        self._spent = 0.0
        self._sorted: list[float] = []
        self._lock = threading.Lock()

    def in_band(self, win_rate: float, threshold: float, rate: float) -> bool:
        """Whether `win_rate` lies in the band of the `rate` share of recent win rates nearest the
        threshold (by quantile)."""
        n = len(self._sorted)
        quantile = bisect_left(self._sorted, win_rate) / n
        centre = bisect_left(self._sorted, threshold) / n
        low = min(max(centre - rate / 2, 0.0), 1.0 - rate)
        return low <= quantile <= low + rate

    def probability(self, *, win_rate: float | None, threshold: float | None, rate: float) -> float:
        """The chance that this request is duelled, given the tenant's budget `rate` (a share of
        routed requests). Uniform, or a request without a win rate: `rate` itself."""
        if rate <= 0:
            return 0.0
        if self.selection == "uniform" or win_rate is None or threshold is None or rate >= 1:
            return min(1.0, rate)
        with self._lock:
            if len(self._sorted) < self.min_history:
                chance = rate
            elif len(self._chances) >= self.min_history and self._spent / len(self._chances) >= rate:
                chance = 0.0  # the traffic drifted into the band: the recent requests had their share
            else:
                chance = 1.0 if self.in_band(win_rate, threshold, rate) else 0.0
            self._remember(win_rate, chance)
            return chance

    def _remember(self, win_rate: float, chance: float) -> None:
        self._recent.append(win_rate)
        insort(self._sorted, win_rate)
        self._chances.append(chance)
        self._spent += chance
        if len(self._recent) > self.window:
            old = self._recent.popleft()
            del self._sorted[bisect_left(self._sorted, old)]
            self._spent -= self._chances.popleft()


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
