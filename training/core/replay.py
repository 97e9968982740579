"""Offline replay of a tenant's duels: how much a duel selection rule teaches SW per label.

`simulate_traffic` measures the rules in the real loop (gateway, worker, training runs), at about
six minutes a seed: three seeds, whose spread (0.02 APGR on 654 test prompts) hides differences of
that size. This replays the same loop in memory, in seconds a seed, so that a comparison can
average twenty seeds and pair them (each seed's traffic, test part and draws are the same for
every rule): the traffic part's requests in order, in blocks routed by the same labels; each
request's P(strong wins) from SW over the shared battles plus the labels so far, the threshold at
the tenant's strong share of the win rates seen so far (as `simulate_traffic` re-calibrates it),
the duel decided by the shipped `DuelSelector` (`training.core.active`, the gateway's own class)
and a seeded draw, and the block's labels (from the two models' scores) added to the tenant's
battles after it, which SW reads with the shared battles at weight `own_weight` (as the serving
index reads new preferences). After each `every` labels SW is scored on the test part. One
selector serves the whole replay, while the gateway starts a fresh one at each new router version
(uniform for its first 50 requests): the replay's window mixes win rates of successive label
sets, as the gateway's does between two versions.

`pool_duel_replay` does the same for a pool tenant: each request routed at the tenant's knob by
the gateway's rule at a fixed knob (`ReplayConfig.knob`; a pool's knob is not re-calibrated), the
second model of its duel picked as the gateway picks it, SW's AIQ on the test part
(`training.core.pools`).

Plain Python: arrays in, numbers out. SW here is the exact scan over the battles in memory
(`BattleArrays`); served, it reads the preference store's index, which approximates the far
battles (README: *Serving*).
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from training.core.active import DuelSelector, informative_opponent
from training.core.calibration import threshold_for_strong_share
from training.core.evaluation import EvalSet
from training.core.labels import battle_from_scores, duel_opponent, outcome
from training.core.metrics import evaluate_win_rates
from training.core.policy import choose
from training.core.pools import pool_baselines, pool_evaluate
from training.core.routers.base import Battles
from training.core.routers.sw import SWRankingRouter


@dataclass
class ReplayConfig:
    rate: float  # the tenant's duel rate: a share of routed requests
    own_weight: float = 10.0  # a tenant label's weight against a shared battle's (ROUTERHUB_OWN_DATA_WEIGHT)
    strong_share: float = 0.5  # the threshold is re-calibrated to this share of strong calls
    block: int = 10  # requests routed by the same labels (a block's labels arrive after it)
    every: int = 25  # labels between two scorings on the test part
    max_labels: int | None = None  # stop once this many labels are spent
    knob: float = 0.5  # a pool's routing threshold (a pair re-calibrates its own: `strong_share`)


def duel_outcome(strong_score: float, weak_score: float) -> float:
    """The strong model's share of a duel's win from the two answers' scores (a tie: half), by the
    labelling rules of `training.core.labels`."""
    return outcome(battle_from_scores(strong_score, weak_score))


class _Labelled:
    """The shared battles plus a tenant's labels (one battle each), as one SW router (refit on
    change). `strong` and `weak` name the pair that `add` labels by default."""

    def __init__(self, shared: Battles, *, strong: str, weak: str, own_weight: float, gamma: float = 100.0):
        self.shared, self.gamma, self.own_weight = shared, gamma, own_weight
        self.strong, self.weak = strong, weak
        self.embeddings: list[np.ndarray] = []
        self.pairs: list[tuple[int, int]] = []
        self.outcomes: list[float] = []
        self._router = None

    def add(self, embedding: np.ndarray, outcome: float, *, model_a: str | None = None,
            model_b: str | None = None) -> None:
        """One label: `outcome` is model a's share of the win (default: the pair, a = strong)."""
        if (model_a is None) != (model_b is None):
            raise ValueError("give both model_a and model_b, or neither (the pair)")
        models = self.shared.models
        self.embeddings.append(embedding)
        self.pairs.append((models.index(model_a or self.strong), models.index(model_b or self.weak)))
        self.outcomes.append(outcome)
        self._router = None

    @property
    def router(self) -> SWRankingRouter:
        if self._router is None:
            battles, n = self.shared, len(self.outcomes)
            if n:
                first = len(battles.prompt_embeddings)
                pairs = np.asarray(self.pairs)
                battles = Battles(np.vstack([battles.prompt_embeddings, np.asarray(self.embeddings, np.float32)]),
                                  np.concatenate([battles.prompt_index, first + np.arange(n)]),
                                  np.concatenate([battles.model_a, pairs[:, 0]]),
                                  np.concatenate([battles.model_b, pairs[:, 1]]),
                                  np.concatenate([battles.outcome, self.outcomes]), battles.models,
                                  np.concatenate([battles.weight, np.full(n, self.own_weight)]))
            self._router = SWRankingRouter(gamma=self.gamma).fit(battles)
        return self._router

    def win_rates(self, queries: np.ndarray) -> np.ndarray:
        return self.router.predict_win_rate(queries, strong=self.strong, weak=self.weak)

    def ratings(self, queries: np.ndarray, models: list[str]) -> np.ndarray:
        return self.router.predict_ratings(queries, models)


