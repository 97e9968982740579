"""The signal -> battle rules (training.core.labels), case by case."""
import pytest

from training.core.labels import Battle, battle_from_preference, battle_from_thumbs

PAIR = dict(strong_model="gpt-4", weak_model="mixtral")


@pytest.mark.parametrize("served, rating, expected", [
    ("mixtral", "down", Battle("gpt-4", "mixtral", "model_a")),  # weak not good enough: strong should have answered
    ("mixtral", "up", Battle("gpt-4", "mixtral", "tie")),  # weak was enough
    ("gpt-4", "down", Battle("gpt-4", "mixtral", "tie")),  # even strong failed
    ("gpt-4", "up", None),  # says nothing about the weak model
    ("llama-3", "down", None),  # a proxied call to a model outside the pair
])
def test_thumbs_to_battle(served, rating, expected):
    assert battle_from_thumbs(rating=rating, served_model=served, **PAIR) == expected


def test_bad_signals_are_refused():
    with pytest.raises(ValueError):
        battle_from_thumbs(rating="meh", served_model="gpt-4", **PAIR)
    with pytest.raises(ValueError):
        battle_from_preference(model_a="a", model_b="b", winner="both")
    with pytest.raises(ValueError):
        battle_from_preference(model_a="a", model_b="a", winner="tie")
    assert battle_from_preference(model_a="a", model_b="b", winner="model_b") == Battle("a", "b", "model_b")
