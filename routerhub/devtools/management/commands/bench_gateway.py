"""`python manage.py bench_gateway`: the gateway's throughput and routing overhead on this machine.

Sends the same kind of load straight at the simulated upstream and through the gateway (`model:
router`, so every request is embedded, scored and routed), in two ways:
- the most each can do: `--concurrency` clients, each sending as soon as it is answered
  (throughput; latency there is mostly queueing);
- a fixed `--rate` (open loop, default 100 req/s): p50/p99 latency of both and their difference,
  the overhead the gateway adds at that load.
It also prints the gateway's CPU per request, the routing latency the gateway logged itself,
and whether every answered request left exactly one `RoutedRequest` row.

By default it starts what it measures: the simulated upstream where the demo endpoints point
(unless one already answers there) and gunicorn as `make run` serves it (workers x threads), for a
`bench` tenant on the demo endpoints. `--gateway URL --key KEY` measures a running gateway instead.
Every prompt is distinct (30-40 tokens, its request number included), so no embedding comes from a
cache.
"""
from __future__ import annotations

import gc
import http.client
import json
import os
import random
import subprocess
import sys
import threading
import time
from urllib.parse import urlsplit

import httpx
import numpy as np
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count
from django.utils import timezone

from feedback.models import Preference, PreferencePrompt
from routerhub.devtools.processes import free_port, http_answers, http_wait, process_stop
from routerhub.embeddings.models import EmbeddingCacheEntry
from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.models import ModelEndpoint, Tenant
from routerhub.tenants.services import DEMO_ENDPOINTS, api_key_create
from training.core.routers import ROUTER_KINDS, TRAINABLE_KINDS
from training.models import RouterVersion
from training.selectors import router_version_active

SUBJECTS = ["a binary search tree", "the French revolution", "photosynthesis", "a REST API", "compound interest",
            "the Pythagorean theorem", "a sourdough starter", "TCP congestion control", "Bayes' rule",
            "a haiku about autumn", "quicksort", "the water cycle", "a cover letter", "black holes"]
ASKS = ["Explain {s} to a curious teenager in a few sentences.",
        "What are the three most common mistakes people make with {s}, and how do I avoid them?",
        "Write a short, friendly summary of {s} for a newsletter.",
        "Give me a step-by-step plan to learn {s} this week, please."]


def bench_prompts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(ASKS).format(s=rng.choice(SUBJECTS)) + f" (request {seed}-{i})" for i in range(n)]


def run_load(url: str, key: str, model: str, prompts: list[str], concurrency: int, stream: bool,
             rate: float | None = None) -> dict:
    """Send every prompt once; latencies in ms, failures counted.

    Without `rate`: closed loop, `concurrency` clients each sending its next request as soon as
    the last one is answered (the most the server can do). With `rate`: open loop, request i is due
    at i / rate seconds and its latency counts from then (queueing included, no coordinated
    omission); `concurrency` clients must be enough to keep up."""
    latencies: list[float] = []
    failures: list[str] = []
    ids: list[str] = []
    timeline: list[tuple[float, float]] = []  # (sent at, latency) per answered request
    position = iter(range(len(prompts)))
    lock = threading.Lock()
    clock = {"t0": 0.0}

    def start_clock():
        clock["t0"] = time.perf_counter() + 0.05

    ready = threading.Barrier(concurrency, action=start_clock)  # every client connected before the clock

    def client_loop():
        connection = _Connection(url, key)
        try:
            try:
                connection.request("GET", "/models")  # open this client's connection before timing starts
            except (OSError, http.client.HTTPException):
                connection.reset()  # this client's requests will fail, and be counted, below
            finally:
                ready.wait()
            t0 = clock["t0"]
            time.sleep(max(0.0, t0 - time.perf_counter()))  # everyone starts at t0, the clock's zero
            while True:
                with lock:
                    i = next(position, None)
                if i is None:
                    return
                body = {"model": model, "messages": [{"role": "user", "content": prompts[i]}], "stream": stream}
                started = time.perf_counter()
                if rate:
                    due = t0 + i / rate
                    if due > started:
                        time.sleep(due - started)
                    started = due
                try:
                    status, request_id = connection.request("POST", "/chat/completions", body)
                    elapsed = (time.perf_counter() - started) * 1000
                except (OSError, http.client.HTTPException) as exc:
                    connection.reset()
                    with lock:
                        failures.append(type(exc).__name__)
                    continue
                with lock:
                    if status == 200:
                        latencies.append(elapsed)
                        timeline.append((started - t0, elapsed))
                    else:
                        failures.append(str(status))
                    if request_id:
                        ids.append(request_id)
        finally:
            connection.reset()

    threads = [threading.Thread(target=client_loop) for _ in range(concurrency)]
    gc.collect()
    gc.disable()  # a full collection in the load generator would pause every client at once
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        gc.enable()
    wall = time.perf_counter() - clock["t0"]
    return {"latencies": latencies, "failures": failures, "ids": ids, "wall_s": wall, "timeline": timeline,
            "throughput": len(latencies) / wall if wall else 0.0}