def duel_replay(shared: Battles, traffic: EvalSet, test: EvalSet, *, selection: str, config: ReplayConfig,
                seed: int) -> list[tuple[int, float]]:
    """(labels spent, SW APGR on `test`) from the cold start on, every `config.every` labels and at
    the end. `traffic` and `test` carry their embeddings; `shared` are the shared battles."""
    strong, weak = traffic.strong, traffic.weak
    store = _Labelled(shared, strong=strong, weak=weak, own_weight=config.own_weight)
    selector = DuelSelector(selection=selection)
    draws = np.random.default_rng(seed).random(len(traffic.rows))  # the same draws for every rule

    test_strong, test_weak = test.strong_scores, test.weak_scores  # each builds the score matrix: once

    def score() -> float:
        return evaluate_win_rates(store.win_rates(test.embeddings), test_strong, test_weak)["apgr"]

    seen: list[float] = []
    outcomes = [duel_outcome(s, w) for s, w in zip(traffic.strong_scores, traffic.weak_scores)]

    def pick(rows: range, room: int | None) -> list[int]:
        # uniform reads no win rate: its replay skips SW on the traffic
        win_rates = (store.win_rates(traffic.embeddings[rows.start:rows.stop]) if selection != "uniform"
                     else [None] * len(rows))
        picked = []
        for row, win_rate in zip(rows, win_rates):
            threshold = None
            if win_rate is not None:
                seen.append(float(win_rate))
                threshold = threshold_for_strong_share(np.array(seen), config.strong_share)
            chance = selector.probability(win_rate=win_rate, threshold=threshold, rate=config.rate)
            if draws[row] < chance and (room is None or len(picked) < room):
                picked.append(row)
        return picked

    return _blocks(len(traffic.rows), config, pick=pick, score=score,
                   learn=lambda row: store.add(traffic.embeddings[row], outcomes[row]))


def _blocks(n_rows: int, config: ReplayConfig, *, pick, learn, score) -> list:
    """The loop both replays share: the requests in blocks of `config.block`; `pick(rows, room)`
    gives the block's duels as it is routed (at most `room` more when `max_labels` caps them);
    `learn(duel)` adds each one's label after the block; `score()` every `config.every` labels and
    at the end. Returns [(labels, score)]."""
    curve = [(0, score())]
    labels, next_score = 0, config.every
    for start in range(0, n_rows, config.block):
        room = None if config.max_labels is None else config.max_labels - labels
        for duel in pick(range(start, min(n_rows, start + config.block)), room):
            learn(duel)  # the block's labels arrive after it was routed
            labels += 1
            if labels >= next_score:
                curve.append((labels, score()))
                next_score += config.every
        if config.max_labels is not None and labels >= config.max_labels:
            break
    if labels > curve[-1][0]:
        curve.append((labels, score()))
    return curve


def pool_duel_replay(shared: Battles, traffic: EvalSet, test: EvalSet, *, selection: str, config: ReplayConfig,
                     seed: int) -> tuple[list[tuple[int, dict]], Counter]:
    """A pool tenant's duels replayed: the curve of (labels spent, {"aiq", "quality_at_third_cost"}
    of SW on `test`) from the cold start on, and how many duels each pair of models got. `traffic`
    and `test` are priced pool sets (`EvalSet.priced`) whose models are ordered most expensive
    first, with their embeddings.

    Each request is routed as the gateway routes it (`training.core.policy.choose` at
    `config.knob`), its duel decided by the shipped `DuelSelector` on P(first beats second), and its
    second model picked as the gateway picks it: `active` the model whose duel with the served one
    SW is least sure of (`informative_opponent`), `uniform` the next one up in price, or the next
    one down for the most expensive model (`training.core.labels.duel_opponent`). A label is the
    battle of the two answers' scores (model a the more expensive). One price order serves both
    routing and duels here (the pool set's order: mean cost per row); the gateway routes by each
    request's expected cost and duels by list price, which can order near-equal prices (e.g.
    claude-v1 and claude-v2) differently."""
    pool = list(traffic.models)
    store = _Labelled(shared, strong=pool[0], weak=pool[1], own_weight=config.own_weight)
    selector = DuelSelector(selection=selection)
    draws = np.random.default_rng(seed).random(len(traffic.rows))
    quality = traffic.quality
    baselines = pool_baselines(test)

    def score() -> dict:
        result = pool_evaluate(store.ratings(test.embeddings, pool), test, baselines=baselines)
        return {"aiq": result["aiq"], "quality_at_third_cost": result["quality_at_third_cost"]}

    pairs: Counter = Counter()

    def pick(rows: range, room: int | None) -> list[tuple[int, int, int]]:
        picked = []
        for row, row_ratings in zip(rows, store.ratings(traffic.embeddings[rows.start:rows.stop], pool)):
            choice = choose(row_ratings, config.knob)
            chance = selector.probability(win_rate=choice.win_rate, threshold=config.knob, rate=config.rate)
            if not (draws[row] < chance and (room is None or len(picked) < room)):
                continue
            served = pool[choice.index]
            other = None
            if selection == "active":
                other = informative_opponent(served=served, ratings=dict(zip(pool, row_ratings)), pool=pool)
            other = other or duel_opponent(served_model=served, pool=pool)
            a, b = sorted((choice.index, pool.index(other)))  # model a: the more expensive
            picked.append((row, a, b))
        return picked

    def learn(duel: tuple[int, int, int]) -> None:
        row, a, b = duel
        store.add(traffic.embeddings[row], duel_outcome(quality[row, a], quality[row, b]),
                  model_a=pool[a], model_b=pool[b])
        pairs[pool[a], pool[b]] += 1

    return _blocks(len(traffic.rows), config, pick=pick, learn=learn, score=score), pairs


__all__ = ["ReplayConfig", "duel_outcome", "duel_replay", "pool_duel_replay"]
