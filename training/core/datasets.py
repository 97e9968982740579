"""Readers for preference files. Plain Python, no Django: a file in, battles and errors out.

Formats (plain or gzipped, detected from the content):
- battles JSONL: {"prompt", "model_a", "model_b", "winner": "model_a"|"model_b"|"tie", "source"?, "judge"?}
- score-table JSONL: {"id"?, "prompt", "scores": {model: float}, "source"?, "category"?}. Each row
  becomes a battle between every pair of models it scores: the higher score wins, equal scores are
  a tie. Pairs are taken in sorted name order (model_a < model_b), so the import is deterministic.
- Chatbot Arena human-preference CSV: columns id, model_a, model_b, prompt, response_a, response_b,
  winner_model_a, winner_model_b, winner_tie; `prompt` is a JSON list of user turns. The battle's
  prompt is the last turn, as the gateway routes on the last user message.
Model names are lower-cased (as in ../shared/data). A row that cannot be read is reported with its
line number and skipped; a file in none of these formats raises UnknownFormat.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from training.core.labels import WINNERS, score_battles

ARENA_COLUMNS = {"id", "model_a", "model_b", "prompt", "winner_model_a", "winner_model_b", "winner_tie"}


class UnknownFormat(ValueError):
    pass


@dataclass(frozen=True)
class ParsedBattle:
    prompt: str
    model_a: str
    model_b: str
    winner: str
    source: str
    judge: str
    row_key: str  # identifies the source row, for idempotent re-imports
    line: int
    metadata: dict = field(default_factory=dict, hash=False, compare=False)

    @property
    def content_hash(self) -> str:
        payload = json.dumps([self.source, self.row_key, self.model_a, self.model_b, self.winner,
                              hashlib.sha256(self.prompt.encode()).hexdigest()])
        return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class ParseResult:
    format: str
    battles: list[ParsedBattle]
    rows: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, message)


def _open_text(path: Path) -> io.TextIOBase:
    with open(path, "rb") as raw:
        magic = raw.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, "rt", encoding="utf-8", newline="")


def detect_format(path: Path) -> str:
    try:
        with _open_text(path) as handle:
            first = ""
            for _ in range(1000):  # the first non-empty line, however long
                line = handle.readline()
                if not line or line.strip():
                    first = line.strip()
                    break
    except (OSError, UnicodeDecodeError, EOFError) as exc:
        raise UnknownFormat(f"{path}: cannot read as UTF-8 text (plain or gzip): {exc}") from exc
    if first.lstrip().startswith("{"):
        try:
            row = json.loads(first)
        except json.JSONDecodeError:
            raise UnknownFormat(f"{path}: the first line is not valid JSON") from None
        if isinstance(row, dict) and "scores" in row and "prompt" in row:
            return "scores"
        if isinstance(row, dict) and {"prompt", "model_a", "model_b", "winner"} <= row.keys():
            return "battles"
        raise UnknownFormat(f"{path}: JSON lines with keys {sorted(row)[:8]} are neither battles "
                            "(prompt, model_a, model_b, winner) nor a score table (prompt, scores)")
    header = next(csv.reader([first]), [])
    if ARENA_COLUMNS <= {column.strip() for column in header}:
        return "arena_csv"
    raise UnknownFormat(f"{path}: not a battles JSONL, score-table JSONL or Chatbot Arena CSV file")


def parse_file(path: str | Path, *, source: str | None = None) -> ParseResult:
    path = Path(path)
    fmt = detect_format(path)
    default_source = source or path.name.split(".")[0]
    reader = {"battles": _battles, "scores": _scores, "arena_csv": _arena}[fmt]
    result = ParseResult(format=fmt, battles=[])
    try:
        with _open_text(path) as handle:
            for line_no, item in reader(handle, source, default_source):
                result.rows += 1
                if isinstance(item, str):
                    result.errors.append((line_no, item))
                else:
                    result.battles.extend(item)
    except (OSError, UnicodeDecodeError, EOFError, csv.Error) as exc:  # a cut gzip, bad bytes, a huge field
        raise UnknownFormat(f"{path}: cannot read past row {result.rows}: {exc}") from exc
    return result


def _source(value) -> str:
    return str(value).strip()[:100] if value not in (None, "") else ""


def _name(value) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("model name must be a non-empty string")
    return value.strip().lower()


def _json_rows(handle) -> Iterator[tuple[int, dict | str]]:
    for line_no, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield line_no, f"invalid JSON: {exc.msg}"
            continue
        yield line_no, row if isinstance(row, dict) else "not a JSON object"


def _battles(handle, source, default_source):
    for line_no, row in _json_rows(handle):
        if isinstance(row, str):
            yield line_no, row
            continue
        try:
            prompt, winner = row["prompt"], row["winner"]
            model_a, model_b = _name(row["model_a"]), _name(row["model_b"])
            if not isinstance(prompt, str) or not prompt.strip():
                raise ValueError("prompt must be a non-empty string")
            if winner not in WINNERS:
                raise ValueError(f"winner must be one of {', '.join(WINNERS)}, not {winner!r}")
            if model_a == model_b:
                raise ValueError("model_a and model_b are the same model")
        except KeyError as exc:
            yield line_no, f"missing field {exc.args[0]!r}"
            continue
        except ValueError as exc:
            yield line_no, str(exc)
            continue
        row_key = str(row.get("id") or hashlib.sha256(json.dumps(row, sort_keys=True).encode()).hexdigest())
        yield line_no, [ParsedBattle(prompt, model_a, model_b, winner, source or _source(row.get("source")) or default_source,
                                     str(row.get("judge") or ""), row_key, line_no,
                                     {k: row[k] for k in ("dataset", "category") if row.get(k) is not None})]


def _scores(handle, source, default_source):
    for line_no, row in _json_rows(handle):
        if isinstance(row, str):
            yield line_no, row
            continue
        prompt, scores = row.get("prompt"), row.get("scores")
        if not isinstance(prompt, str) or not prompt.strip():
            yield line_no, "prompt must be a non-empty string"
            continue
        if not isinstance(scores, dict):
            yield line_no, "scores must be an object of model: number"
            continue
        try:
            clean = {_name(model): float(value) for model, value in scores.items() if value is not None}
        except (TypeError, ValueError):
            yield line_no, "scores must be numbers"
            continue
        if len(clean) < 2:
            yield line_no, "a score row needs at least two scored models"
            continue
        row_key = str(row.get("id") or hashlib.sha256(line_key(row).encode()).hexdigest())
        metadata = {"category": row["category"]} if row.get("category") is not None else {}
        yield line_no, [ParsedBattle(prompt, a, b, winner, source or _source(row.get("source")) or default_source, "",
                                     row_key, line_no, metadata) for a, b, winner in score_battles(clean)]


def line_key(row: dict) -> str:
    return json.dumps({k: row.get(k) for k in ("prompt", "scores")}, sort_keys=True)


def _arena(handle, source, default_source):
    reader = csv.DictReader(handle)
    for row in reader:
        line_no = reader.line_num
        try:
            turns = json.loads(row["prompt"])
            if isinstance(turns, str):
                turns = [turns]
            if not isinstance(turns, list) or not turns or not all(isinstance(t, str) for t in turns):
                raise ValueError("prompt must be a JSON list of turns")
            prompt = next((t for t in reversed(turns) if t and t.strip()), "")
            if not prompt:
                raise ValueError("prompt has no non-empty turn")
            flags = [int(row[column] or 0) for column in ("winner_model_a", "winner_model_b", "winner_tie")]
            if sorted(flags) != [0, 0, 1]:
                raise ValueError("exactly one of winner_model_a, winner_model_b, winner_tie must be 1")
            model_a, model_b = _name(row["model_a"]), _name(row["model_b"])
            if model_a == model_b:
                raise ValueError("model_a and model_b are the same model")
        except json.JSONDecodeError:
            yield line_no, "prompt is not valid JSON"
            continue
        except (KeyError, TypeError) as exc:
            yield line_no, f"missing or empty column: {exc}"
            continue
        except ValueError as exc:
            yield line_no, str(exc)
            continue
        winner = WINNERS[flags.index(1)]
        yield line_no, [ParsedBattle(prompt, model_a, model_b, winner, source or default_source, "human",
                                     str(row["id"]), line_no, {"turns": len(turns)})]


def read_score_rows(path: str | Path) -> list[dict]:
    """Every row of a score-table JSONL (plain or gzipped, detected from the content) as
    {"prompt", "scores": {model: score}, "costs": {model: USD}, ...raw fields}, model names
    lower-cased: what evaluation sets are made of. Raises UnknownFormat on the first bad row."""
    path = Path(path)
    rows = []
    with _open_text(path) as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                raise UnknownFormat(f"{path}:{line_no}: not JSON: an eval file is a score-table JSONL") from None
            if not isinstance(row, dict) or "scores" not in row or "prompt" not in row:
                raise UnknownFormat(f"{path}:{line_no}: an eval file is a score-table JSONL (prompt, scores)")
            if not isinstance(row["scores"], dict) or not isinstance(row["prompt"], str):
                raise UnknownFormat(f"{path}:{line_no}: `prompt` must be text and `scores` an object")
            try:
                scores = {_name(k): float(v) for k, v in row["scores"].items() if v is not None}
            except (TypeError, ValueError):
                raise UnknownFormat(f"{path}:{line_no}: scores must be numbers") from None
            try:
                costs = {_name(k): float(v) for k, v in (row.get("costs") or {}).items() if v is not None}
            except (TypeError, ValueError, AttributeError):
                raise UnknownFormat(f"{path}:{line_no}: costs must be an object of model: USD") from None
            rows.append({**row, "scores": scores, "costs": costs})
    return rows
