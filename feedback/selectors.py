"""Reads of the preference store (this app's tables): battles as arrays for training and
evaluation, the held-out slices, and what is new since a training run."""
from __future__ import annotations

from collections import Counter

import numpy as np
from django.conf import settings
from django.db.models import Count, Max, Q, Sum

from feedback.models import Duel, Feedback, Preference, PreferencePrompt
from training.core.labels import OUTCOME, battle_weight, is_llm_judge
from training.core.routers import Battles

# battles `evaluate_router --holdout` stores: evaluation data, trained on only when named
HOLDOUT_PREFIX = "holdout:"


def battles_load(*, tenant_id: int | None = None, own_weight: float | None = None,
                 shared_judged_weight: float | None = None, judged_weight: float | None = None,
                 source_weights: dict | None = None, exclude_prompt_sha256=(), holdout_source: str | None = None,
                 max_created=None, with_texts: bool = False) -> Battles:
    """Stored battles as arrays: the shared ones (no tenant) plus `tenant_id`'s own.

    Weights (multiplied; 0 leaves a battle out; `training.core.labels.battle_weight`):
    - `own_weight` for the tenant's own battles (and for `holdout_source`, which evaluation treats as
      the tenant's own): in-domain labels are what lift a router (settings: ROUTERHUB_OWN_DATA_WEIGHT);
    - `shared_judged_weight` for shared battles labelled by an LLM judge (e.g. AlpacaEval's GPT-4
      judge), `judged_weight` for the tenant's own LLM-judge labels (settings:
      ROUTERHUB_SHARED_JUDGED_WEIGHT; people's labels and score tables are never down-weighted);
    - `source_weights[source]` (default 1).
    Prompts in `exclude_prompt_sha256` are left out (evaluation decontamination). Battles that
    `evaluate_router --holdout` stored (source `holdout:…`) are left out unless `holdout_source` names them.
    `with_texts`: the prompts' texts too (`Battles.prompt_texts`), for routers that train on them.
    """
    own_weight = settings.ROUTERHUB_OWN_DATA_WEIGHT if own_weight is None else own_weight
    if shared_judged_weight is None:
        shared_judged_weight = settings.ROUTERHUB_SHARED_JUDGED_WEIGHT
    judged_weight = settings.ROUTERHUB_OWN_JUDGED_WEIGHT if judged_weight is None else judged_weight
    rows = Preference.objects.filter(_owners(tenant_id))
    if max_created is not None:
        rows = rows.filter(created__lte=max_created)
    rows = rows.order_by("id").values_list("prompt_id", "prompt__text_sha256", "model_a", "model_b", "winner",
                                           "weight", "source", "judge", "tenant_id")
    excluded = set(exclude_prompt_sha256)
    source_weights = source_weights or {}
    kept = []
    for prompt_id, sha, model_a, model_b, winner, weight, source, judge, owner in rows.iterator(chunk_size=20000):
        if sha in excluded or (source.startswith(HOLDOUT_PREFIX) and source != holdout_source):
            continue
        own = owner is not None or (holdout_source is not None and source == holdout_source)
        weight = source_weights.get(source, 1.0) * battle_weight(weight, own=own, judged=is_llm_judge(judge),
                                                                 own_weight=own_weight, judged_weight=judged_weight,
                                                                 shared_judged_weight=shared_judged_weight)
        if weight > 0:
            kept.append((prompt_id, model_a, model_b, OUTCOME[winner], weight, source))
    prompt_ids = sorted({row[0] for row in kept})
    position = {pid: i for i, pid in enumerate(prompt_ids)}
    fields = ("id", "embedding", "text") if with_texts else ("id", "embedding")
    stored = {row[0]: row[1:] for row in PreferencePrompt.objects.filter(id__in=prompt_ids).values_list(*fields)}
    embeddings = (np.stack([np.asarray(stored[pid][0], dtype=np.float32) for pid in prompt_ids])
                  if prompt_ids else np.zeros((0, 0), dtype=np.float32))
    battles = Battles.from_records(embeddings, [position[r[0]] for r in kept], [r[1] for r in kept],
                                   [r[2] for r in kept], [r[3] for r in kept], weight=[r[4] for r in kept])
    if with_texts:
        battles.prompt_texts = [stored[pid][1] for pid in prompt_ids]
    battles.meta["counts"] = {"by_source": dict(Counter(r[5] for r in kept))}
    battles.meta["params"] = {"own_weight": own_weight, "shared_judged_weight": shared_judged_weight,
                              "judged_weight": judged_weight, "source_weights": source_weights}
    return battles


