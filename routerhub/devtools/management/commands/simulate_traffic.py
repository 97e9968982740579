"""`python manage.py simulate_traffic --scores FILE --strong M --weak M --requests N --feedback-rate r
--duel-rate d --duel-selection active|uniform --retrain-every K --json OUT --plot OUT.png`: the learning curve of the feedback loop.

See `routerhub.devtools.simulation`. It runs on the real parts: the gateway over HTTP (started in this
process on a free port, or `--gateway URL`), the simulated upstream (started where the endpoints
named --strong and --weak point, or on a free port for endpoints it creates), Postgres, and a
Celery worker on the `default` and `training` queues (a running one, else one it starts). The
tenant (`--tenant`, default `simulation`) is the command's own: it is reset at the start, so every
run begins from the cold start (the routers trained on the shared data only).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from routerhub.devtools.processes import http_answers, process_stop
from routerhub.devtools.simulation import reload_wait, score_file_arguments, score_file_load, selections_parse
from routerhub.gateway.registry import registry
from routerhub.gateway.selectors import routed_prompts
from routerhub.tenants.models import ModelEndpoint, Tenant
from routerhub.tenants.services import tenant_threshold_set
from training.core.active import SELECTIONS
from training.core.calibration import threshold_for_strong_share
from training.core.routers import DEFAULT_TRAINING_KINDS, TRAINABLE_KINDS
from training.evaluation import version_win_rates, versions_evaluate
from training.models import TrainingRun
from training.runs import training_run_queue
from training.selectors import router_version_get
from training.services import router_version_promote


class Command(BaseCommand):
    help = __doc__.split("\n\n")[0]

    def add_arguments(self, parser):
        score_file_arguments(parser)
        parser.add_argument("--requests", type=int, default=None, help="Traffic requests (default: all of the traffic part).")
        parser.add_argument("--feedback-rate", type=float, default=0.5, help="Share of answers that get a thumb.")
        parser.add_argument("--duel-rate", type=float, default=0.0, help="The tenant's duel rate.")
        parser.add_argument("--duel-selection", default="active",
                            help="Which requests the duel rate spends its duels on (training/core/active.py): "
                                 f"{' or '.join(SELECTIONS)}; several, comma-separated, to compare them.")
        parser.add_argument("--retrain-every", type=int, default=100, help="Requests between training runs.")
        parser.add_argument("--json", metavar="OUT", help="Write the points here.")
        parser.add_argument("--plot", metavar="OUT.png", help="Draw the curves here.")
        parser.add_argument("--test-share", type=float, default=0.5, help="Share of the prompts kept for testing.")
        parser.add_argument("--test-size", type=int, default=None, help="Cap on the test part.")
        parser.add_argument("--strong-share", type=float, default=0.5,
                            help="Routing threshold calibrated to this strong-call share after each retrain.")
        parser.add_argument("--route-with", choices=TRAINABLE_KINDS, default="mf", help="The tenant's router kind.")
        parser.add_argument("--kinds", default=",".join(DEFAULT_TRAINING_KINDS), help="Router kinds each run trains.")
        parser.add_argument("--tenant", default="simulation", help="Slug of the simulation's own tenant (reset).")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--seeds", default=None,
                            help="Comma-separated seeds: one simulation per seed (and per duel selection), then "
                                 "the comparison at equal label counts (mean and spread over the seeds).")
        parser.add_argument("--checkpoints", default="100,300,1000",
                            help="Label counts the comparison reads APGR at (interpolated on each curve).")
        parser.add_argument("--target-apgr", type=float, default=0.6,
                            help="The comparison also says how many labels each run needed to reach this APGR.")
        parser.add_argument("--concurrency", type=int, default=4)
        parser.add_argument("--gateway", metavar="URL", help="A running gateway's /v1 URL on this database.")
        parser.add_argument("--run-timeout", type=float, default=3600, help="Give up on a training run after this.")

    def handle(self, *args, **opts):
        from routerhub.devtools.simulation import traffic_test_split

        for name in ("feedback_rate", "duel_rate", "test_share", "strong_share"):
            if not 0.0 <= opts[name] <= 1.0:
                raise CommandError(f"--{name.replace('_', '-')} must be in [0, 1]", returncode=2)
        if opts["retrain_every"] < 1 or (opts["requests"] is not None and opts["requests"] < 1):
            raise CommandError("--retrain-every and --requests must be positive", returncode=2)
        kinds = [k.strip() for k in opts["kinds"].split(",") if k.strip()]
        if not kinds or any(k not in TRAINABLE_KINDS for k in kinds):
            raise CommandError(f"--kinds: {' and/or '.join(TRAINABLE_KINDS)}", returncode=2)
        eval_set = score_file_load(opts)
        selections = selections_parse(opts["duel_selection"], option="--duel-selection")
        try:
            seeds = [int(s) for s in opts["seeds"].split(",")] if opts["seeds"] else [opts["seed"]]
            checkpoints = [int(c) for c in opts["checkpoints"].split(",")]
        except ValueError:
            raise CommandError("--seeds and --checkpoints are comma-separated integers", returncode=2) from None
        results = []
        for seed in seeds:
            traffic, test = traffic_test_split(eval_set, opts, seed)
            for selection in selections:
                cleanup: list = []
                try:
                    results.append(self._simulate({**opts, "seed": seed, "duel_selection": selection}, kinds,
                                                  traffic, test, cleanup))
                finally:
                    for stop in reversed(cleanup):
                        stop()
        if len(results) > 1:
            self._compare(results, opts, checkpoints)
            return
        result = results[0]
        if opts["json"]:
            Path(opts["json"]).write_text(json.dumps(result, indent=1))
            self.stdout.write(f"points written to {opts['json']}")
        if opts["plot"]:
            from routerhub.devtools.simulation import plot_curves

            plot_curves(result, opts["plot"])
            self.stdout.write(f"plot written to {opts['plot']}")

    def _compare(self, results: list[dict], opts, checkpoints: list[int]) -> None:
        """The selection rules at equal label counts over the seeds: printed, and to --json / --plot."""
        from routerhub.devtools.simulation import comparison_write, selection_comparison

        comparison = selection_comparison(results, router=opts["route_with"], checkpoints=checkpoints,
                                          target=opts["target_apgr"])
        for selection, row in comparison["selections"].items():
            cells = [f"{n} labels: " + (f"{row['at'][str(n)]['mean']:.3f} ± {row['at'][str(n)]['std']:.3f}"
                                        if row["at"][str(n)] else "-") for n in checkpoints]
            reached = row["labels_to_target"]
            self.stdout.write(f"{selection} ({row['runs']} runs): APGR after " + "; ".join(cells)
                              + f"; labels to reach {opts['target_apgr']:g}: {reached}")
        comparison_write(results, comparison, json_path=opts["json"], plot_path=opts["plot"], say=self.stdout.write)

    # --- the parts
    def _simulate(self, opts, kinds, traffic, test, cleanup) -> dict:
        from routerhub.devtools.simulation import TrafficSimulator, random_line
        from routerhub.embeddings.services import embeddings_for_texts
        from routerhub.tenants.services import api_key_create

        self._lock_tenant(opts["tenant"], cleanup)
        strong, weak = self._endpoints(opts, traffic, cleanup)
        tenant = self._fresh_tenant(opts, strong, weak)
        key = api_key_create(tenant=tenant, name="simulate_traffic").raw_key
        url = opts["gateway"].rstrip("/") if opts["gateway"] else self._gateway(cleanup)
        self._ensure_worker(cleanup)
        self.stdout.write(f"simulate_traffic: {len(traffic.rows)} traffic prompts, {len(test.rows)} test prompts, "
                          f"tenant {tenant.slug}, gateway {url}")
        test.embeddings = embeddings_for_texts(test.prompts, progress=True)
        embeddings_for_texts(traffic.prompts, progress=True)  # once, here, rather than one by one in the gateway
        simulator = TrafficSimulator(gateway_url=url, key=key, tenant=tenant, traffic=traffic, seed=opts["seed"],
                                     feedback_rate=opts["feedback_rate"], concurrency=opts["concurrency"])
        result = {"config": {"scores": opts["scores"], "strong": opts["strong"], "weak": opts["weak"],
                             "feedback_rate": opts["feedback_rate"], "duel_rate": opts["duel_rate"],
                             "duel_selection": opts["duel_selection"],
                             "retrain_every": opts["retrain_every"], "strong_share": opts["strong_share"],
                             "route_with": opts["route_with"], "seed": opts["seed"], "test_n": len(test.rows),
                             "traffic_n": len(traffic.rows), "requests_sent": 0},
                  "random": random_line(test), "points": [], "runs": []}
        self._retrain_and_measure(opts, kinds, tenant, simulator, test, result, first_rows=traffic.rows)
        step = opts["retrain_every"]
        from tqdm import tqdm

        with tqdm(total=len(traffic.rows), desc="traffic", unit="req") as bar:
            for start in range(0, len(traffic.rows), step):
                chunk = traffic.rows[start:start + step]
                simulator.send(chunk)
                simulator.label_duels()
                bar.update(len(chunk))
                bar.set_postfix_str(f"feedback {simulator.counters.feedback_events}")
                result["config"]["requests_sent"] = simulator.counters.requests
                self._retrain_and_measure(opts, kinds, tenant, simulator, test, result)
        result["counters"] = {"requests": simulator.counters.requests, "failed": simulator.counters.failed,
                              "thumbs": simulator.counters.thumbs, "duel_labels": simulator.counters.duel_labels,
                              "served": simulator.counters.served}
        self.stdout.write(f"done: {simulator.counters.requests} requests ({simulator.counters.failed} failed), "
                          f"{simulator.counters.thumbs} thumbs, {simulator.counters.duel_labels} duel labels; "
                          f"served {simulator.counters.served}")
        return result

    def _retrain_and_measure(self, opts, kinds, tenant, simulator, test, result, first_rows=None):
        events = simulator.counters.feedback_events
        run = training_run_queue(trigger="simulation", kinds=kinds, tenant=tenant)
        run = self._wait_run(run, opts["run_timeout"])
        versions = {kind: router_version_get(version_id=run.metrics[kind]["candidate_version"]) for kind in kinds}
        for version in versions.values():  # the traffic that follows is routed by the newest versions
            router_version_promote(version=version, via="simulate_traffic")
        measured = versions_evaluate(versions, tenant=tenant, eval_set=test)
        for kind, metrics in measured.items():
            result["points"].append({"feedback_events": events, "router": kind, "apgr": metrics["apgr"],
                                     "cpt50": metrics["cpt50"], "cpt80": metrics["cpt80"],
                                     "version": metrics["version"], "run": run.pk,
                                     "requests": simulator.counters.requests, "thumbs": simulator.counters.thumbs,
                                     "duel_labels": simulator.counters.duel_labels})
        result["runs"].append({"run": run.pk, "feedback_events": events, "data_counts": run.data_counts})
        self._calibrate(opts, tenant, versions.get(opts["route_with"]), first_rows)
        self.stdout.write(f"  {events:5d} feedback events, run {run.pk}: " + ", ".join(
            f"{kind} APGR {m['apgr']:.3f} CPT(50%) {m['cpt50']:.3f}" for kind, m in measured.items())
            + f"; threshold {tenant.routing_threshold:.4f}")

    def _calibrate(self, opts, tenant, version, first_rows) -> None:
        """The routing threshold for --strong-share on the traffic seen so far (at the cold start,
        on the first chunk's prompts: a tenant calibrates on its recent traffic)."""
        if version is None:
            return
        if first_rows is not None:
            prompts = [row["prompt"] for row in first_rows[:opts["retrain_every"]]]
        else:
            prompts = routed_prompts(tenant=tenant)
        win_rates = version_win_rates(version, prompts=prompts, strong=tenant.strong_model.name,
                                      weak=tenant.weak_model.name, tenant=tenant)
        threshold = min(1.0, max(0.0, threshold_for_strong_share(win_rates, opts["strong_share"])))
        tenant.routing_threshold = tenant_threshold_set(tenant=tenant, threshold=threshold, via="simulate_traffic",
                                                        how=f"strong share {opts['strong_share']:g}").routing_threshold
        if opts["gateway"]:
            reload_wait()
        else:
            registry.reload()

    def _wait_run(self, run: TrainingRun, timeout: float) -> TrainingRun:
        deadline = time.monotonic() + timeout
        while True:
            run.refresh_from_db()
            if run.status == TrainingRun.Status.SUCCEEDED:
                return run
            if run.status == TrainingRun.Status.FAILED:
                raise CommandError(f"training run {run.pk} failed: {run.error}", returncode=1)
            if time.monotonic() > deadline:
                raise CommandError(f"training run {run.pk} still {run.status} after {timeout:g} s", returncode=1)
            time.sleep(0.3)

    def _lock_tenant(self, slug: str, cleanup) -> None:
        """One simulation per tenant at a time (a second one would reset the first one's tenant):
        a session advisory lock, released when this command ends."""
        from django.db import connection

        key = f"simulate_traffic:{slug}"
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(hashtext(%s))", [key])
            if not cursor.fetchone()[0]:
                raise CommandError(f"another simulate_traffic is running for tenant {slug!r}: wait for it or "
                                   "give --tenant another slug", returncode=2)

        def unlock():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])

        cleanup.append(unlock)

    def _fresh_tenant(self, opts, strong: ModelEndpoint, weak: ModelEndpoint) -> Tenant:
        from routerhub.devtools.simulation import SIM_TENANT_NAME

        existing = Tenant.objects.filter(slug=opts["tenant"]).first()
        if existing is not None:
            if existing.name != SIM_TENANT_NAME:
                raise CommandError(f"--tenant {opts['tenant']!r} is a real tenant (not made by simulate_traffic): "
                                   "choose another slug", returncode=2)
            existing.delete()  # its requests, feedback, duels, preferences, versions and runs go with it
        return Tenant.objects.create(slug=opts["tenant"], name=SIM_TENANT_NAME, strong_model=strong, weak_model=weak,
                                     default_router_kind=opts["route_with"], routing_threshold=0.5,
                                     duel_rate=opts["duel_rate"], duel_selection=opts["duel_selection"])

    def _endpoints(self, opts, traffic, cleanup) -> tuple[ModelEndpoint, ModelEndpoint]:
        """The endpoints named --strong and --weak, on a simulated upstream that replays the file's answers."""
        from routerhub.devtools.simupstream import make_server

        endpoints = {e.name: e for e in ModelEndpoint.objects.filter(name__in=[opts["strong"], opts["weak"]])}
        missing = [name for name in (opts["strong"], opts["weak"]) if name not in endpoints]
        sim_base = None
        if missing:
            sim_base = self._start_sim(make_server, None, cleanup)
            for name in missing:
                endpoints[name] = ModelEndpoint.objects.create(name=name, upstream_model=name, base_url=sim_base)
        for endpoint in endpoints.values():
            root = endpoint.base_url.rstrip("/").removesuffix("/v1")
            if not http_answers(root + "/_sim/config"):
                parts = urlsplit(endpoint.base_url)
                if parts.hostname not in ("127.0.0.1", "localhost") or not parts.port:
                    raise CommandError(f"endpoint {endpoint.name} points at {endpoint.base_url}, not a simulated "
                                       "upstream: simulate_traffic never calls real models", returncode=2)
                self._start_sim(make_server, parts.port, cleanup)
            rows = [{"model": endpoint.upstream_model, "prompt": row["prompt"], "text": text} for row in traffic.rows
                    for model, text in (row.get("responses") or {}).items()
                    if isinstance(text, str) and model.lower() == endpoint.name]
            httpx.post(root + "/_sim/responses", json={"responses": rows}, timeout=60).raise_for_status()
        return endpoints[opts["strong"]], endpoints[opts["weak"]]

    def _start_sim(self, make_server, port, cleanup) -> str:
        server = make_server(port=port or 0)
        threading.Thread(target=server.serve_forever, name="sim-upstream", daemon=True).start()
        cleanup.append(server.shutdown)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    def _gateway(self, cleanup) -> str:
        """The gateway (Django's WSGI application) on a threaded HTTP server in this process."""
        from django.core.handlers.wsgi import WSGIHandler
        from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

        class QuietHandler(WSGIRequestHandler):
            def log_message(self, *args):
                pass

        server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=False)
        server.set_app(WSGIHandler())
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name="gateway", daemon=True).start()
        cleanup.append(server.shutdown)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    def _ensure_worker(self, cleanup) -> None:
        """A Celery worker on both queues: a running one, else one started here for this run."""
        from routerhub.celery import app

        replies = app.control.inspect(timeout=1.5).active_queues() or {}
        queues = {q["name"] for worker in replies.values() for q in worker}
        if {"default", "training"} <= queues:
            return
        self.stdout.write("no Celery worker on the default and training queues: starting one for this run")
        env = dict(os.environ, DATABASE_URL=settings.DATABASE_URL, CELERY_BROKER_URL=settings.CELERY_BROKER_URL,
                   ROUTERHUB_STATE_DIR=str(settings.STATE_DIR), PYTHONUNBUFFERED="1")
        proc = subprocess.Popen([sys.executable, "-m", "celery", "-A", "routerhub", "worker", "-Q", "default,training",
                                 "--pool", "solo", "-n", f"simulate-{os.getpid()}@%h", "-l", "WARNING",
                                 "--without-gossip", "--without-mingle"], cwd=settings.BASE_DIR, env=env)
        cleanup.append(lambda: process_stop(proc, timeout=30))

