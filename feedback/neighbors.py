"""SW at query time, over the preference store, in time that does not grow with the store.

The exact SW weighs every stored battle by γ^(1 + S/max S). Scanning them all per request grows
with the store, and keeping only the top-k nearest loses most of the evidence (with γ = 100 the
many distant battles still carry most of the weight together). So the index splits the sum:

- the **near** part, exact: the prompts nearest to the query from pgvector's HNSW index on
  `feedback_preferenceprompt`, expanded to their battles (`neighbors`);
- the **far** part, summarized: every stored prompt belongs to one of C clusters (k-means on the
  prompt embeddings); per cluster and per owner (shared, or a tenant) the index keeps the weighted
  win/game counts of each model pair and the sum of its prompts' embeddings, so the cluster's mean
  similarity to the query is exact (q · mean) and its weight is γ^(1 + mean S / max S). The near
  prompts' own counts are taken out of their clusters, so nothing counts twice.

Battles are read incrementally (new rows by id) every `refresh_s` seconds, and at once when the
HNSW search returns a prompt the index has not seen, so a new preference changes SW's answer
within seconds without a retrain. Weights (a tenant's own data, LLM-judge labels) are those of
`feedback.selectors.battles_load` (`training.core.labels.battle_weight`).

The index is SW's neighbour source at serving time (`training.core.routers.sw`): it answers
`pair_statistics(queries, gamma=)` for one scope (`scoped(tenant_id=, k=)`: the shared battles plus
that tenant's own), and the SW router fits the Bradley-Terry ratings on them.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np
from django.db import connection

from feedback.selectors import HOLDOUT_PREFIX
from training.core import labels
from training.core.routers.sw import PairStatistics, SWRankingRouter, similarity_weights

# the same rules as training.core.labels (OUTCOME, is_llm_judge), in SQL
OUTCOME_SQL = ("CASE p.winner " + " ".join(f"WHEN '{winner}' THEN {score}" for winner, score in labels.OUTCOME.items())
               + " END")
JUDGED_SQL = ("CASE WHEN lower(p.judge) IN (" + ", ".join(f"'{judge}'" for judge in labels.HUMAN_JUDGES)
              + ") THEN 0 ELSE 1 END")
# columns of the per-prompt battle rows kept in memory
A, B, OUTCOME, WEIGHT, OWNER = range(5)


@dataclass
class Neighbors:
    similarities: np.ndarray
    model_a: np.ndarray
    model_b: np.ndarray
    outcome: np.ndarray
    weight: np.ndarray
    models: list[str]
    prompt_ids: list[int]

    def __len__(self) -> int:
        return len(self.outcome)


class BattleNeighborIndex:
    def __init__(self, *, prompt_table: str = "feedback_preferenceprompt", battle_table: str = "feedback_preference",
                 refresh_s: float = 2.0, max_clusters: int = 1024, random_state: int = 0):
        self.prompt_table = prompt_table
        self.battle_table = battle_table
        self.refresh_s = refresh_s
        self.max_clusters = max_clusters
        self.random_state = random_state
        self._lock = threading.RLock()  # queries read the same state refresh writes
        self._models: list[str] = []
        self._model_index: dict[str, int] = {}
        self._by_prompt: dict[int, np.ndarray] = {}  # prompt id -> rows (A, B, OUTCOME, WEIGHT, OWNER)
        self._seen_prompts: set[int] = set()  # every prompt with a stored battle, even of weight 0
        self._last_id = 0
        self._battles = 0
        self._clustered_battles = 0  # battles seen when the clusters were made
        self._refreshed_at = 0.0
        # far-part summaries
        self._centroids: np.ndarray | None = None
        self._prompt_cluster: dict[int, int] = {}
        self._pairs: dict[tuple[int, int], int] = {}
        self._owners: dict[int, dict] = {}  # owner -> {"wins", "games": (C, K), "emb": (C, d), "n": (C,), "battles"}
        self._prompt_owner_seen: set[tuple[int, int]] = set()

    # --- keeping up with the store
    def refresh(self, force: bool = False) -> None:
        if not force and time.monotonic() - self._refreshed_at < self.refresh_s:
            return
        with self._lock:
            if not force and time.monotonic() - self._refreshed_at < self.refresh_s:
                return
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT p.id, p.prompt_id, p.model_a, p.model_b, {OUTCOME_SQL}, p.weight, "
                               f"COALESCE(p.tenant_id, 0), {JUDGED_SQL}, p.source FROM {self.battle_table} p "
                               f"WHERE p.id > %s ORDER BY p.id", [self._last_id])
                rows = cursor.fetchall()
            if rows:
                self._add(rows)
            self._refreshed_at = time.monotonic()

    def _add(self, rows) -> None:
        from django.conf import settings

        self._seen_prompts.update(r[1] for r in rows)
        for name in {r[2] for r in rows} | {r[3] for r in rows}:
            if name not in self._model_index:
                self._model_index[name] = len(self._models)
                self._models.append(name)
        # battles stored by `evaluate_router --holdout` are evaluation data, never served from
        raw = np.array([(r[1], self._model_index[r[2]], self._model_index[r[3]], r[4],
                         0.0 if r[8].startswith(HOLDOUT_PREFIX) else r[5], r[6], r[7]) for r in rows], dtype=np.float64)
        weight = labels.battle_weight(raw[:, 4], own=raw[:, 5] != 0, judged=raw[:, 6] != 0,
                               own_weight=settings.ROUTERHUB_OWN_DATA_WEIGHT,
                               judged_weight=settings.ROUTERHUB_OWN_JUDGED_WEIGHT,
                               shared_judged_weight=settings.ROUTERHUB_SHARED_JUDGED_WEIGHT)
        data = np.column_stack([raw[:, 0], raw[:, 1], raw[:, 2], raw[:, 3], weight, raw[:, 5]])[weight > 0]
        data = data[np.argsort(data[:, 0], kind="stable")]
        prompt_ids, starts = np.unique(data[:, 0], return_index=True)
        chunks = dict(zip(prompt_ids.astype(int).tolist(), np.split(data[:, 1:], starts[1:])))
        for prompt_id, chunk in chunks.items():
            previous = self._by_prompt.get(prompt_id)
            self._by_prompt[prompt_id] = chunk if previous is None else np.vstack([previous, chunk])
        self._last_id = max(self._last_id, int(rows[-1][0]))
        self._battles += len(rows)
        self._summarize(chunks)

    def stale(self) -> bool:
        """True when the rows up to the index's watermark are no longer the ones it read: some were
        deleted or replaced (fewer), or a transaction that took a lower id committed after the index
        had read past it (more: a late commit the id watermark skipped); or the store has grown 4x
        since the clusters were made. Then it is time for a fresh index."""
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {self.battle_table} WHERE id <= %s", [self._last_id])
            still_there = cursor.fetchone()[0]
        grown = self._clustered_battles and self._battles > 4 * self._clustered_battles
        return still_there != self._battles or bool(grown)

    @property
    def models(self) -> list[str]:
        """Every model name in the stored battles."""
        self.refresh()
        return list(self._models)

    def _embeddings(self, prompt_ids: list[int]) -> dict[int, np.ndarray]:
        out = {}
        with connection.cursor() as cursor:
            for start in range(0, len(prompt_ids), 5000):
                cursor.execute(f"SELECT id, embedding::text FROM {self.prompt_table} WHERE id = ANY(%s)",
                               [prompt_ids[start:start + 5000]])
                for pid, text in cursor.fetchall():
                    out[pid] = np.array(text.strip("[]").split(","), dtype=np.float32)
        return out

    def _summarize(self, chunks: dict[int, np.ndarray]) -> None:
        """Add new battles to the cluster summaries (building the clusters once there are enough prompts)."""
        if self._centroids is None:
            if len(self._by_prompt) < 32:
                return
            chunks = self._by_prompt  # first build: every prompt seen so far
            embeddings = self._embeddings(list(chunks))
            self._clustered_battles = self._battles
            self._centroids = _kmeans(np.stack(list(embeddings.values())),
                                      min(self.max_clusters, max(len(embeddings) // 8, 4)), self.random_state)
        else:
            embeddings = self._embeddings([pid for pid in chunks if pid not in self._prompt_cluster])
        for pid, vector in embeddings.items():
            self._prompt_cluster[pid] = int(np.argmax(self._centroids @ vector))
        for pid, rows in chunks.items():
            cluster = self._prompt_cluster.get(pid)
            if cluster is None:  # its prompt row is gone (deleted by hand): `stale()` rebuilds the index
                continue
            for owner in np.unique(rows[:, OWNER]).astype(int).tolist():
                mine = rows[rows[:, OWNER] == owner]
                stats = self._owner_stats(owner)
                keys = [self._pair_id(int(a), int(b)) for a, b in zip(mine[:, A], mine[:, B])]
                self._grow(stats)
                lo_wins = np.where(mine[:, A] < mine[:, B], mine[:, OUTCOME], 1.0 - mine[:, OUTCOME])
                np.add.at(stats["wins"][cluster], keys, mine[:, WEIGHT] * lo_wins)
                np.add.at(stats["games"][cluster], keys, mine[:, WEIGHT])
                stats["battles"] += len(mine)
                if (pid, owner) not in self._prompt_owner_seen:  # the cluster's mean counts each prompt once
                    self._prompt_owner_seen.add((pid, owner))
                    vector = embeddings[pid] if pid in embeddings else self._embeddings([pid])[pid]
                    stats["emb"][cluster] += vector
                    stats["n"][cluster] += 1

    def _owner_stats(self, owner: int) -> dict:
        if owner not in self._owners:
            n_clusters, dim = self._centroids.shape
            self._owners[owner] = {"wins": np.zeros((n_clusters, 0)), "games": np.zeros((n_clusters, 0)),
                                   "emb": np.zeros((n_clusters, dim)), "n": np.zeros(n_clusters), "battles": 0}
        return self._owners[owner]

    def _pair_id(self, a: int, b: int) -> int:
        key = (min(a, b), max(a, b))
        if key not in self._pairs:
            self._pairs[key] = len(self._pairs)
        return self._pairs[key]

    def _grow(self, stats: dict[str, np.ndarray]) -> None:
        missing = len(self._pairs) - stats["wins"].shape[1]
        if missing > 0:
            stats["wins"] = np.pad(stats["wins"], ((0, 0), (0, missing)))
            stats["games"] = np.pad(stats["games"], ((0, 0), (0, missing)))

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

    def neighbors(self, query_embedding, *, k: int, tenant_id: int | None = None) -> Neighbors:
        """The battles (shared, or `tenant_id`'s own) of the nearest prompts, whole prompts until there
        are at least k (so that the far part can take exactly those prompts out of their clusters).
        The pgvector search runs outside the lock, so concurrent queries only share the in-memory part."""
        return self._neighbors(query_embedding, k=k, tenant_id=tenant_id)

    def _neighbors(self, query_embedding, *, k: int, tenant_id: int | None) -> Neighbors:
        self.refresh()
        query = np.asarray(query_embedding, dtype=np.float32).ravel()
        n_prompts = min(k, int(k / max(self.battles_per_prompt, 1.0) * 2) + 16)
        while True:
            prompts = self._nearest_prompts(query, n_prompts)
            if any(pid not in self._seen_prompts for pid, _ in prompts):
                self.refresh(force=True)  # a prompt newer than the index: catch up now
            chunks, sims, used, total = [], [], [], 0
            with self._lock:
                models = list(self._models)
                for prompt_id, similarity in prompts:
                    rows = self._by_prompt.get(prompt_id)
                    if rows is None:
                        continue
                    rows = rows[(rows[:, OWNER] == 0) | (rows[:, OWNER] == (tenant_id or -1))]
                    if len(rows):
                        chunks.append(rows)
                        sims.append(np.full(len(rows), similarity))
                        used.append(prompt_id)
                        total += len(rows)
                    if total >= k:
                        break
            if total >= k or len(prompts) < n_prompts or n_prompts >= 1000:
                break
            n_prompts = min(1000, n_prompts * 4)
        if not chunks:
            return Neighbors(np.zeros(0), np.zeros(0, int), np.zeros(0, int), np.zeros(0), np.zeros(0), models, [])
        rows, similarities = np.vstack(chunks), np.concatenate(sims)
        return Neighbors(similarities, rows[:, A].astype(int), rows[:, B].astype(int), rows[:, OUTCOME],
                         rows[:, WEIGHT], models, used)

    def scoped(self, *, tenant_id: int | None = None, k: int = 100, summaries: bool = True) -> "ScopedNeighbors":
        """SW's neighbour source for one scope: the shared battles plus `tenant_id`'s own."""
        return ScopedNeighbors(self, tenant_id=tenant_id, k=k, summaries=summaries)

    def pair_statistics(self, queries, *, gamma: float, k: int = 100, tenant_id: int | None = None,
                        summaries: bool = True) -> PairStatistics:
        """Weighted wins and games per model pair for each query: exact over the k nearest battles,
        cluster summaries for the rest (`training.core.routers.sw.NeighborSource`)."""
        queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
        per_query = []
        for query in queries:
            near = self._neighbors(query, k=k, tenant_id=tenant_id)  # the database search, outside the lock
            with self._lock:  # the in-memory summaries, which a refresh changes
                per_query.append(self._pair_counts(query, near, tenant_id=tenant_id, gamma=gamma,
                                                   summaries=summaries))
        models = per_query[-1][0] if per_query else list(self._models)
        n = len(models)  # model indexes only grow: every query's pairs index into the last list
        wins, games = np.zeros((len(queries), n, n)), np.zeros((len(queries), n, n))
        for row, (_models, pair_a, pair_b, pair_wins, pair_games) in enumerate(per_query):
            wins[row, pair_a, pair_b], games[row, pair_a, pair_b] = pair_wins, pair_games
        pair_a, pair_b = np.nonzero(games.sum(axis=0))
        return PairStatistics(models, pair_a, pair_b, wins[:, pair_a, pair_b], games[:, pair_a, pair_b])

    def win_rate(self, query_embedding, *, strong: str, weak: str, k: int = 100, tenant_id: int | None = None,
                 gamma: float = 100.0, ridge: float = 1.0, summaries: bool = True) -> float:
        """P(strong beats weak) from this index alone: the SW router attached to it (0.5 for a model
        the index has no battle of)."""
        router = SWRankingRouter(gamma=gamma, ridge=ridge, batch_size=1).attach(
            self.scoped(tenant_id=tenant_id, k=k, summaries=summaries))
        if not (router.knows(strong) and router.knows(weak)):
            return 0.5
        return float(router.predict_win_rate(np.asarray(query_embedding, dtype=np.float32).ravel()[None, :],
                                             strong=strong, weak=weak)[0])

    def _pair_counts(self, query, near: Neighbors, *, tenant_id, gamma, summaries):
        """(models, pair_a, pair_b, wins, games): the weighted wins and games per model pair that the
        Bradley-Terry fit takes (no pairs: no data)."""
        # the current model list, not the one `near` saw: a refresh between the two may have added
        # models (indices only grow), and the pair summaries below are indexed by the current list
        models = list(self._models)
        top = float(near.similarities.max()) if len(near) else 1.0
        top = top if top > 1e-9 else 1.0
        n = len(models)
        lo = np.minimum(near.model_a, near.model_b)
        hi = np.maximum(near.model_a, near.model_b)
        lo_wins = np.where(near.model_a < near.model_b, near.outcome, 1.0 - near.outcome)
        w = similarity_weights(near.similarities, gamma, top=top)[0] * near.weight
        wins = np.zeros((n, n))
        games = np.zeros((n, n))
        np.add.at(wins, (lo, hi), w * lo_wins)
        np.add.at(games, (lo, hi), w)
        count = float(len(near))
        if summaries and self._centroids is not None and self._pairs:
            far_wins, far_games, far_count = self._far(query, near, tenant_id, gamma, top)
            pair_lo, pair_hi = np.array(list(self._pairs)).T
            np.add.at(wins, (pair_lo, pair_hi), far_wins)
            np.add.at(games, (pair_lo, pair_hi), far_games)
            count = max(count, far_count)  # the far count covers every battle of the owners
        pair_a, pair_b = np.nonzero(games)
        if len(pair_a) == 0:
            return models, pair_a, pair_b, np.zeros(0), np.zeros(0)
        scale = max(count, 1.0) / games[pair_a, pair_b].sum()
        return models, pair_a, pair_b, wins[pair_a, pair_b] * scale, games[pair_a, pair_b] * scale

    def _far(self, query, near: Neighbors, tenant_id, gamma, top):
        """Weighted pair counts of every battle outside the near part, from the cluster summaries."""
        k_pairs = len(self._pairs)
        far_wins, far_games, count = np.zeros(k_pairs), np.zeros(k_pairs), 0.0
        for owner in (0, tenant_id) if tenant_id else (0,):
            stats = self._owners.get(owner)
            if stats is None:
                continue
            self._grow(stats)
            wins, games = stats["wins"].copy(), stats["games"].copy()
            for pid in near.prompt_ids:  # the near prompts are counted exactly: take them out of their cluster
                rows = self._by_prompt[pid]
                rows = rows[rows[:, OWNER] == owner]
                if len(rows) == 0:
                    continue
                keys = [self._pairs[(int(min(a, b)), int(max(a, b)))] for a, b in zip(rows[:, A], rows[:, B])]
                lo_wins = np.where(rows[:, A] < rows[:, B], rows[:, OUTCOME], 1.0 - rows[:, OUTCOME])
                cluster = self._prompt_cluster.get(pid)
                if cluster is not None:
                    np.subtract.at(wins[cluster], keys, rows[:, WEIGHT] * lo_wins)
                    np.subtract.at(games[cluster], keys, rows[:, WEIGHT])
            mean_sims = (stats["emb"] @ query) / np.maximum(stats["n"], 1)
            cluster_weight = np.where(stats["n"] > 0, similarity_weights(mean_sims, gamma, top=top)[0], 0.0)
            far_wins += cluster_weight @ np.clip(wins, 0, None)
            far_games += cluster_weight @ np.clip(games, 0, None)
            count += float(stats["battles"])
        return far_wins, far_games, count


class ScopedNeighbors:
    """The index as one scope's neighbour source (what `SWRankingRouter.attach` takes)."""

    def __init__(self, index: BattleNeighborIndex, *, tenant_id: int | None, k: int, summaries: bool = True):
        self.index, self.tenant_id, self.k, self.summaries = index, tenant_id, k, summaries

    @property
    def models(self) -> list[str]:
        return self.index.models

    def scoped(self, *, tenant_id: int | None = None) -> "ScopedNeighbors":
        return ScopedNeighbors(self.index, tenant_id=tenant_id, k=self.k, summaries=self.summaries)

    def pair_statistics(self, queries, *, gamma: float) -> PairStatistics:
        return self.index.pair_statistics(queries, gamma=gamma, k=self.k, tenant_id=self.tenant_id,
                                          summaries=self.summaries)


def _kmeans(vectors: np.ndarray, n_clusters: int, random_state: int, iterations: int = 8,
            sample: int = 20000) -> np.ndarray:
    """Spherical k-means centroids (unit rows) on at most `sample` vectors."""
    rng = np.random.default_rng(random_state)
    if len(vectors) > sample:
        vectors = vectors[rng.choice(len(vectors), sample, replace=False)]
    centroids = vectors[rng.choice(len(vectors), n_clusters, replace=False)].copy()
    for _ in range(iterations):
        assign = np.argmax(vectors @ centroids.T, axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, assign, vectors)
        norms = np.linalg.norm(sums, axis=1, keepdims=True)
        centroids = np.where(norms > 0, sums / np.maximum(norms, 1e-12), centroids)
    return centroids.astype(np.float32)
