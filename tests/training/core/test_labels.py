"""The signal -> battle rules (training.core.labels), case by case."""
import pytest

from training.core.labels import (
    Battle,
    battle_from_preference,
    battle_from_thumbs,
    battle_from_thumbs_in_pool,
    duel_opponent,
)

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


POOL = ["big", "mid", "small"]  # most expensive first


@pytest.mark.parametrize("rating, served, battle", [
    ("down", "small", Battle("mid", "small", "model_a")),  # the next model up should have answered
    ("up", "small", Battle("mid", "small", "tie")),  # the cheaper one was enough
    ("down", "mid", Battle("big", "mid", "model_a")),
    ("up", "mid", Battle("big", "mid", "tie")),
    ("down", "big", Battle("big", "mid", "tie")),  # even the most expensive failed
    ("up", "big", None),
    ("up", "outside", None),
])
def test_thumbs_in_a_pool_follow_the_pair_rules_with_the_next_model_up(rating, served, battle):
    assert battle_from_thumbs_in_pool(rating=rating, served_model=served, pool=POOL) == battle


@pytest.mark.parametrize("rating", ["up", "down"])
@pytest.mark.parametrize("served", ["strong", "weak", "other"])
def test_a_pool_of_two_is_the_pair(rating, served):
    assert battle_from_thumbs_in_pool(rating=rating, served_model=served, pool=["strong", "weak"]) == \
        battle_from_thumbs(rating=rating, served_model=served, strong_model="strong", weak_model="weak")


def test_a_duel_compares_the_served_model_with_the_next_one_up():
    assert duel_opponent(served_model="small", pool=POOL) == "mid"
    assert duel_opponent(served_model="mid", pool=POOL) == "big"
    assert duel_opponent(served_model="big", pool=POOL) == "mid"  # the most expensive: the next one down
    assert duel_opponent(served_model="weak", pool=["strong", "weak"]) == "strong"
    assert duel_opponent(served_model="outside", pool=POOL) is None


def test_a_pool_naming_one_model_twice_makes_no_battle_with_itself():
    assert battle_from_thumbs_in_pool(rating="down", served_model="x", pool=["x", "x"]) is None
    assert battle_from_thumbs_in_pool(rating="up", served_model="x", pool=["x", "x"]) is None
