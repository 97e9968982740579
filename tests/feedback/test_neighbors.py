"""SW at serving time: neighbours from pgvector (HNSW) agree with the exact in-memory scan."""
import numpy as np
import pytest

from feedback.neighbors import BattleNeighborIndex
from feedback.selectors import battles_load
from feedback.store import preferences_import
from routerhub.embeddings.services import embeddings_for_texts
from tests.support.paths import FIXTURES
from training.core.routers import SWRankingRouter
from training.core.routers.sw import sw_win_rate_from_neighbors

S, W = "gpt-4-1106-preview", "mixtral-8x7b-instruct-v0.1"
QUERIES = ["Mia has 40 stickers and buys 3 packs of 12 stickers, then gives away a third. How many are left?",
           "Quick question: what is the color of grass? One word please."]


def serve(index, query, k):
    nb = index.neighbors(query, k=k)
    return sw_win_rate_from_neighbors(nb.similarities, nb.model_a, nb.model_b, nb.outcome, nb.weight, nb.models,
                                      strong=S, weak=W)


@pytest.mark.django_db
@pytest.mark.parametrize("k", [30, 144])
def test_pgvector_top_k_agrees_with_the_exact_scan(k):
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")  # 48 prompts x 3 battles
    queries = embeddings_for_texts(QUERIES)
    exact = SWRankingRouter(top_k=k).fit(battles_load()).predict_win_rate(queries, strong=S, weak=W)
    index = BattleNeighborIndex()
    served = [serve(index, q, k) for q in queries]
    np.testing.assert_allclose(served, exact, atol=1e-6)
    assert served[0] > served[1] + 0.1  # math needs the strong model more than chit-chat does


@pytest.mark.django_db
def test_a_new_preference_changes_sw_without_a_retrain():
    from feedback.store import preferences_store
    from training.core.datasets import ParsedBattle

    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")
    index = BattleNeighborIndex(refresh_s=3600)  # only a prompt it has not seen forces a refresh
    query = embeddings_for_texts([QUERIES[1]])[0]
    before = serve(index, query, 30)
    # users of this tenant say the weak model loses on exactly this kind of question
    preferences_store(battles=[ParsedBattle(QUERIES[1], S, W, "model_a", "feedback", "", f"u{i}", 0)
                               for i in range(5)])
    after = serve(index, query, 30)
    assert after > before + 0.1


@pytest.mark.django_db
def test_cluster_summaries_bring_top_k_serving_close_to_the_exact_scan():
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")
    queries = embeddings_for_texts(QUERIES)
    exact = SWRankingRouter().fit(battles_load()).predict_win_rate(queries, strong=S, weak=W)
    index = BattleNeighborIndex()
    near_only = np.array([index.win_rate(q, strong=S, weak=W, k=6, summaries=False) for q in queries])
    two_level = np.array([index.win_rate(q, strong=S, weak=W, k=6) for q in queries])
    assert (np.abs(two_level - exact) < np.abs(near_only - exact)).all()
    assert np.abs(two_level - exact).max() < 0.05
    assert two_level[0] > two_level[1]


@pytest.mark.django_db
def test_a_tenants_own_battles_count_only_for_that_tenant():
    from feedback.store import preferences_store
    from tests.support.factories import TenantFactory
    from training.core.datasets import ParsedBattle

    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")
    mine, other = TenantFactory(), TenantFactory()
    preferences_store(battles=[ParsedBattle(QUERIES[1], S, W, "model_a", "feedback", "", f"t{i}", 0)
                               for i in range(3)], tenant=mine)
    index = BattleNeighborIndex()
    query = embeddings_for_texts([QUERIES[1]])[0]
    shared = index.win_rate(query, strong=S, weak=W, k=30)
    assert index.win_rate(query, strong=S, weak=W, k=30, tenant_id=other.pk) == pytest.approx(shared)
    assert index.win_rate(query, strong=S, weak=W, k=30, tenant_id=mine.pk) > shared + 0.1


@pytest.mark.django_db
def test_prompts_deleted_under_the_index_do_not_break_it():
    """Battles and prompts removed by hand (or a test database flush) while a process holds the
    index: the next refresh skips what is gone, serving goes on, and `stale()` asks for a rebuild."""
    from feedback.models import Preference, PreferencePrompt
    from feedback.store import preferences_store
    from training.core.datasets import ParsedBattle

    preferences_store(battles=[ParsedBattle(f"old question {i}", S, W, "tie", "old", "", f"o{i}", 0)
                               for i in range(10)])
    index = BattleNeighborIndex(refresh_s=3600)
    index.refresh(force=True)  # 10 prompts: too few for clusters yet
    Preference.objects.all().delete()
    PreferencePrompt.objects.all().delete()
    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")  # 48 new prompts: the clusters get built
    index.refresh(force=True)
    assert 0.0 < serve(index, embeddings_for_texts([QUERIES[0]])[0], 30) < 1.0
    assert index.stale()


@pytest.mark.django_db
def test_a_late_commit_below_the_watermark_makes_the_index_stale():
    """Two concurrent writers: the one with the lower id commits after the index read the higher
    one. The index only reads ids above its watermark, so it must notice and rebuild."""
    from django.db import connection

    from feedback.models import Preference
    from feedback.store import preferences_store
    from training.core.datasets import ParsedBattle

    preferences_import(path=FIXTURES / "scores_train.jsonl.gz")
    with connection.cursor() as cursor:  # the slow writer takes its id now ...
        cursor.execute("SELECT nextval(pg_get_serial_sequence('feedback_preference', 'id'))")
        late_id = cursor.fetchone()[0]
    preferences_store(battles=[ParsedBattle(QUERIES[1], S, W, "model_b", "fast", "", "fast", 0)])
    index = BattleNeighborIndex(refresh_s=3600)
    index.refresh(force=True)
    assert not index.stale()
    fast = Preference.objects.get(source="fast")  # ... and commits after the index read past it
    Preference.objects.create(id=late_id, prompt=fast.prompt, model_a=S, model_b=W, winner="model_a",
                              source="slow", content_hash="slow")
    assert late_id < fast.id and index.stale()
