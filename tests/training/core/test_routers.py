import numpy as np
import pytest

from tests.support.synthetic import two_cluster_battles, unit
from training.core.routers import ROUTERS, Battles, MFRouter, RandomRouter, Router, SWRankingRouter, UnknownModel
from training.core.routers.bradley_terry import bt_ratings, pair_statistics
from training.core.routers.sw import sw_win_rate_from_neighbors


def near(centers, rng, which, n=20, noise=0.15):
    return unit(centers[which] + noise * rng.normal(size=(n, centers.shape[1])))


@pytest.mark.parametrize("router", [SWRankingRouter(), SWRankingRouter(top_k=40), MFRouter(epochs=60, batch_size=64)])
def test_router_prefers_the_model_that_wins_near_the_query(router):
    battles, centers, rng = two_cluster_battles()
    router.fit(battles)
    strong_side = router.predict_win_rate(near(centers, rng, 0), strong="strong", weak="weak")
    weak_side = router.predict_win_rate(near(centers, rng, 1), strong="strong", weak="weak")
    assert (strong_side > 0.5).all() and (weak_side < 0.5).all()
    # the decision (the base class's, through the policy): the strong model answers on its side only
    assert all(router.route(q, ["strong", "weak"], 0.5).index == 0 for q in near(centers, rng, 0, n=5))
    assert all(router.route(q, ["strong", "weak"], 0.5).index == 1 for q in near(centers, rng, 1, n=5))


@pytest.mark.parametrize("kind", ["sw", "mf"])
def test_router_scores_any_pair_seen_in_training(kind):
    battles, centers, rng = two_cluster_battles()
    router = ROUTERS[kind](**({"epochs": 40, "batch_size": 64} if kind == "mf" else {})).fit(battles)
    queries = near(centers, rng, 0)
    forward = router.predict_win_rate(queries, strong="strong", weak="other")
    backward = router.predict_win_rate(queries, strong="other", weak="strong")
    np.testing.assert_allclose(forward + backward, 1.0, atol=1e-6)
    with pytest.raises(UnknownModel, match="not seen in training"):
        router.predict_win_rate(near(centers, rng, 0), strong="strong", weak="unknown")


def test_mf_scores_more_than_two_models_at_once():
    battles, centers, rng = two_cluster_battles()
    router = MFRouter(epochs=60, batch_size=64).fit(battles)
    scores = router.score_models(near(centers, rng, 0))
    assert scores.shape == (20, 3)
    strong, weak = router.models_.index("strong"), router.models_.index("weak")
    assert (scores[:, strong] > scores[:, weak]).all()


@pytest.mark.parametrize("router", [SWRankingRouter(gamma=5.0, top_k=30), MFRouter(epochs=5, batch_size=64),
                                    RandomRouter(random_state=3)])
def test_artifact_round_trip_gives_the_same_win_rates(router):
    battles, centers, rng = two_cluster_battles()
    router.fit(battles)
    queries = near(centers, rng, 0, n=5)
    loaded = Router.from_bytes(router.to_bytes())
    assert type(loaded) is type(router) and loaded.get_params() == router.get_params()
    assert loaded.models_ == router.models_
    np.testing.assert_allclose(loaded.predict_win_rate(queries, strong="strong", weak="weak"),
                               router.predict_win_rate(queries, strong="strong", weak="weak"))


def test_mf_training_is_seeded():
    battles, centers, rng = two_cluster_battles()
    queries = near(centers, rng, 1, n=5)
    first = MFRouter(epochs=3, batch_size=32, random_state=7).fit(battles).predict_win_rate(queries, strong="strong", weak="weak")
    again = MFRouter(epochs=3, batch_size=32, random_state=7).fit(battles).predict_win_rate(queries, strong="strong", weak="weak")
    np.testing.assert_array_equal(first, again)


def test_bradley_terry_matches_the_closed_form_for_two_models():
    # 3 wins of a over b in 4 games: MLE with no ridge gives σ(r_a − r_b) = 3/4
    ratings = bt_ratings(np.array([0]), np.array([1]), np.array([[3.0]]), np.array([[4.0]]), 2, ridge=1e-9)
    assert 1 / (1 + np.exp(-(ratings[0, 0] - ratings[0, 1]))) == pytest.approx(0.75, abs=1e-6)


