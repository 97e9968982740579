"""From feedback signals to training battles. Plain Python: the rules, in one place.

RouteLLM's labels are "strong wins / tie / weak wins" for a (prompt, strong, weak) pair. A
pairwise preference is such a label already. A thumb rates *one* answer, so it says something
about the pair only under an assumption, and the rules below take the weakest one that is true
for nearly every real pair of models (the strong model is at least as good as the weak one on
most prompts):

| answer rated | thumb | battle (strong vs weak) | why |
|---|---|---|---|
| weak  | down | strong wins | the weak answer was not good enough: the strong model should have been called |
| weak  | up   | tie         | the weak answer was enough: calling the strong model would have gained nothing |
| strong | down | tie        | even the strong model failed: the weak one would most likely have failed too |
| strong | up   | none       | says nothing about the weak model: labelling it "strong wins" would teach the router to call the strong model for everything users like |

A thumb on an answer from a model that is neither the tenant's strong nor weak model (a plain
proxied call) makes no battle. Duels (both answers, compared by a person or the judge) are what
label the "strong up" case. A score table (both models' scores for a prompt) makes a battle per
pair of scored models: the higher score wins, equal scores tie.

Also here, once: how a battle's winner becomes a training target (`OUTCOME`), which labels come
from an LLM judge rather than a person (`is_llm_judge`), and a battle's training weight
(`battle_weight`).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

WINNERS = ("model_a", "model_b", "tie")
# the training target of a battle: model a's share of the win
OUTCOME = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5}
# judges that are people: every other judge name is an LLM judge (AlpacaEval's GPT-4, RouterHub's judge, ...)
HUMAN_JUDGES = ("", "human", "user")


@dataclass(frozen=True)
class Battle:
    model_a: str
    model_b: str
    winner: str  # "model_a" | "model_b" | "tie"


def battle_from_thumbs(*, rating: str, served_model: str, strong_model: str, weak_model: str) -> Battle | None:
    """The battle a thumb on `served_model`'s answer stands for, or None (see the module's table).
    Model a is always the strong model."""
    if strong_model == weak_model:
        if rating not in ("up", "down"):
            raise ValueError(f"rating must be 'up' or 'down', not {rating!r}")
        return None
    return battle_from_thumbs_in_pool(rating=rating, served_model=served_model, pool=[strong_model, weak_model])


def battle_from_thumbs_in_pool(*, rating: str, served_model: str, pool: list[str]) -> Battle | None:
    """The pair's rules in a pool ordered most expensive first: the served model's neighbour one
    step up in price plays the strong model (model a), the served model the weak one.

    | thumb on m | battle |
    |---|---|
    | down, m not the most expensive | the next model up beats m |
    | up, m not the most expensive | the next model up ties m (m was enough) |
    | down, m the most expensive | m ties the next model down (the cheaper one would most likely have failed too) |
    | up, m the most expensive | none |

    For a pair this is the module's table; a model outside the pool makes no battle."""
    if rating not in ("up", "down"):
        raise ValueError(f"rating must be 'up' or 'down', not {rating!r}")
    if served_model not in pool or len(pool) < 2:
        return None
    i = pool.index(served_model)
    neighbour = pool[i - 1] if i > 0 else pool[1]
    if neighbour == served_model:  # a pool that names one model twice: no battle with itself
        return None
    if i > 0:
        return Battle(neighbour, served_model, "model_a" if rating == "down" else "tie")
    return Battle(served_model, neighbour, "tie") if rating == "down" else None


def duel_opponent(*, served_model: str, pool: list[str]) -> str | None:
    """The second model of a duel in a pool ordered most expensive first: the next model up in
    price, or for the most expensive one the next model down (a pair: the other model)."""
    if served_model not in pool or len(pool) < 2:
        return None
    i = pool.index(served_model)
    return pool[i - 1] if i > 0 else pool[1]


def battle_from_preference(*, model_a: str, model_b: str, winner: str) -> Battle:
    """A pairwise preference is a battle as it is."""
    if winner not in WINNERS:
        raise ValueError(f"winner must be model_a, model_b or tie, not {winner!r}")
    if model_a == model_b:
        raise ValueError("model_a and model_b must be two different models")
    return Battle(model_a, model_b, winner)


def battle_from_scores(score_a: float, score_b: float) -> str:
    """The winner of two scored answers: the higher score wins, equal scores tie."""
    return "model_a" if score_a > score_b else "model_b" if score_b > score_a else "tie"


def score_battles(scores: dict[str, float]) -> list[tuple[str, str, str]]:
    """Every pair of scored models, (model_a, model_b, winner), in sorted name order."""
    return [(name_a, name_b, battle_from_scores(score_a, score_b))
            for (name_a, score_a), (name_b, score_b) in itertools.combinations(sorted(scores.items()), 2)]


def outcome(winner: str) -> float:
    """Model a's score in a battle: 1 when it won, 0 when it lost, 0.5 for a tie."""
    return OUTCOME[winner]


def is_llm_judge(judge: str) -> bool:
    """True for labels an LLM judge gave (not a person)."""
    return (judge or "").lower() not in HUMAN_JUDGES


def battle_weight(weight, *, own, judged, own_weight: float, judged_weight: float, shared_judged_weight: float):
    """A battle's training weight (scalars or numpy arrays): the stored weight, times `own_weight`
    for the tenant's own battles, times the judged weight that applies to LLM-judge labels
    (`judged_weight` for the tenant's own, `shared_judged_weight` for shared ones)."""
    own = np.asarray(own, dtype=bool)
    judged = np.asarray(judged, dtype=bool)
    factor = np.where(own, own_weight, 1.0) * np.where(judged, np.where(own, judged_weight, shared_judged_weight), 1.0)
    return weight * (factor if factor.ndim else float(factor))
