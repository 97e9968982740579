"""Reading preference files (`training.core.datasets`): formats, score tables, malformed rows."""
from tests.support.paths import FIXTURES
from training.core.datasets import parse_file, score_battles


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


def test_a_first_line_longer_than_64_kib_is_still_read(tmp_path):
    import json

    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps({"prompt": "x " * 40000, "model_a": "a", "model_b": "b", "winner": "tie"}) + "\n")
    assert parse_file(path).format == "battles"