def _owners(tenant_id: int | None) -> Q:
    return Q(tenant__isnull=True) | (Q(tenant_id=tenant_id) if tenant_id else Q(pk__in=[]))


def newest_slice_prompts(*, tenant_id: int | None, share: float) -> set[str]:
    """The hashes of the newest `share` of one owner's prompts (the shared ones, or a tenant's own),
    ordered by their latest battle: the time-ordered held-out slice. Evaluation-only battles
    (`holdout:…`) do not count."""
    owner = Q(tenant_id=tenant_id) if tenant_id is not None else Q(tenant__isnull=True)
    ordered = list(Preference.objects.filter(owner).exclude(source__startswith=HOLDOUT_PREFIX)
                   .values("prompt__text_sha256").annotate(newest=Max("id")).order_by("-newest")
                   .values_list("prompt__text_sha256", flat=True))
    return set(ordered[:int(len(ordered) * share)])


def pair_labels(*, tenant_id: int | None, prompt_sha256: set[str], strong: str, weak: str) -> tuple[list[str], list[float]]:
    """One owner's battles of the pair on these prompts: (prompt texts, the strong model's score
    in each: 1 won, 0 lost, 0.5 tie), in storage order."""
    owner = Q(tenant_id=tenant_id) if tenant_id is not None else Q(tenant__isnull=True)
    pair = Q(model_a=strong, model_b=weak) | Q(model_a=weak, model_b=strong)
    rows = (Preference.objects.filter(owner, pair, prompt__text_sha256__in=list(prompt_sha256)).order_by("id")
            .values_list("prompt__text", "model_a", "winner"))
    prompts, strong_scores = [], []
    for text, model_a, winner in rows:
        prompts.append(text)
        strong_scores.append(OUTCOME[winner] if model_a == strong else 1.0 - OUTCOME[winner])
    return prompts, strong_scores


def newest_preference_id(*, tenant_id: int | None = None) -> int | None:
    """The newest battle a run of this scope trains on (the shared ones, plus the tenant's own):
    what scheduled retraining compares with the last good run's."""
    return Preference.objects.filter(_owners(tenant_id)).aggregate(newest=Max("id"))["newest"]


def tenant_ids_with_feedback() -> list[int]:
    """Tenants that own battles of their own (feedback, duels, preferences, imports)."""
    return sorted(set(Preference.objects.filter(tenant__isnull=False).values_list("tenant_id", flat=True)))


def duels_fetching(*, tenant) -> bool:
    """Whether any of the tenant's duels is still waiting for its second answer."""
    return Duel.objects.filter(tenant=tenant, status__in=[Duel.Status.PENDING, Duel.Status.FETCHING]).exists()


def duels_awaiting_label(*, tenant=None):
    rows = Duel.objects.filter(status=Duel.Status.AWAITING_LABEL).select_related("request", "tenant")
    if tenant is not None:
        rows = rows.filter(tenant=tenant)
    return rows


def duels_today(*, tenant) -> dict:
    """The tenant's duels created today (UTC): how many, and what their fetched second answers
    cost so far (`cost`, USD): what its daily duel budget is held against."""
    from decimal import Decimal

    from django.utils import timezone

    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    row = Duel.objects.filter(tenant=tenant, created__gte=midnight).aggregate(count=Count("id"), cost=Sum("cost"))
    return {"count": row["count"], "cost": row["cost"] or Decimal(0)}


def duel_spend(*, tenant=None, since, until):
    """What fetching duels' second answers cost in the period."""
    from decimal import Decimal

    duels = Duel.objects.filter(created__gte=since, created__lt=until)
    if tenant is not None:
        duels = duels.filter(tenant=tenant)
    return duels.aggregate(s=Sum("cost"))["s"] or Decimal(0)


def thumbs_by_served_model(*, requests) -> list[dict]:
    """Per served model, the thumbs on `requests` (a query of the gateway's log): up, total, rate."""
    rows = (Feedback.objects.filter(request__in=requests).values("request__served_model")
            .annotate(total=Count("id"), up=Count("id", filter=Q(rating="up"))).order_by("request__served_model"))
    return [{"model": row["request__served_model"], "up": row["up"], "total": row["total"],
             "rate": row["up"] / row["total"]} for row in rows]
