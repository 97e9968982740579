"""Reads for training: the preference store as arrays, router versions."""
from __future__ import annotations

from collections import Counter

import numpy as np
from django.db import connection

from feedback.models import PreferencePrompt
from training.models import RouterVersion
from training.routers import Battles

OUTCOME = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5}


HOLDOUT_PREFIX = "holdout:"


def battles_load(*, tenant_id: int | None = None, own_weight: float | None = None,
                 shared_judged_weight: float | None = None, judged_weight: float | None = None,
                 source_weights: dict | None = None, exclude_prompt_sha256=(), holdout_source: str | None = None,
                 max_created=None) -> Battles:
    """Stored battles as arrays: the shared ones (no tenant) plus `tenant_id`'s own.

    Weights (multiplied; 0 leaves a battle out):
    - `own_weight` for the tenant's own battles (and for `holdout_source`, which evaluation treats as
      the tenant's own): in-domain labels are what lift a router (settings: ROUTERHUB_OWN_DATA_WEIGHT);
    - `shared_judged_weight` for shared battles labelled by an LLM judge (e.g. AlpacaEval's GPT-4
      judge), `judged_weight` for the tenant's own LLM-judge labels (settings:
      ROUTERHUB_SHARED_JUDGED_WEIGHT; people's labels and score tables are never down-weighted);
    - `source_weights[source]` (default 1).
    Prompts in `exclude_prompt_sha256` are left out (evaluation decontamination). Battles that
    `evaluate_router --holdout` stored (source `holdout:…`) are left out unless `holdout_source` names them.
    """
    from django.conf import settings

    own_weight = settings.ROUTERHUB_OWN_DATA_WEIGHT if own_weight is None else own_weight
    if shared_judged_weight is None:
        shared_judged_weight = settings.ROUTERHUB_SHARED_JUDGED_WEIGHT
    judged_weight = settings.ROUTERHUB_OWN_JUDGED_WEIGHT if judged_weight is None else judged_weight
    where, params = ["(p.tenant_id IS NULL" + (" OR p.tenant_id = %s)" if tenant_id else ")")], []
    if tenant_id:
        params.append(tenant_id)
    if max_created is not None:
        where.append("p.created <= %s")
        params.append(max_created)
    sql = ("SELECT p.prompt_id, pp.text_sha256, p.model_a, p.model_b, p.winner, p.weight, p.source, p.judge, "
           "p.tenant_id FROM feedback_preference p JOIN feedback_preferenceprompt pp ON pp.id = p.prompt_id "
           f"WHERE {' AND '.join(where)} ORDER BY p.id")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    excluded = set(exclude_prompt_sha256)
    source_weights = source_weights or {}
    kept = []
    for prompt_id, sha, model_a, model_b, winner, weight, source, judge, owner in rows:
        if sha in excluded or (source.startswith(HOLDOUT_PREFIX) and source != holdout_source):
            continue
        own = owner is not None or (holdout_source is not None and source == holdout_source)
        weight = source_weights.get(source, 1.0) * battle_weight(weight, own=own, judged=_is_llm_judge(judge),
                                                                 own_weight=own_weight, judged_weight=judged_weight,
                                                                 shared_judged_weight=shared_judged_weight)
        if weight > 0:
            kept.append((prompt_id, model_a, model_b, OUTCOME[winner], weight, source))
    prompt_ids = sorted({row[0] for row in kept})
    position = {pid: i for i, pid in enumerate(prompt_ids)}
    vectors = dict(PreferencePrompt.objects.filter(id__in=prompt_ids).values_list("id", "embedding"))
    embeddings = (np.stack([np.asarray(vectors[pid], dtype=np.float32) for pid in prompt_ids])
                  if prompt_ids else np.zeros((0, 0), dtype=np.float32))
    battles = Battles.from_records(embeddings, [position[r[0]] for r in kept], [r[1] for r in kept],
                                   [r[2] for r in kept], [r[3] for r in kept], weight=[r[4] for r in kept])
    battles.meta["counts"] = {"by_source": dict(Counter(r[5] for r in kept))}
    battles.meta["params"] = {"own_weight": own_weight, "shared_judged_weight": shared_judged_weight,
                              "judged_weight": judged_weight, "source_weights": source_weights}
    return battles


def battle_weight(weight, *, own, judged, own_weight: float, judged_weight: float, shared_judged_weight: float):
    """A battle's training weight (scalars or numpy arrays): the stored weight, times `own_weight`
    for the tenant's own battles, times the judged weight that applies to LLM-judge labels."""
    own = np.asarray(own, dtype=bool)
    judged = np.asarray(judged, dtype=bool)
    factor = np.where(own, own_weight, 1.0) * np.where(judged, np.where(own, judged_weight, shared_judged_weight), 1.0)
    return weight * (factor if factor.ndim else float(factor))


def _is_llm_judge(judge: str) -> bool:
    """Judge labels other than people: AlpacaEval's GPT-4 judge, RouterHub's judge task, ..."""
    return judge.lower() not in {"", "human", "user"}


def router_version_active(*, kind: str, tenant=None) -> RouterVersion | None:
    """The active version of `kind` in one scope: the global one (tenant None) or the tenant's own."""
    return RouterVersion.objects.filter(kind=kind, status=RouterVersion.Status.ACTIVE, tenant=tenant).first()


def router_version_serving(*, kind: str, tenant) -> RouterVersion | None:
    """The version that answers `tenant`'s requests of `kind`: its own active one, else the global one."""
    return router_version_active(kind=kind, tenant=tenant) or router_version_active(kind=kind)
