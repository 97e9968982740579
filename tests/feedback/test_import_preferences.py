from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from feedback.models import Preference, PreferencePrompt
from feedback.store import preferences_import
from routerhub.embeddings.models import EmbeddingCacheEntry
from training.core.datasets import parse_file, score_battles

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def test_score_rows_become_every_pair_with_higher_score_winning_and_ties():
    assert score_battles({"b": 0.5, "a": 1.0, "c": 0.5}) == [
        ("a", "b", "model_a"), ("a", "c", "model_a"), ("b", "c", "tie")]


def test_battles_file_reports_malformed_rows_with_line_numbers():
    parsed = parse_file(FIXTURES / "battles.jsonl")
    assert parsed.format == "battles"
    assert len(parsed.battles) == 3
    assert [line for line, _ in parsed.errors] == [3, 4, 7]
    assert "winner must be one of" in parsed.errors[1][1]
    assert "missing field 'model_a'" in parsed.errors[2][1]
    assert parsed.battles[0].model_a == "gpt-4-1106-preview"  # names are lower-cased


def test_arena_csv_takes_the_last_turn_and_skips_bad_rows():
    parsed = parse_file(FIXTURES / "arena.csv")
    assert parsed.format == "arena_csv"
    assert [b.winner for b in parsed.battles] == ["model_a", "model_b", "tie"]
    assert parsed.battles[0].prompt.startswith("OK, does pineapple belong on a pizza?")
    assert parsed.battles[0].judge == "human"
    assert [message for _, message in parsed.errors] == [
        "prompt is not valid JSON", "exactly one of winner_model_a, winner_model_b, winner_tie must be 1"]


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
def test_import_command_reports_counts_and_skipped_lines(capsys):
    call_command("import_preferences", str(FIXTURES / "battles.jsonl"), "--source", "mine")
    captured = capsys.readouterr()
    assert "6 rows read, 3 taken, 3 skipped; 3 battles: 3 new, 0 already stored" in captured.out
    assert "battles.jsonl:3: skipped: invalid JSON" in captured.err
    assert set(Preference.objects.values_list("source", flat=True)) == {"mine"}


@pytest.mark.django_db
def test_a_file_in_no_known_format_exits_2_and_stores_nothing():
    preferences_import(path=FIXTURES / "arena.csv")
    with pytest.raises(CommandError) as caught:
        call_command("import_preferences", str(FIXTURES / "not_a_format.txt"))
    assert caught.value.returncode == 2
    assert "not a battles JSONL, score-table JSONL or Chatbot Arena CSV" in str(caught.value)
    assert Preference.objects.count() == 3  # what was stored before is still there


@pytest.mark.django_db
def test_a_missing_file_exits_2():
    with pytest.raises(CommandError) as caught:
        call_command("import_preferences", "/nonexistent/file.jsonl")
    assert caught.value.returncode == 2


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


@pytest.mark.django_db
def test_a_first_line_longer_than_64_kib_is_still_read(tmp_path):
    import json

    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"prompt": "x " * 40000, "model_a": "a", "model_b": "b", "winner": "tie"}) + "\n")
    assert parse_file(path).format == "battles"
