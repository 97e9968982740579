"""SW's neighbours at query time: the top-k nearest stored battles for a query embedding.

Prompts come from pgvector's HNSW index on `feedback_preferenceprompt` (one row per prompt, so
the index holds no duplicate vectors); each prompt's battles come from an in-process index of
the preference table that is refreshed incrementally (new rows by id) every `refresh_s` seconds,
and at once when the HNSW search returns a prompt the index has not seen yet. So a new
preference changes SW's answer within seconds, without a retrain, and scoring cost does not grow
with the number of stored battles.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
from django.db import connection

from training.selectors import battle_weight

OUTCOME_SQL = "CASE p.winner WHEN 'model_a' THEN 1.0 WHEN 'model_b' THEN 0.0 ELSE 0.5 END"
JUDGED_SQL = "CASE WHEN lower(p.judge) IN ('', 'human', 'user') THEN 0 ELSE 1 END"  # as selectors._is_llm_judge


@dataclass
class Neighbors:
    similarities: np.ndarray
    model_a: np.ndarray
    model_b: np.ndarray
    outcome: np.ndarray
    weight: np.ndarray
    models: list[str]

    def __len__(self) -> int:
        return len(self.outcome)


class BattleNeighborIndex:
    def __init__(self, *, prompt_table: str = "feedback_preferenceprompt", battle_table: str = "feedback_preference",
                 refresh_s: float = 2.0):
        self.prompt_table = prompt_table
        self.battle_table = battle_table
        self.refresh_s = refresh_s
        self._lock = threading.Lock()
        self._models: list[str] = []
        self._model_index: dict[str, int] = {}
        self._by_prompt: dict[int, np.ndarray] = {}  # prompt id -> rows (model_a, model_b, outcome, weight, tenant)
        self._last_id = 0
        self._battles = 0
        self._refreshed_at = 0.0

    # --- the in-process battle index
    def refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._refreshed_at < self.refresh_s:
            return
        with self._lock:
            if not force and time.monotonic() - self._refreshed_at < self.refresh_s:
                return
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT p.id, p.prompt_id, p.model_a, p.model_b, {OUTCOME_SQL}, p.weight, "
                               f"COALESCE(p.tenant_id, 0), {JUDGED_SQL} FROM {self.battle_table} p "
                               f"WHERE p.id > %s ORDER BY p.id", [self._last_id])
                rows = cursor.fetchall()
            if rows:
                self._add(rows)
            self._refreshed_at = time.monotonic()

    def _add(self, rows) -> None:
        for name in {r[2] for r in rows} | {r[3] for r in rows}:
            if name not in self._model_index:
                self._model_index[name] = len(self._models)
                self._models.append(name)
        data = np.array([(r[1], self._model_index[r[2]], self._model_index[r[3]], r[4], r[5], r[6], r[7])
                         for r in rows], dtype=np.float64)
        order = np.argsort(data[:, 0], kind="stable")
        data = data[order]
        prompt_ids, starts = np.unique(data[:, 0], return_index=True)
        for prompt_id, chunk in zip(prompt_ids.astype(int), np.split(data[:, 1:], starts[1:])):
            previous = self._by_prompt.get(prompt_id)
            self._by_prompt[prompt_id] = chunk if previous is None else np.vstack([previous, chunk])
        self._last_id = max(self._last_id, int(rows[-1][0]))
        self._battles += len(rows)

    @property
    def battles_per_prompt(self) -> float:
        return self._battles / max(len(self._by_prompt), 1)

    # --- queries
    def _nearest_prompts(self, query: np.ndarray, n: int) -> list[tuple[int, float]]:
        vector = "[" + ",".join(f"{x:.7g}" for x in query) + "]"
        with connection.cursor() as cursor:
            # iterative scans (pgvector 0.8) keep searching when index entries point at dead rows
            cursor.execute("SELECT set_config('hnsw.ef_search', %s, false), "
                           "set_config('hnsw.iterative_scan', 'relaxed_order', false)", [str(min(max(n, 40), 1000))])
            cursor.execute(f"SELECT id, 1 - (embedding <=> %s::vector) FROM {self.prompt_table} "
                           f"ORDER BY embedding <=> %s::vector LIMIT %s", [vector, vector, n])
            return sorted(cursor.fetchall(), key=lambda row: -row[1])  # relaxed order: re-sort exactly

    def neighbors(self, query_embedding, *, k: int, tenant_id: int | None = None, own_weight: float | None = None,
                  judged_weight: float = 1.0, shared_judged_weight: float | None = None) -> Neighbors:
        """The k battles (shared, or `tenant_id`'s own) whose prompts are nearest to the query, with
        the training weights of `training.selectors.battles_load` (own data, judged labels)."""
        from django.conf import settings

        own_weight = settings.ROUTERHUB_OWN_DATA_WEIGHT if own_weight is None else own_weight
        if shared_judged_weight is None:
            shared_judged_weight = settings.ROUTERHUB_SHARED_JUDGED_WEIGHT
        self.refresh()
        query = np.asarray(query_embedding, dtype=np.float32).ravel()
        n_prompts = min(k, int(k / max(self.battles_per_prompt, 1.0) * 2) + 16)
        while True:
            prompts = self._nearest_prompts(query, n_prompts)
            if any(pid not in self._by_prompt for pid, _ in prompts):
                self.refresh(force=True)  # a prompt newer than the index: catch up now
            chunks, sims, total = [], [], 0
            for prompt_id, similarity in prompts:
                rows = self._by_prompt.get(prompt_id)
                if rows is None:
                    continue
                if tenant_id is None:
                    rows = rows[rows[:, 4] == 0]
                else:
                    rows = rows[(rows[:, 4] == 0) | (rows[:, 4] == tenant_id)]
                if len(rows):
                    chunks.append(rows)
                    sims.append(np.full(len(rows), similarity))
                    total += len(rows)
                if total >= k:
                    break
            if total >= k or len(prompts) < n_prompts or n_prompts >= 1000:
                break
            n_prompts = min(1000, n_prompts * 4)
        if not chunks:
            return Neighbors(np.zeros(0), np.zeros(0, int), np.zeros(0, int), np.zeros(0), np.zeros(0), list(self._models))
        rows, similarities = np.vstack(chunks)[:k], np.concatenate(sims)[:k]
        weight = battle_weight(rows[:, 3], own=rows[:, 4] != 0, judged=rows[:, 5] != 0, own_weight=own_weight,
                               judged_weight=judged_weight, shared_judged_weight=shared_judged_weight)
        keep = weight > 0
        return Neighbors(similarities[keep], rows[keep, 0].astype(int), rows[keep, 1].astype(int), rows[keep, 2],
                         weight[keep], list(self._models))
