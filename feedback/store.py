"""Writes to the preference store (this app's battles and their prompts): imports, and the
battle a signal stands for (`battle_replace`), stored once per signal and replaced, never
counted twice. Thumbs, preferences and duels (`feedback.services`, `feedback.duels`) write here."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from django.db import IntegrityError, transaction

from feedback.models import Preference, PreferencePrompt
from routerhub.embeddings.services import embedder_get, embeddings_for_texts
from training.core.datasets import ParsedBattle, parse_file
from training.core.embeddings import text_sha256


@dataclass
class ImportReport:
    path: str
    format: str
    rows: int
    battles: int
    created: int
    duplicates: int
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.errors)


def preference_prompts_ensure(*, texts: list[str], progress: bool = False) -> dict[str, int]:
    """PreferencePrompt ids by text sha256, creating (and embedding) the missing ones."""
    by_sha = {text_sha256(text): text for text in texts}
    existing = dict(PreferencePrompt.objects.filter(text_sha256__in=list(by_sha)).values_list("text_sha256", "id"))
    missing = [sha for sha in by_sha if sha not in existing]
    if missing:
        embedder = embedder_get()
        vectors = embeddings_for_texts([by_sha[sha] for sha in missing], progress=progress, embedder=embedder)
        PreferencePrompt.objects.bulk_create(
            [PreferencePrompt(text_sha256=sha, text=by_sha[sha], embedding=vector, embedding_backend=embedder.name)
             for sha, vector in zip(missing, vectors)], batch_size=1000, ignore_conflicts=True)
        existing.update(PreferencePrompt.objects.filter(text_sha256__in=missing).values_list("text_sha256", "id"))
    return existing


def preferences_store(*, battles: list[ParsedBattle], tenant=None, progress: bool = False,
                      chunk: int = 5000) -> tuple[int, int]:
    """Store parsed battles idempotently (by content hash, per owner). Returns (created, duplicates)."""
    by_hash = {_owned_hash(battle.content_hash, tenant): battle for battle in battles}
    hashes = list(by_hash)
    known: set[str] = set()
    for start in range(0, len(hashes), chunk):
        known.update(Preference.objects.filter(content_hash__in=hashes[start:start + chunk])
                     .values_list("content_hash", flat=True))
    new = [by_hash[h] for h in hashes if h not in known]
    if not new:
        return 0, len(battles)
    prompt_ids = preference_prompts_ensure(texts=[battle.prompt for battle in new], progress=progress)
    rows = [Preference(prompt_id=prompt_ids[text_sha256(b.prompt)], tenant=tenant, model_a=b.model_a,
                       model_b=b.model_b, winner=b.winner, source=b.source[:100], judge=b.judge[:200],
                       content_hash=_owned_hash(b.content_hash, tenant), metadata=b.metadata) for b in new]
    with transaction.atomic():
        Preference.objects.bulk_create(rows, batch_size=chunk, ignore_conflicts=True)
    return len(new), len(battles) - len(new)


def _owned_hash(content_hash: str, tenant) -> str:
    """The same row imported for another owner (shared, or a tenant) is another battle."""
    if tenant is None:
        return content_hash
    return hashlib.sha256(f"tenant:{tenant.pk}:{content_hash}".encode()).hexdigest()


def preferences_import(*, path: str | Path, source: str | None = None, tenant=None,
                       progress: bool = False) -> ImportReport:
    """Import a battles / score-table JSONL or Arena CSV file. Raises UnknownFormat for other files."""
    parsed = parse_file(path, source=source)
    preference_prompts_reembed(progress=progress)
    created, duplicates = preferences_store(battles=parsed.battles, tenant=tenant, progress=progress)
    return ImportReport(path=str(path), format=parsed.format, rows=parsed.rows, battles=len(parsed.battles),
                        created=created, duplicates=duplicates, errors=parsed.errors)


def preference_prompts_reembed(*, progress: bool = False, chunk: int = 2000) -> int:
    """Re-embed stored prompts whose vectors come from another embedder than the configured one
    (after a change of backend, runtime or truncation), so that queries and neighbours share a
    vector space. Returns how many were updated."""
    embedder = embedder_get()
    stale = PreferencePrompt.objects.exclude(embedding_backend=embedder.name)
    ids = list(stale.values_list("id", flat=True))
    for start in range(0, len(ids), chunk):
        prompts = list(PreferencePrompt.objects.filter(id__in=ids[start:start + chunk]).only("id", "text"))
        vectors = embeddings_for_texts([p.text for p in prompts], progress=progress, embedder=embedder)
        for prompt, vector in zip(prompts, vectors):
            prompt.embedding, prompt.embedding_backend = vector, embedder.name
        with transaction.atomic():
            PreferencePrompt.objects.bulk_update(prompts, ["embedding", "embedding_backend"], batch_size=500)
    return len(ids)


USER_JUDGE = "user"


def content_hash(*parts) -> str:
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def battle_replace(*, content_hash: str, tenant, prompt: str, battle, source: str, request=None,
                    metadata: dict | None = None, judge: str = USER_JUDGE) -> Preference | None:
    """Make the stored battle under `content_hash` equal `battle` (None: no battle). A changed
    battle is a new row (a new id), so the serving index, which reads new rows, sees it."""
    existing = Preference.objects.filter(content_hash=content_hash).first()
    if existing is not None and battle is not None and (
            existing.model_a, existing.model_b, existing.winner, existing.judge) == (
            battle.model_a, battle.model_b, battle.winner, judge):
        return existing
    if existing is not None:
        existing.delete()
    if battle is None:
        return None
    prompt_id = preference_prompts_ensure(texts=[prompt])[text_sha256(prompt)]
    try:
        with transaction.atomic():  # a savepoint: the same submission arriving twice at once
            return Preference.objects.create(
                prompt_id=prompt_id, tenant=tenant, model_a=battle.model_a, model_b=battle.model_b,
                winner=battle.winner, source=source, judge=judge[:200], content_hash=content_hash, request=request,
                metadata=metadata or {})
    except IntegrityError:  # the other one stored it first
        return Preference.objects.get(content_hash=content_hash)