def test_ties_count_as_half_a_win_to_each_side():
    pair_a, pair_b, wins, games, _ = pair_statistics(np.array([0, 1, 0]), np.array([1, 0, 1]),
                                                     np.array([1.0, 1.0, 0.5]), np.ones(3))
    # battles: 0 beats 1; 1 beats 0; tie  ->  model 0 has 1.5 wins in 3 games
    assert (pair_a.tolist(), pair_b.tolist(), wins.tolist(), games.tolist()) == ([0], [1], [1.5], [3.0])


def test_sw_weights_closer_battles_more():
    # two battles: the very similar one says strong wins, a far one says weak wins
    models = ["strong", "weak"]
    close_wins = sw_win_rate_from_neighbors([0.9, 0.1], [0, 1], [1, 0], [1.0, 1.0], [1.0, 1.0], models,
                                            strong="strong", weak="weak", gamma=10.0, ridge=1e-6)
    # γ^(1+1) = 100 against γ^(1+1/9) ≈ 12.9: P(strong) = 100 / 112.9
    assert close_wins == pytest.approx(100 / (100 + 10 ** (1 + 0.1 / 0.9)), abs=1e-4)


def test_sw_top_k_equal_to_all_battles_matches_the_exact_scan():
    battles, centers, rng = two_cluster_battles()
    queries = near(centers, rng, 0, n=8)
    exact = SWRankingRouter().fit(battles).predict_win_rate(queries, strong="strong", weak="weak")
    router = SWRankingRouter(top_k=len(battles)).fit(battles)
    # force the top-k code path of its neighbour source with k = every battle
    sims = queries @ router.prompt_embeddings_.T
    wins, games = router.source_._top_k(sims, router.gamma)
    exact_wins, exact_games = router.source_._exact(sims, router.gamma)
    np.testing.assert_allclose(wins, exact_wins, atol=1e-9)
    np.testing.assert_allclose(games, exact_games, atol=1e-9)
    np.testing.assert_allclose(router.predict_win_rate(queries, strong="strong", weak="weak"), exact, atol=1e-9)


def test_random_router_is_seeded_and_uniform():
    queries = np.zeros((1000, 4))
    first = RandomRouter(random_state=1).fit(two_cluster_battles()[0]).predict_win_rate(queries, strong="a", weak="b")
    assert np.array_equal(first, RandomRouter(random_state=1).predict_win_rate(queries, strong="a", weak="b"))
    assert 0.45 < first.mean() < 0.55


def test_battles_reject_out_of_range_indexes():
    with pytest.raises(ValueError):
        Battles(np.zeros((2, 4)), [0, 2], [0, 0], [1, 1], [1.0, 0.0], ["a", "b"])


@pytest.mark.parametrize("kind", ["sw", "mf"])
def test_ratings_give_the_win_rate_of_any_pair(kind):
    battles, centers, rng = two_cluster_battles()
    router = ROUTERS[kind](**({"epochs": 40, "batch_size": 64} if kind == "mf" else {})).fit(battles)
    queries = near(centers, rng, 0, n=5)
    ratings = router.predict_ratings(queries, ["strong", "weak", "other"])
    assert ratings.shape == (5, 3)
    np.testing.assert_allclose(1 / (1 + np.exp(-(ratings[:, 0] - ratings[:, 1]))),
                               router.predict_win_rate(queries, strong="strong", weak="weak"), atol=1e-6)


def test_sw_scores_the_same_from_an_injected_neighbour_source():
    """SW's fit is only its neighbour source: attaching the same battles as a source gives the same ratings."""
    from training.core.routers.sw import BattleArrays

    battles, centers, rng = two_cluster_battles()
    queries = near(centers, rng, 0, n=5)
    fitted = SWRankingRouter().fit(battles)
    attached = SWRankingRouter().attach(BattleArrays(battles))
    np.testing.assert_allclose(fitted.predict_ratings(queries, ["strong", "weak"]),
                               attached.predict_ratings(queries, ["strong", "weak"]))
    assert Router.from_bytes  # the artifact format stays the base class's
    assert ROUTERS["sw"].restore({}, None, neighbors=battles).predict_win_rate(
        queries, strong="strong", weak="weak").shape == (5,)
