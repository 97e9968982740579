"""The preference store (`feedback.store`): imports embed each prompt once, are idempotent and tenant-scoped."""
import pytest

from feedback.models import Preference, PreferencePrompt
from feedback.store import preferences_import
from routerhub.embeddings.models import EmbeddingCacheEntry
from tests.support.paths import FIXTURES


@pytest.mark.django_db
def test_import_gzipped_score_table_embeds_each_prompt_once():
    report = preferences_import(path=FIXTURES / "scores_train.jsonl.gz")
    assert (report.format, report.rows, report.skipped) == ("scores", 48, 0)
    assert report.created == Preference.objects.count() == 48 * 3  # 3 models -> 3 pairs per row
    assert PreferencePrompt.objects.count() == 48
    assert EmbeddingCacheEntry.objects.count() == 48
    prompt = PreferencePrompt.objects.first()
    assert len(prompt.embedding) == 384
    assert abs(sum(x * x for x in prompt.embedding) - 1) < 1e-4


@pytest.mark.django_db
def test_reimporting_the_same_file_adds_nothing():
    first = preferences_import(path=FIXTURES / "arena.csv")
    again = preferences_import(path=FIXTURES / "arena.csv")
    assert (first.created, again.created, again.duplicates) == (3, 0, 3)
    assert Preference.objects.count() == 3


@pytest.mark.django_db
def test_prompts_embedded_by_another_embedder_are_reembedded():
    from feedback.store import preference_prompts_reembed

    preferences_import(path=FIXTURES / "arena.csv")
    PreferencePrompt.objects.update(embedding_backend="some-old-embedder", embedding=[0.0] * 383 + [1.0])
    assert preference_prompts_reembed() == 3
    assert preference_prompts_reembed() == 0
    prompt = PreferencePrompt.objects.first()
    assert prompt.embedding_backend != "some-old-embedder" and prompt.embedding[-1] != 1.0


@pytest.mark.django_db
def test_the_same_file_imported_for_a_tenant_is_that_tenants_own_data(tenant):
    preferences_import(path=FIXTURES / "arena.csv")
    report = preferences_import(path=FIXTURES / "arena.csv", tenant=tenant)
    assert (report.created, report.duplicates) == (3, 0)
    assert Preference.objects.filter(tenant=tenant).count() == 3
    assert preferences_import(path=FIXTURES / "arena.csv", tenant=tenant).created == 0
