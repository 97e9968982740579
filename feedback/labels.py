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
label the "strong up" case.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Battle:
    model_a: str
    model_b: str
    winner: str  # "model_a" | "model_b" | "tie"


def battle_from_thumbs(*, rating: str, served_model: str, strong_model: str, weak_model: str) -> Battle | None:
    """The battle a thumb on `served_model`'s answer stands for, or None (see the module's table).
    Model a is always the strong model."""
    if rating not in ("up", "down"):
        raise ValueError(f"rating must be 'up' or 'down', not {rating!r}")
    if strong_model == weak_model:
        return None
    if served_model == weak_model:
        return Battle(strong_model, weak_model, "model_a" if rating == "down" else "tie")
    if served_model == strong_model and rating == "down":
        return Battle(strong_model, weak_model, "tie")
    return None


def battle_from_preference(*, model_a: str, model_b: str, winner: str) -> Battle:
    """A pairwise preference is a battle as it is."""
    if winner not in ("model_a", "model_b", "tie"):
        raise ValueError(f"winner must be model_a, model_b or tie, not {winner!r}")
    if model_a == model_b:
        raise ValueError("model_a and model_b must be two different models")
    return Battle(model_a, model_b, winner)
