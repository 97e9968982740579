"""`manage.py import_preferences`: counts, skipped lines, exit status 2."""
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from feedback.models import Preference
from feedback.store import preferences_import
from tests.support.paths import FIXTURES


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