class _Connection:
    """One keep-alive HTTP/1.1 connection of the load generator, with the standard library's
    client: the generator shares the cores with what it measures, and `http.client` costs it a
    third of httpx's CPU per request (0.8-0.9 against 2.0-2.6 ms at 100 req/s with 16-32 clients,
    2026-12-04), so the gateway and the upstream get the difference. A kept-alive connection the
    server has closed meanwhile (gunicorn keeps an idle one 2 s) is reopened once, as httpx does."""

    def __init__(self, url: str, key: str):
        parts = urlsplit(url)
        self._make = lambda: (http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection)(
            parts.hostname, parts.port, timeout=60)
        self._path = parts.path.rstrip("/")
        self._headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self._connection: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: dict | None = None) -> tuple[int, str | None]:
        """The answer's status and request id, after reading it whole (a stream to its end)."""
        reused = self._connection is not None
        if not reused:
            self._connection = self._make()
        payload = json.dumps(body).encode() if body is not None else None
        try:
            self._connection.request(method, self._path + path, body=payload, headers=self._headers)
            response = self._connection.getresponse()
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            if not reused:
                raise
            self.reset()  # the server closed the idle connection before reading this request
            return self.request(method, path, body)
        response.read()
        return response.status, response.getheader("x-routerhub-request-id")

    def reset(self) -> None:
        """Close the connection (after a failure it may be unusable); the next request opens one."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--requests", type=int, default=2000, help="Measured requests per phase.")
        parser.add_argument("--concurrency", type=int, default=16, help="Clients for the saturation phase.")
        parser.add_argument("--rate", type=float, default=100.0, help="Requests per second of the fixed-rate phase.")
        parser.add_argument("--router", default="mf", help="Router kind the bench tenant routes with.")
        parser.add_argument("--stream", action="store_true", help="Streaming requests.")
        parser.add_argument("--upstream-latency-ms", type=float, default=0.0,
                            help="Latency the simulated upstream adds to each answer.")
        parser.add_argument("--web-workers", type=int, default=int(os.environ.get("WEB_WORKERS", 2)))
        parser.add_argument("--web-threads", type=int, default=int(os.environ.get("WEB_THREADS", 8)))
        parser.add_argument("--gateway", metavar="URL", help="A running gateway's /v1 URL (with --key).")
        parser.add_argument("--key", help="API key for --gateway.")
        parser.add_argument("--json", metavar="OUT", help="Write every phase's figures and latency timeline here.")
        parser.add_argument("--seed", type=int, default=None,
                            help="Prompt seed (default: a new one each run, so no embedding is cached).")

    def handle(self, *args, **opts):
        if (opts["gateway"] is None) != (opts["key"] is None):
            raise CommandError("--gateway and --key go together", returncode=2)
        if opts["requests"] < 1 or opts["concurrency"] < 1 or opts["rate"] <= 0:
            raise CommandError("--requests, --concurrency and --rate must be positive", returncode=2)
        children: list[subprocess.Popen] = []
        try:
            self._run(opts, children)
        finally:
            for proc in children:
                proc.terminate()  # all at once, then wait for each
            for proc in children:
                process_stop(proc)

    def _run(self, opts, children):
        strong_name = DEMO_ENDPOINTS[0][0]
        if opts["gateway"]:
            url, key = opts["gateway"].rstrip("/"), opts["key"]
            tenant = None
        else:
            tenant, key = self._bench_tenant(opts["router"])
            url = None
        strong = (tenant.strong_model if tenant else ModelEndpoint.objects.get(name=strong_name))
        upstream = strong.base_url.rstrip("/")
        root = upstream.removesuffix("/v1")
        env = dict(os.environ, DATABASE_URL=settings.DATABASE_URL, CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
                   ROUTERHUB_STATE_DIR=str(settings.STATE_DIR), PYTHONUNBUFFERED="1")
        if not http_answers(root + "/_sim/config"):
            port = urlsplit(upstream).port or 80
            children.append(subprocess.Popen([sys.executable, str(settings.BASE_DIR / "manage.py"), "sim_upstream",
                                              "--port", str(port)], env=env))
            http_wait(root + "/_sim/config", children[-1], 30)
        previous = httpx.get(root + "/_sim/config").json()
        httpx.post(root + "/_sim/config", json={"latency_ms": opts["upstream_latency_ms"], "chunk_delay_ms": 0,
                                                 "failure_rate": 0, "fail_models": []})
        if url is None:
            port = free_port()
            children.append(subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "routerhub.wsgi:application", "--bind", f"127.0.0.1:{port}",
                 "--workers", str(opts["web_workers"]), "--threads", str(opts["web_threads"]),
                 "--config", "python:routerhub.gunicorn_conf", "--no-control-socket", "--log-level", "warning"],
                env=env, cwd=settings.BASE_DIR))
            http_wait(f"http://127.0.0.1:{port}/healthz", children[-1], 120)
            url = f"http://127.0.0.1:{port}/v1"
        self._gateway_proc = children[-1] if not opts["gateway"] else None
        try:
            self._measure(opts, url, key, upstream, strong.upstream_model)
        finally:
            httpx.post(root + "/_sim/config", json=previous)

    def _bench_tenant(self, kind: str) -> tuple[Tenant, str]:
        if kind not in ROUTER_KINDS:
            raise CommandError(f"--router {kind!r}: use one of {', '.join(ROUTER_KINDS)}", returncode=2)
        if kind in TRAINABLE_KINDS and router_version_active(kind=kind) is None:
            raise CommandError(f"no active {kind} router version: train one first (manage.py train_router --kind "
                               f"{kind} --activate, after import_preferences) or use --router random", returncode=2)
        endpoints = {e.name: e for e in ModelEndpoint.objects.filter(name__in=[n for n, _, _ in DEMO_ENDPOINTS[:2]])}
        if len(endpoints) < 2:
            raise CommandError("the demo endpoints are missing: run manage.py seed_demo first", returncode=2)
        tenant, _ = Tenant.objects.update_or_create(
            slug="bench", defaults={"name": "Benchmark", "default_router_kind": kind, "routing_threshold": 0.5,
                                    "strong_model": endpoints[DEMO_ENDPOINTS[0][0]],
                                    "weak_model": endpoints[DEMO_ENDPOINTS[1][0]], "active": True})
        return tenant, api_key_create(tenant=tenant, name=f"bench {timezone.now():%Y-%m-%d %H:%M:%S}").raw_key

    def _measure(self, opts, url, key, upstream, upstream_model):
        n, c, stream, rate = opts["requests"], opts["concurrency"], opts["stream"], opts["rate"]
        seed = opts["seed"] if opts["seed"] is not None else time.time_ns()
        prompts = iter(bench_prompts(4 * n + 8 * c, seed=seed))
        take = lambda k: [next(prompts) for _ in range(k)]  # noqa: E731 - every request a new prompt
        self.stdout.write(f"bench_gateway: {n} requests per phase, {'streaming' if stream else 'non-streaming'}, "
                          f"upstream latency {opts['upstream_latency_ms']:g} ms, {os.cpu_count()} cores, router "
                          f"{opts['router']}")
        self.stdout.write(_store_size())
        _answers(url, key, "the gateway")
        _answers(upstream, "unused", "the upstream")
        run_load(upstream, "unused", upstream_model, take(4 * c), c, stream)  # warm: connections, pools
        run_load(url, key, "router", take(4 * c), c, stream)  # warm: embedder and routers loaded, pools full
        results, sent_ids = {}, []

        def phase(name, target, model, k, conc, phase_rate=None):
            result = run_load(target, key if target == url else "unused", model, take(k), conc, stream, phase_rate)
            results[name] = result
            sent_ids.extend(result["ids"])
            return result

        cpu_before = _tree_cpu_s(self._gateway_proc)
        phase("gateway-max", url, "router", n, c)
        cpu_ms = (_tree_cpu_s(self._gateway_proc) - cpu_before) * 1000 / max(len(results["gateway-max"]["ids"]), 1)
        phase("upstream-max", upstream, upstream_model, n, c)
        phase("gateway-rate", url, "router", n, max(c, 32), rate)
        phase("upstream-rate", upstream, upstream_model, n, max(c, 32), rate)

        def line(name, result):
            lat = result["latencies"] or [float("nan")]
            return (f"  {name:<9} {result['throughput']:8.1f} req/s   p50 {np.percentile(lat, 50):7.2f} ms   "
                    f"p99 {np.percentile(lat, 99):7.2f} ms   failed {len(result['failures'])}")

        self.stdout.write(f"most the server can do ({c} clients, each sending as soon as answered):")
        self.stdout.write(line("upstream", results["upstream-max"]))
        self.stdout.write(line("gateway", results["gateway-max"]))
        if self._gateway_proc is not None:
            self.stdout.write(f"  gateway CPU {cpu_ms:.2f} ms per request (all web workers, user + system)")
        self.stdout.write(f"at a fixed {rate:g} req/s (open loop: latency from each request's due time):")
        self.stdout.write(line("upstream", results["upstream-rate"]))
        self.stdout.write(line("gateway", results["gateway-rate"]))
        d = np.array(results["upstream-rate"]["latencies"] or [np.nan])
        g = np.array(results["gateway-rate"]["latencies"] or [np.nan])
        self.stdout.write(f"  overhead  p50 {np.percentile(g, 50) - np.percentile(d, 50):7.2f} ms   "
                          f"p99 {np.percentile(g, 99) - np.percentile(d, 99):7.2f} ms   (gateway - upstream)")
        gateway_ids = results["gateway-rate"]["ids"]
        routing = np.array([r for r in RoutedRequest.objects.filter(pk__in=gateway_ids)
                            .values_list("routing_latency_ms", flat=True) if r is not None] or [np.nan])
        self.stdout.write(f"  routing   p50 {np.percentile(routing, 50):7.2f} ms   p99 {np.percentile(routing, 99):7.2f} ms"
                          f"   (as the gateway logged it: auth + parse + embed + score + decide)")
        gateway_ids = [i for name in ("gateway-max", "gateway-rate") for i in results[name]["ids"]]
        rows = RoutedRequest.objects.filter(pk__in=gateway_ids)
        by_model = dict(rows.values("served_model").annotate(n=Count("id")).values_list("served_model", "n"))
        answered = sum(len(results[name]["latencies"]) for name in ("gateway-max", "gateway-rate"))
        stored = rows.count()
        lost = answered - stored
        self.stdout.write(f"log rows: {stored} stored for {answered} answered gateway requests: {lost} lost; "
                          f"served {by_model}")
        if opts["json"]:
            with open(opts["json"], "w") as handle:
                json.dump({name: {"throughput": r["throughput"], "failures": len(r["failures"]),
                                  "timeline": r["timeline"]} for name, r in results.items()}, handle)
        failed = {name: r["failures"] for name, r in results.items() if r["failures"]}
        if lost or failed:
            raise CommandError(f"{lost} lost rows; failures: "
                               + ", ".join(f"{name} {len(f)} ({sorted(set(f))})" for name, f in failed.items()))


def _answers(url: str, key: str, what: str) -> None:
    """CommandError (exit 2) unless `GET {url}/models` answers 200: no phase runs against nothing."""
    connection = _Connection(url, key)
    try:
        status, _ = connection.request("GET", "/models")
    except (OSError, http.client.HTTPException) as exc:
        raise CommandError(f"{what} at {url} does not answer: {type(exc).__name__} {exc}", returncode=2) from exc
    finally:
        connection.reset()
    if status != 200:
        raise CommandError(f"GET {url}/models answered {status}" + (" (is --key a key of that gateway?)"
                           if status == 401 else ""), returncode=2)


def _tree_cpu_s(proc: subprocess.Popen | None) -> float:
    """CPU seconds used so far by a process and its children (gunicorn's workers)."""
    if proc is None:
        return 0.0
    import psutil

    root = psutil.Process(proc.pid)
    total = 0.0
    for p in [root, *root.children(recursive=True)]:
        try:
            times = p.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total


def _store_size() -> str:
    """What the gateway ran against: the request path's cost may grow with any of these."""
    active = ", ".join(f"{v.kind} v{v.pk}" for v in RouterVersion.objects.filter(status=RouterVersion.Status.ACTIVE).order_by("kind"))
    return (f"store: {Preference.objects.count():,} battles on {PreferencePrompt.objects.count():,} prompts, "
            f"{EmbeddingCacheEntry.objects.count():,} cached embeddings, {RoutedRequest.objects.count():,} logged "
            f"requests; active versions: {active or 'none'}")
