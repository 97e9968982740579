"""Reads for training: the preference store as arrays, router versions."""
from __future__ import annotations

from collections import Counter

import numpy as np
from django.db import connection
from django.db.models import Q

from feedback.models import PreferencePrompt
from training.models import RouterVersion
from training.routers import Battles

OUTCOME = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5}


HOLDOUT_PREFIX = "holdout:"


def battles_load(*, tenant_id: int | None = None, exclude_prompt_sha256=(), source_weights: dict | None = None,
                 judged_weight: float = 1.0, focus_pair: tuple[str, str] | None = None, focus_weight: float = 1.0,
                 max_created=None, holdout_source: str | None = None) -> Battles:
    """Stored battles as arrays: the shared ones (no tenant) plus `tenant_id`'s own.

    Weights: `source_weights[source]` (default 1; 0 drops a source), `judged_weight` for battles
    labelled by an LLM judge (0 drops them), `focus_weight` for battles between the two models of
    `focus_pair`. Prompts in `exclude_prompt_sha256` are left out (evaluation decontamination).
    Battles that `evaluate_router --holdout` stored (source `holdout:…`) are evaluation data: they
    are left out unless `holdout_source` names them.
    """
    where, params = ["(p.tenant_id IS NULL" + (" OR p.tenant_id = %s)" if tenant_id else ")")], []
    if tenant_id:
        params.append(tenant_id)
    if max_created is not None:
        where.append("p.created <= %s")
        params.append(max_created)
    sql = ("SELECT p.prompt_id, pp.text_sha256, p.model_a, p.model_b, p.winner, p.weight, p.source, p.judge "
           "FROM feedback_preference p JOIN feedback_preferenceprompt pp ON pp.id = p.prompt_id "
           f"WHERE {' AND '.join(where)} ORDER BY p.id")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    excluded = set(exclude_prompt_sha256)
    source_weights = source_weights or {}
    kept = []
    for prompt_id, sha, model_a, model_b, winner, weight, source, judge in rows:
        if sha in excluded or (source.startswith(HOLDOUT_PREFIX) and source != holdout_source):
            continue
        weight *= source_weights.get(source, 1.0)
        if _is_llm_judge(judge):
            weight *= judged_weight
        if focus_pair and {model_a, model_b} == set(focus_pair):
            weight *= focus_weight
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
    return battles


def _is_llm_judge(judge: str) -> bool:
    """Judge labels other than people: AlpacaEval's GPT-4 judge, RouterHub's judge task, ..."""
    return judge.lower() not in {"", "human", "user"}


def router_version_active(*, kind: str) -> RouterVersion | None:
    return RouterVersion.objects.filter(kind=kind, status=RouterVersion.Status.ACTIVE).first()


def router_versions(*, kind: str | None = None):
    return RouterVersion.objects.filter(Q(kind=kind) if kind else Q())
