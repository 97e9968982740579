"""Writes for the feedback app: the preference store and its imports."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from django.db import IntegrityError, transaction

from feedback.importers import ParsedBattle, parse_file
from feedback.models import Preference, PreferencePrompt
from training.embeddings import text_sha256
from training.services import embedder_get, embeddings_for_texts


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


# --- feedback from the gateway's users
THUMBS_SOURCE = "thumbs"
PREFERENCE_API_SOURCE = "preference-api"
USER_JUDGE = "user"


class FeedbackError(Exception):
    """A request the feedback API cannot take: `status` 404 (unknown to this tenant) or 400."""

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid_request", param: str | None = None):
        super().__init__(message)
        self.status, self.code, self.param = status, code, param


def _hash(*parts) -> str:
    import json

    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def _replace_battle(*, content_hash: str, tenant, prompt: str, battle, source: str, request=None,
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


def _tenant_request(*, tenant, request_id):
    from routerhub.gateway.selectors import request_for_tenant

    request = request_for_tenant(tenant=tenant, request_id=request_id)
    if request is None:  # another tenant's request is as unknown as a made-up id
        raise FeedbackError(f"No request {request_id} for this API key's tenant.", status=404,
                            code="request_not_found", param="request_id")
    return request


@transaction.atomic
def feedback_rate(*, tenant, request_id, rating: str, comment: str = ""):
    """Store (or replace) the tenant's thumbs on one of its requests, and the battle it stands for
    (`feedback.labels.battle_from_thumbs`). Returns the Feedback."""
    from feedback.labels import battle_from_thumbs
    from feedback.models import Feedback

    request = _tenant_request(tenant=tenant, request_id=request_id)
    if not request.served_model or not request.answer:
        raise FeedbackError(f"Request {request_id} has no answer to rate (status {request.status}).",
                            code="nothing_to_rate", param="request_id")
    feedback, _ = Feedback.objects.update_or_create(request=request, defaults={
        "tenant": tenant, "rating": rating, "comment": comment})
    battle = battle_from_thumbs(rating=rating, served_model=request.served_model,
                                strong_model=tenant.strong_model.name, weak_model=tenant.weak_model.name)
    _replace_battle(content_hash=_hash("thumbs", str(request.pk)), tenant=tenant, prompt=request.routed_prompt,
                    battle=battle, source=THUMBS_SOURCE, request=request,
                    metadata={"rating": rating, "served_model": request.served_model})
    return feedback


@transaction.atomic
def preference_submit(*, tenant, model_a: str, model_b: str, winner: str, request_id=None, prompt: str | None = None,
                      response_a: str | None = None, response_b: str | None = None) -> Preference:
    """A pairwise preference from the tenant's own UI: about one of its requests (the prompt is the
    request's routed prompt) or about a prompt given here. Submitting the same comparison again
    replaces its winner; it never counts twice."""
    from feedback.labels import battle_from_preference

    request = _tenant_request(tenant=tenant, request_id=request_id) if request_id else None
    prompt = prompt if prompt else (request.routed_prompt if request else "")
    if not prompt.strip():
        raise FeedbackError("Give a 'prompt' or the 'request_id' of a request with a prompt.", param="prompt")
    try:
        battle = battle_from_preference(model_a=model_a, model_b=model_b, winner=winner)
    except ValueError as exc:
        raise FeedbackError(str(exc), param="winner" if "winner" in str(exc) else "model_b") from None
    duel = _duel_for(request, model_a, model_b)
    if duel is not None:  # the label a duel was waiting for: one battle per duel, whoever labels it
        from feedback.duels import duel_label

        flipped = model_a != duel.model_a
        winner = {"model_a": "model_b", "model_b": "model_a"}.get(winner, winner) if flipped else winner
        return duel_label(duel_id=duel.pk, winner=winner, labelled_by="api", judge=USER_JUDGE).preference
    content_hash = _hash("preference", tenant.pk, str(request.pk) if request else "", text_sha256(prompt), model_a,
                         model_b, text_sha256(response_a or ""), text_sha256(response_b or ""))
    metadata = {key: value for key, value in (("response_a", response_a), ("response_b", response_b)) if value}
    return _replace_battle(content_hash=content_hash, tenant=tenant, prompt=prompt, battle=battle,
                           source=PREFERENCE_API_SOURCE, request=request, metadata=metadata)


def _duel_for(request, model_a: str, model_b: str):
    """The request's duel, if it compares these two models and has both answers. One that is still
    fetching its second answer is a 409: a label now would become a second battle for one duel."""
    from feedback.models import Duel

    if request is None:
        return None
    duel = Duel.objects.filter(request=request).exclude(status=Duel.Status.FAILED).first()
    if duel is None or {model_a, model_b} != {duel.model_a, duel.model_b}:
        return None
    if duel.status in (Duel.Status.PENDING, Duel.Status.FETCHING):
        raise FeedbackError(f"The duel of request {request.pk} is still fetching its second answer: label it once "
                            "GET /v1/requests/<id> shows both answers.", status=409, code="duel_not_ready",
                            param="request_id")
    return duel
