"""`python manage.py bench_routing`: how fast routing decisions are on this machine.

Prints: single-query embedding latency p50/p99 (~30 and ~256 tokens) per embedding runtime; SW
scoring p50/p99 (embedding excluded) over pgvector at 10k / 100k (/ 1M) synthetic battles and
several k; MF scoring p50/p99; decisions per second (embed + MF); with --data, SW quality against
k on a dev set and MF training time on all of the shared training data.
"""
from __future__ import annotations

import io
import itertools
import time
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from feedback.neighbors import BattleNeighborIndex
from training.core.embeddings import LAYERS, MiniLMEmbedder
from training.core.routers import MFRouter

SHORT = "How do I compute the derivative of x squared times sine of x, step by step please?"
LONG = " ".join(["The quarterly report shows revenue grew while operating costs fell, and the board asked "
                 "for a detailed breakdown of the regional numbers before the next meeting."] * 9)


def percentiles(samples_ms: list[float]) -> str:
    return f"p50 {np.percentile(samples_ms, 50):7.2f} ms  p99 {np.percentile(samples_ms, 99):7.2f} ms"


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--repeat", type=int, default=200)
        parser.add_argument("--sizes", default="10000,100000", help="Synthetic battle counts for SW scoring.")
        parser.add_argument("--k", default="100,500,1000", help="SW neighbour counts to time.")
        parser.add_argument("--runtimes", default="torch,onnx,onnx-int8")
        parser.add_argument("--layers", help="MiniLM depths to time (1-6, comma-separated; default the "
                                             "configured one, ROUTERHUB_EMBEDDING_LAYERS).")
        parser.add_argument("--data", metavar="DIR", help="../shared/data: adds SW quality vs k and MF training time.")
        parser.add_argument("--skip-embedding", action="store_true")

    def handle(self, *args, **opts):
        repeat = opts["repeat"]
        layers = _depths(opts["layers"] if opts["layers"] is not None else str(settings.ROUTERHUB_EMBEDDING_LAYERS))
        if "feedback_preferenceprompt" not in connection.introspection.table_names():
            raise CommandError("the database has no RouterHub tables (SW is timed over pgvector there): run "
                               "`python manage.py migrate` first", returncode=2)
        self.stdout.write(f"bench_routing on {__import__('os').cpu_count()} cores, repeat={repeat}")
        if not opts["skip_embedding"]:
            self._bench_embedding(opts["runtimes"].split(","), layers, repeat)
        ks = [int(k) for k in opts["k"].split(",")]
        for size in [int(s) for s in opts["sizes"].split(",")]:
            self._bench_sw(size, ks, repeat)
        self._bench_mf(repeat)
        if opts["data"]:
            self._bench_data(Path(opts["data"]), ks)

    # --- embedding
    def _bench_embedding(self, runtimes: list[str], depths: list[int], repeat: int) -> None:
        self.stdout.write("\n== single-query embedding (all-MiniLM-L6-v2)")
        for runtime, layers in itertools.product(runtimes, depths):
            embedder = MiniLMEmbedder(runtime=runtime.split("-")[0], quantize=runtime.endswith("int8"),
                                      threads=settings.ROUTERHUB_EMBEDDING_THREADS, layers=layers,
                                      cache_dir=settings.ROUTERHUB_MODEL_CACHE_DIR)
            embedder.embed([SHORT])
            tokens = [len(embedder._tokenizer.encode(t).ids) for t in (SHORT, LONG)]
            short = timed(lambda embedder=embedder: embedder.embed([SHORT]), repeat)
            long = timed(lambda embedder=embedder: embedder.embed([LONG]), max(repeat // 4, 20))
            label = f"{runtime} {embedder.depth_name}".strip()
            self.stdout.write(f"{label:13s} {tokens[0]:3d} tokens: {percentiles(short)} | "
                              f"{tokens[1]:3d} tokens: {percentiles(long)}")

    # --- SW over pgvector
    def _bench_sw(self, n_battles: int, ks: list[int], repeat: int) -> None:
        rng = np.random.default_rng(0)
        per_prompt, n_models, dim = 10, 20, settings.ROUTERHUB_EMBEDDING_DIM
        n_prompts = n_battles // per_prompt
        self.stdout.write(f"\n== SW scoring, {n_battles:,} synthetic battles on {n_prompts:,} prompts "
                          f"(pgvector HNSW, embedding excluded)")
        started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_prompt, bench_battle")
            cursor.execute("CREATE TEMP TABLE bench_prompt (id bigint PRIMARY KEY, embedding vector(%s))" % dim)
            cursor.execute("CREATE TEMP TABLE bench_battle (id bigserial PRIMARY KEY, prompt_id bigint, model_a text, "
                           "model_b text, winner text, weight double precision, tenant_id bigint, judge text DEFAULT '', source text DEFAULT '')")
            centers = rng.normal(size=(200, dim)).astype(np.float32)
            with cursor.connection.cursor().copy("COPY bench_prompt (id, embedding) FROM STDIN") as copy:
                for start in range(0, n_prompts, 10000):
                    count = min(10000, n_prompts - start)
                    vectors = centers[rng.integers(0, 200, count)] + 0.5 * rng.normal(size=(count, dim))
                    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                    buffer = io.StringIO()
                    for i, v in enumerate(vectors):
                        buffer.write(f"{start + i + 1}\t[{','.join(f'{x:.5f}' for x in v)}]\n")
                    copy.write(buffer.getvalue())
            winners = np.array(["model_a", "model_b", "tie"])
            with cursor.connection.cursor().copy(
                    "COPY bench_battle (prompt_id, model_a, model_b, winner, weight) FROM STDIN") as copy:
                buffer = io.StringIO()
                for b in range(n_battles):
                    a, c = rng.choice(n_models, 2, replace=False)
                    buffer.write(f"{b // per_prompt + 1}\tm{a}\tm{c}\t{winners[rng.integers(0, 3)]}\t1\n")
                copy.write(buffer.getvalue())
            cursor.execute("CREATE INDEX ON bench_prompt USING hnsw (embedding vector_cosine_ops) "
                           "WITH (m = 16, ef_construction = 64)")
            cursor.execute("ANALYZE bench_prompt")
        self.stdout.write(f"   built in {time.monotonic() - started:.1f}s")
        index = BattleNeighborIndex(prompt_table="bench_prompt", battle_table="bench_battle", refresh_s=3600)
        index.refresh(force=True)
        queries = rng.normal(size=(repeat, dim)).astype(np.float32)
        queries /= np.linalg.norm(queries, axis=1, keepdims=True)
        for k in ks:
            def score(q, k=k):
                return index.win_rate(q, strong="m0", weak="m1", k=k)
            score(queries[0])
            samples = []
            for q in queries:
                started = time.perf_counter()
                score(q)
                samples.append((time.perf_counter() - started) * 1000)
            self.stdout.write(f"   k={k:5d}: {percentiles(samples)}")
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS bench_prompt, bench_battle")

    # --- MF
    def _bench_mf(self, repeat: int) -> None:
        from training.core.routers import Battles

        rng = np.random.default_rng(0)
        dim = settings.ROUTERHUB_EMBEDDING_DIM
        prompts = rng.normal(size=(500, dim)).astype(np.float32)
        prompts /= np.linalg.norm(prompts, axis=1, keepdims=True)
        a = rng.integers(0, 11, 5000)
        battles = Battles(prompts, rng.integers(0, 500, 5000), a, (a + rng.integers(1, 11, 5000)) % 11,
                          rng.integers(0, 3, 5000) / 2, [f"m{i}" for i in range(11)])
        router = MFRouter(epochs=1).fit(battles)
        query = prompts[:1]
        samples = timed(lambda: router.predict_win_rate(query, strong="m0", weak="m1"), repeat * 10)
        self.stdout.write(f"\n== MF scoring (embedding excluded): {percentiles(samples)}")
        # the decision through the router contract (ratings + the policy): a pair against a pool of 11
        pair, pool = [f"m{i}" for i in range(2)], [f"m{i}" for i in range(11)]
        two = timed(lambda: router.route(query[0], pair, 0.5), repeat * 10)
        ten = timed(lambda: router.route(query[0], pool, 0.5), repeat * 10)
        self.stdout.write(f"== MF decision, 2 models: {percentiles(two)}; 11 models: {percentiles(ten)} "
                          f"(+{np.percentile(ten, 50) - np.percentile(two, 50):.3f} ms at p50)")
        from routerhub.embeddings.services import embedder_get

        embedder = embedder_get()
        embedder.embed([SHORT])
        n, started = 0, time.perf_counter()
        while time.perf_counter() - started < 5.0:
            router.predict_win_rate(embedder.embed([f"{SHORT} #{n}"]), strong="m0", weak="m1")
            n += 1
        self.stdout.write(f"== decisions per second (embed ~30 tokens + MF, one thread, {embedder.name}): "
                          f"{n / (time.perf_counter() - started):.0f}")

    # --- real data
    def _bench_data(self, data: Path, ks: list[int]) -> None:
        from feedback.selectors import battles_load
        from routerhub.embeddings.services import embeddings_for_texts
        from training.core.evaluation import eval_set_load, router_evaluate
        from training.core.routers import SWRankingRouter

        battles = battles_load()
        if len(battles) == 0:
            raise CommandError("no stored preferences: import ../shared/data/train first", returncode=2)
        self.stdout.write(f"\n== on the stored preferences: {len(battles):,} battles, "
                          f"{len(battles.prompt_embeddings):,} prompts")
        started = time.monotonic()
        MFRouter().fit(battles)
        self.stdout.write(f"MF training (default hyperparameters): {time.monotonic() - started:.1f}s")
        eval_set = eval_set_load(data / "dev_eval" / "routerbench_test_scores.jsonl.gz",
                                 strong="gpt-4-1106-preview", weak="mixtral-8x7b-instruct-v0.1")
        eval_set.embeddings = embeddings_for_texts(eval_set.prompts)
        apgr = router_evaluate(SWRankingRouter().fit(battles), eval_set)["apgr"]
        self.stdout.write(f"SW APGR on routerbench_test, exact scan over every battle: {apgr:.3f}")
        index = BattleNeighborIndex(refresh_s=3600)
        index.refresh(force=True)
        for k in ks:
            for summaries in (False, True):
                # the served SW: the same router over the serving index (one query at a time)
                router = SWRankingRouter(batch_size=1).attach(index.scoped(k=k, summaries=summaries))
                started = time.perf_counter()
                apgr = router_evaluate(router, eval_set)["apgr"]
                ms = (time.perf_counter() - started) * 1000 / len(eval_set.rows)
                self.stdout.write(f"SW serving path, k={k:5d}, {'with' if summaries else 'without':7s} cluster "
                                  f"summaries: APGR {apgr:.3f}, {ms:.2f} ms/query")


def _depths(raw: str) -> list[int]:
    """`--layers 6,2` as depths, or exit 2 with what is wrong."""
    try:
        depths = [int(k) for k in raw.split(",")]
    except ValueError:
        depths = []
    if not depths or not all(1 <= k <= LAYERS for k in depths):
        raise CommandError(f"--layers {raw!r}: comma-separated depths from 1 to {LAYERS}", returncode=2)
    return depths
