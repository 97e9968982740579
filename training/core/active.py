"""Which routed requests get a duel: where a label teaches the router most (issue 15).

A duel costs a second model call and a label, so a tenant spends a budget of them (a share of its
routed requests, `rate`). `uniform` spends it at random. `active` spends it on the requests
farthest from every prompt the tenant has duelled already: SW learns a prompt's P(strong wins)
from the labelled prompts near it, so a label where none is near teaches most, and one beside an
existing label repeats it. Farness is the query's cosine distance to its nearest duelled prompt,
measured in quantiles of the distances the tenant's traffic had lately (`DuelSelector` keeps a
window of them, each kept up to date as duels cover more): a request among the `rate` share
farthest is duelled, which holds the rate whatever the distances' scale. Traffic can drift, and
repeats of one prompt tie at distance 0, so the share is steered by what was spent: the recent requests' chances
averaging s, the share duelled is 2·rate − s (clipped to [0, 1]), which spends more after an
under-spent stretch and nothing while an over-spent one averages 2·rate. The rule needs no
router score, so it works the same for a pair and a pool, and for every router kind.

Why this rule (`manage.py replay_duels`, training/core/replay.py: GSM8K, SW, duel rate 0.46,
twenty seeds, paired against uniform on the same traffic and test part): the farthest-first rule
gained +0.012 ± 0.009, +0.018 ± 0.009 and +0.017 ± 0.008 APGR after 50, 100 and 150 labels.
Rules that looked at the router's win rate did not: the band of win rates around the threshold
(this module's rule until 2026-12-03) −0.007, −0.010, −0.006; the highest win rates +0.000 ±
0.005, +0.007, +0.009 (README, *Which requests to duel*). Plain Python + numpy: no Django, no
state outside the object.
"""
from __future__ import annotations

import threading

import numpy as np

SELECTIONS = ("active", "uniform")
SAME_PROMPT = 1e-4  # a cosine distance below this is the same prompt again (float noise): never duelled twice


class DuelSelector:
    """One tenant's duel selection in one process: `probability(embedding=, rate=)` for each routed
    request, in arrival order, and `duelled(embedding)` for each request that got its duel (the
    caller draws). `covered` are the prompts duelled before (the tenant's own labelled prompts).
    The window keeps its requests' embeddings, so that a duel updates their distances: the bar is
    always measured against what is covered now. A duelled request's own distance is left as it
    was, not set to 0: the window stands for the traffic to come, and the duels took its farthest
    part, so zeroing them would lower the bar and overspend. Until `min_history` requests are known it spends
    the rate uniformly."""

    def __init__(self, *, selection: str = "active", window: int = 200, min_history: int = 50, covered=None):
        if selection not in SELECTIONS:
            raise ValueError(f"unknown duel selection {selection!r}: use one of {', '.join(SELECTIONS)}")
        self.selection, self.window, self.min_history = selection, window, min_history
        self._covered = np.zeros((0, 0), dtype=np.float32)
        if covered is not None and len(covered):
            self._covered = np.array(covered, dtype=np.float32)
        self._recent: np.ndarray | None = None  # (window, d): the recent requests' embeddings, a ring
        self._distances = np.zeros(window)  # their distances to the nearest duelled prompt
        self._chances = np.zeros(window)  # the chances they were given: the budget's steering
        self._seen = 0
        self._lock = threading.Lock()

    def distance(self, embedding) -> float:
        """Cosine distance from `embedding` (a unit vector) to the nearest duelled prompt: 0 for a
        duelled prompt again, 2 (the largest there is) when none was duelled."""
        if not len(self._covered):
            return 2.0
        distance = float(1.0 - (self._covered @ np.asarray(embedding, dtype=np.float32)).max())
        return distance if distance > SAME_PROMPT else 0.0

    def duelled(self, embedding) -> None:
        """A request got its duel: its prompt now counts as covered."""
        if embedding is None or self.selection != "active":
            return
        row = np.asarray(embedding, dtype=np.float32)
        with self._lock:
            self._covered = row[None] if not len(self._covered) else np.vstack([self._covered, row])
            n = min(self._seen, self.window)
            if n:
                updated = np.minimum(self._distances[:n], 1.0 - self._recent[:n] @ row)
                last = (self._seen - 1) % self.window
                if np.array_equal(self._recent[last], row):
                    updated[last] = self._distances[last]  # its own duel: leave one out (see the class)
                self._distances[:n] = updated

    def probability(self, *, embedding, rate: float) -> float:
        """The chance that this request is duelled, given the tenant's budget `rate` (a share of
        routed requests). Uniform, or a request without an embedding: `rate` itself."""
        if rate <= 0:
            return 0.0
        if self.selection == "uniform" or embedding is None or rate >= 1:
            return min(1.0, rate)
        embedding = np.asarray(embedding, dtype=np.float32)
        distance = self.distance(embedding)
        with self._lock:
            n = min(self._seen, self.window)
            if n < self.min_history:
                chance = rate
            else:
                share = min(1.0, max(0.0, 2 * rate - self._chances[:n].mean()))  # steered by the spend
                nearer = (self._distances[:n] < distance).mean()
                chance = 1.0 if share > 0 and distance > 0 and nearer >= 1.0 - share else 0.0
            self._remember(embedding, distance, chance)
            return chance

    def _remember(self, embedding: np.ndarray, distance: float, chance: float) -> None:
        if self._recent is None:
            self._recent = np.zeros((self.window, len(embedding)), dtype=np.float32)
        slot = self._seen % self.window
        self._recent[slot], self._distances[slot], self._chances[slot] = embedding, distance, chance
        self._seen += 1


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
