"""Training runs: one lifecycle for every retraining (queued -> running -> succeeded / failed, with
progress, log lines, heartbeat and error on the run's row, never in a Celery result backend).
The Celery tasks in `training.tasks` are thin wrappers around these functions.

A run is claimed by a conditional update (queued -> running), so a task delivered twice runs once.
Its work (`_train_evaluate_promote`): train each kind on everything in its scope, evaluate the
candidates and the versions they would replace on the same sets (`training.evaluation`), and apply
the gate (`training.core.evaluation.gate_passes`). Candidates are written, and promoted, only at the
end, in one transaction: a run that fails, times out or loses its worker never changes the active
versions. A run whose heartbeat stops (its worker was killed) is failed by
`training_runs_fail_stale`, which beat runs every few minutes.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from feedback.models import Preference
from feedback.selectors import battles_load, newest_preference_id, tenant_ids_with_feedback
from feedback.store import preference_prompts_reembed
from routerhub.audit.services import Action, audit_record
from routerhub.embeddings.services import embedder_get
from routerhub.tenants.selectors import tenants_active
from training.core.evaluation import gate_passes
from training.core.routers import DEFAULT_TRAINING_KINDS, ROUTERS
from training.demo import DEMO_SOURCE
from training.evaluation import evaluate_on_sets, evaluation_sets
from training.models import RouterVersion, TrainingRun
from training.selectors import router_version_serving, training_run_in_progress, training_run_last_succeeded
from training.services import (
    PromotionError,
    router_fit,
    router_for_version,
    router_version_create,
    router_version_promote,
)

logger = logging.getLogger(__name__)
Status = TrainingRun.Status


class TrainingRunBusy(ValueError):
    """A run of this scope is already queued or running."""


def training_kinds_default() -> tuple[str, ...]:
    """What a run trains when not told: ROUTERHUB_TRAINING_KINDS (SW and MF unless set; add bert
    to fine-tune the BERT classifier too), and causal_llm once its classifier endpoint is set
    (ROUTERHUB_CAUSAL_LLM_ENDPOINT)."""
    kinds = tuple(settings.ROUTERHUB_TRAINING_KINDS or DEFAULT_TRAINING_KINDS)
    if settings.ROUTERHUB_CAUSAL_LLM_ENDPOINT and "causal_llm" not in kinds:
        kinds += ("causal_llm",)
    return kinds


def training_run_queue(*, trigger: str = "manual", kinds=None, tenant=None, actor=None,
                       via: str = "") -> TrainingRun:
    """A queued run, sent to the training queue once the row is committed; with an audit row when
    someone (`actor`, or `via`: the CLI) asked for it. With a tenant, the run trains that tenant's
    own versions on the shared data plus its feedback (weighted ROUTERHUB_OWN_DATA_WEIGHT); without,
    the global versions on the shared data. Raises TrainingRunBusy when the scope has one going."""
    from training.tasks import training_run

    kinds = tuple(kinds or training_kinds_default())
    with transaction.atomic():
        busy = training_run_in_progress(tenant=tenant)
        if busy is not None:
            raise TrainingRunBusy(f"Training run {busy.pk} for this scope is {busy.status}: wait for it to end.")
        run = TrainingRun.objects.create(trigger=trigger, kinds=list(kinds), tenant=tenant,
                                         time_limit_s=settings.ROUTERHUB_TRAINING_TIME_LIMIT_S)
        if actor is not None or via:
            audit_record(actor=actor, via=via, action=Action.RETRAIN_QUEUED, tenant=tenant,
                         summary=f"training run {run.pk} queued ({', '.join(kinds)}; "
                                 f"{tenant.slug if tenant else 'global'})", details={"run": run.pk})
        transaction.on_commit(lambda: training_run.delay(run.pk))
    return run


class _Progress:
    """Writes progress, a message and the last log lines to the run's row (at most every second)."""

    def __init__(self, run: TrainingRun):
        self.run = run
        self.lines: list[str] = []
        self._written = 0.0
        self.start, self.span = 0.0, 1.0  # the part of the bar this stage fills (a bootstrap run: import, then train)

    def __call__(self, fraction: float, message: str, force: bool = False) -> None:
        self.lines = (self.lines + [f"{timezone.now():%H:%M:%S} {message}"])[-40:]
        logger.info("run %s: %s", self.run.pk, message)
        if force or time.monotonic() - self._written >= 1.0:
            TrainingRun.objects.filter(pk=self.run.pk).update(
                progress=max(0.0, min(1.0, self.start + self.span * fraction)), message=message[:300],
                log="\n".join(self.lines),
                heartbeat=timezone.now())
            self._written = time.monotonic()


def training_run_execute(*, run_id: int) -> TrainingRun:
    """Run a queued run to its end. Idempotent: a run that is not queued is left as it is."""
    now = timezone.now()
    if not TrainingRun.objects.filter(pk=run_id, status=Status.QUEUED).update(
            status=Status.RUNNING, started=now, heartbeat=now, message="starting"):
        return TrainingRun.objects.get(pk=run_id)
    run = TrainingRun.objects.get(pk=run_id)
    progress = _Progress(run)
    beating = threading.Event()
    heart = threading.Thread(target=_heartbeat, args=(run.pk, beating), name=f"run-{run.pk}-heartbeat", daemon=True)
    heart.start()
    try:
        _train_evaluate_promote(run, progress)
    except BaseException as exc:  # SoftTimeLimitExceeded included: never leave a run running
        TrainingRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(
            status=Status.FAILED, finished=timezone.now(), error=f"{type(exc).__name__}: {exc}"[:5000],
            message="failed", log="\n".join(progress.lines))
        logger.exception("training run %s failed", run.pk)
        if not isinstance(exc, Exception):
            raise
    finally:
        beating.set()
        heart.join(5)
    return TrainingRun.objects.get(pk=run.pk)


def _heartbeat(run_id: int, stop: threading.Event) -> None:
    """Say the run is alive while steps without progress reports (fits, evaluations) go on."""
    try:
        while not stop.wait(min(30.0, settings.ROUTERHUB_TRAINING_HEARTBEAT_TIMEOUT_S / 3)):
            TrainingRun.objects.filter(pk=run_id, status=Status.RUNNING).update(heartbeat=timezone.now())
    finally:
        connection.close()


def _train_evaluate_promote(run: TrainingRun, progress: _Progress) -> None:
    tenant = run.tenant
    tenant_id = tenant.pk if tenant else None
    imported = {}
    if run.trigger == BOOTSTRAP:  # importing (and embedding) takes most of such a run: half the bar
        progress.span = 0.5
        imported = _bootstrap_import(progress)
        progress.start, progress.span = 0.5, 0.5
    reembedded = preference_prompts_reembed()  # after a change of embedder: the store's vectors first
    if reembedded:
        progress(0.01, f"re-embedded {reembedded} stored prompts with {embedder_get().name}", force=True)
    newest = newest_preference_id(tenant_id=tenant_id)  # read before loading: what training sees is at least this
    sets, holdout_shas = evaluation_sets(progress, tenant=tenant)
    # the demo set (training/demo.py) only stands in until real preferences are stored
    real_data = Preference.objects.exclude(source=DEMO_SOURCE).exists()
    battles = battles_load(tenant_id=tenant_id, exclude_prompt_sha256=holdout_shas,
                           with_texts=any(ROUTERS[kind].reads_text for kind in run.kinds),
                           source_weights={DEMO_SOURCE: 0.0} if real_data else None)
    if len(battles) == 0:
        raise ValueError("no stored preferences to train on: import some first (python manage.py "
                         "import_preferences FILE..., battles or score-table JSONL or Chatbot Arena CSV; or start "
                         "with ROUTERHUB_BOOTSTRAP_DATA=FILES_OR_FOLDERS make run), then retrain")
    counts = {"battles": len(battles), "prompts": len(battles.prompt_embeddings), "models": len(battles.models),
              "held_out_prompts": len(holdout_shas), "newest_preference_id": newest, **battles.meta["counts"],
              **({"bootstrap_files": imported} if run.trigger == BOOTSTRAP else {})}
    TrainingRun.objects.filter(pk=run.pk).update(data_counts=counts)
    progress(0.05, f"training on {len(battles)} battles ({len(battles.prompt_embeddings)} prompts)", force=True)
    candidates, metrics, replaces = {}, {}, {}
    for position, kind in enumerate(run.kinds):
        base = 0.05 + 0.85 * position / len(run.kinds)
        step = 0.85 / len(run.kinds)
        router = router_fit(kind=kind, battles=battles, params=settings.ROUTERHUB_ROUTER_PARAMS.get(kind),
                            progress=lambda f, m, kind=kind, base=base, step=step: progress(base + step * 0.7 * f,
                                                                                              f"{kind}: {m}"))
        progress(base + step * 0.7, f"{kind}: evaluating")
        # what the candidate would replace: in a tenant's run, the version serving the tenant now
        active = router_version_serving(kind=kind, tenant=tenant)
        metrics[kind] = {"candidate": evaluate_on_sets(router, sets)}
        if active is not None and active.on_other_embedder:
            # trained on vectors this deployment no longer computes: not served, and not comparable
            metrics[kind]["active"] = {"version": active.pk, "embedder": active.embedder}
            replaces[kind] = f"replaces v{active.pk}, trained on {active.embedder} embeddings"
        elif active is not None:
            metrics[kind]["active"] = {"version": active.pk,
                                       **evaluate_on_sets(router_for_version(active, battles), sets)}
            replaces[kind] = "replaces the demo router" if active.is_demo else None
        else:
            replaces[kind] = "the first real version of its kind" if run.trigger == BOOTSTRAP else None
        candidates[kind] = router
        progress(base + step, f"{kind}: " + ", ".join(
            f"{name} APGR {m['apgr']:.3f}" if "apgr" in m else f"{name} AIQ {m['aiq']:.3f}"
            for name, m in metrics[kind]["candidate"].items()))
    promoted = []
    with transaction.atomic():
        if TrainingRun.objects.select_for_update().get(pk=run.pk).status != Status.RUNNING:
            raise RuntimeError("the run was failed meanwhile (as stale): its candidates are not kept")
        for kind, router in candidates.items():
            version = router_version_create(router=router, battles=battles, metrics=metrics[kind]["candidate"],
                                            data_params={"held_out_prompts": len(holdout_shas)}, training_run=run,
                                            tenant=tenant)
            metrics[kind]["candidate_version"] = version.pk
            # a version trained on real data always replaces a demo router or one on another embedder
            # (or fills an empty scope on a bootstrap run); otherwise the gate decides, when
            # promotion is automatic
            if real_data and replaces[kind]:
                metrics[kind]["gate_note"] = replaces[kind]
                if candidate_promote(version=version, kind_metrics=metrics[kind], run=run):
                    promoted.append(version.pk)
            elif settings.ROUTERHUB_AUTO_PROMOTE and gate_passes(metrics[kind], settings.ROUTERHUB_PROMOTION_MARGIN):
                if candidate_promote(version=version, kind_metrics=metrics[kind], run=run):
                    promoted.append(version.pk)
        TrainingRun.objects.filter(pk=run.pk).update(
            status=Status.SUCCEEDED, finished=timezone.now(), progress=1.0, metrics=metrics, promoted=promoted,
            message=f"done: candidates {', '.join(str(m['candidate_version']) for m in metrics.values())}"
                    + (f"; promoted {promoted}" if promoted else ""), log="\n".join(progress.lines))


BOOTSTRAP = "bootstrap"
EMBEDDER = "embedder"  # queued at start after a change of embedder (`embedder_change_queue`)


def bootstrap_files(spec: str | None = None) -> list[Path]:
    """The preference files ROUTERHUB_BOOTSTRAP_DATA names: files or folders (their files, sorted),
    separated by commas or the path separator."""
    spec = settings.ROUTERHUB_BOOTSTRAP_DATA if spec is None else spec
    files: list[Path] = []
    for item in [part.strip() for chunk in (spec or "").split(",") for part in chunk.split(os.pathsep)]:
        path = Path(item).expanduser()
        if not item:
            continue
        if path.is_dir():
            files += sorted(p.resolve() for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
        elif path.is_file():
            files.append(path.resolve())
        else:
            logger.warning("ROUTERHUB_BOOTSTRAP_DATA: %s is neither a file nor a folder; skipped", path)
    return files


def _fingerprint(path: Path) -> str:
    stat = path.stat()
    return f"{path}:{stat.st_size}:{int(stat.st_mtime)}"


def bootstrap_imported() -> set[str]:
    """Fingerprints (path, size, mtime) of the files earlier bootstrap runs imported."""
    done: set[str] = set()
    for counts in TrainingRun.objects.filter(trigger=BOOTSTRAP, status=Status.SUCCEEDED).values_list(
            "data_counts", flat=True):
        done.update((counts or {}).get("bootstrap_files", {}).keys())
    return done


def bootstrap_queue(*, via: str) -> TrainingRun | None:
    """At start (`make run` with ROUTERHUB_BOOTSTRAP_DATA): queue a global run that imports the files
    no earlier bootstrap run imported and trains every kind, when there are such files or a demo
    router (or nothing) still serves; None when there is nothing to do or a run is going already."""
    files = bootstrap_files()
    if not files:
        return None
    done = bootstrap_imported()  # one read of the earlier runs, not one per file
    new = [path for path in files if _fingerprint(path) not in done]
    actives = [router_version_serving(kind=kind, tenant=None) for kind in DEFAULT_TRAINING_KINDS]
    if not new and all(version is not None and not version.is_demo for version in actives):
        return None
    try:
        return training_run_queue(trigger=BOOTSTRAP, via=via)
    except TrainingRunBusy:
        # one is queued or running already; a queued one whose message was lost (the stack stopped
        # before a worker took it) is sent again: a run is claimed once, so a second message is harmless
        from training.tasks import training_run

        queued = TrainingRun.objects.filter(tenant=None, status=Status.QUEUED).first()
        if queued is not None:
            training_run.delay(queued.pk)
        return queued


def _bootstrap_import(progress: _Progress) -> dict[str, dict]:
    """Import the bootstrap files not imported before (idempotent per battle anyway); their
    fingerprints and counts, for the run's row."""
    from feedback.store import preferences_import

    done = bootstrap_imported()
    files = [path for path in bootstrap_files() if _fingerprint(path) not in done]
    imported = {}
    for position, path in enumerate(files, 1):
        progress((position - 1) / max(1, len(files)),
                 f"importing {path.name} ({position} of {len(files)}): parsing and embedding new prompts", force=True)
        try:
            report = preferences_import(path=path)
        except ValueError as exc:  # not a preference file: said, and the others go on
            progress(position / len(files), f"skipped {path.name}: {exc}", force=True)
            continue
        imported[_fingerprint(path)] = {"battles": report.battles, "created": report.created}
        progress(position / len(files), f"imported {path.name}: {report.created} new battles "
                                               f"({report.duplicates} already stored)", force=True)
    return imported


def candidate_promote(*, version: RouterVersion, kind_metrics: dict, run: TrainingRun | None = None) -> bool:
    """Promote a candidate that passed the gate, but only over the version it was compared with:
    if an admin or another run promoted one meanwhile, the candidate waits for an admin and
    `kind_metrics["gate_note"]` says why. Call inside the run's final transaction."""
    compared = (kind_metrics.get("active") or {}).get("version")
    try:
        with transaction.atomic():
            router_version_promote(version=version, via=f"training run {run.pk}" if run else "training run",
                                   expected_active=compared)
    except PromotionError as exc:
        kind_metrics["gate_note"] = f"not promoted: {exc}"
        return False
    return True


def scheduled_retrain_queue() -> list[str]:
    """One run per scope that has something new since its last good run and none queued or running:
    the global scope (shared data) and every active tenant with feedback of its own."""
    training_runs_fail_stale()
    said = []
    for tenant in [None] + tenants_active(ids=tenant_ids_with_feedback()):
        scope = tenant.slug if tenant else "global"
        if training_run_in_progress(tenant=tenant):
            said.append(f"{scope}: a run is already queued or running")
            continue
        newest = newest_preference_id(tenant_id=tenant.pk if tenant else None)
        last = training_run_last_succeeded(tenant=tenant)
        if newest is None or (last is not None and last.data_counts.get("newest_preference_id") == newest
                              and not versions_on_other_embedder(tenant=tenant)):
            said.append(f"{scope}: no new preferences")
            continue
        try:
            said.append(f"{scope}: queued run {training_run_queue(trigger='schedule', tenant=tenant).pk}")
        except TrainingRunBusy:
            said.append(f"{scope}: a run is already queued or running")
    return said


def versions_on_other_embedder(*, tenant=None) -> list[RouterVersion]:
    """The scope's active versions trained on another embedder than the configured one: web
    processes refuse to serve them."""
    return [version for version in RouterVersion.objects.filter(status=RouterVersion.Status.ACTIVE, tenant=tenant)
            if version.on_other_embedder]


def embedder_change_queue(*, via: str) -> list[TrainingRun]:
    """After a change of embedder (ROUTERHUB_EMBEDDING_*): a run for every scope whose active
    versions were trained on the old vectors, so that real routers serve again without waiting for
    the hourly schedule. Its candidates replace those versions whatever the gate says. A store of
    demo battles alone has nothing to train on: `demo_router_ensure` retrains the demo router."""
    if not Preference.objects.exclude(source=DEMO_SOURCE).exists():
        return []
    tenant_ids = set(RouterVersion.objects.filter(status=RouterVersion.Status.ACTIVE, tenant__isnull=False)
                     .values_list("tenant_id", flat=True))
    queued = []
    for tenant in [None] + tenants_active(ids=tenant_ids):
        if not versions_on_other_embedder(tenant=tenant):
            continue
        try:
            queued.append(training_run_queue(trigger=EMBEDDER, tenant=tenant, via=via))
        except TrainingRunBusy:
            pass  # a queued or running run retrains this scope already
    return queued


def training_runs_fail_stale() -> int:
    """Fail runs that are running past their time limit or whose heartbeat stopped (worker lost),
    and queued runs no worker took within the time limit (a lost message). Returns how many."""
    now = timezone.now()
    stale = 0
    for run in TrainingRun.objects.filter(status=Status.QUEUED):
        if now - run.created > timedelta(seconds=run.time_limit_s):
            stale += TrainingRun.objects.filter(pk=run.pk, status=Status.QUEUED).update(
                status=Status.FAILED, finished=now, error="failed as stale: no worker took it within its time limit",
                message="failed (never started)")
    heartbeat_cutoff = now - timedelta(seconds=settings.ROUTERHUB_TRAINING_HEARTBEAT_TIMEOUT_S)
    for run in TrainingRun.objects.filter(status=Status.RUNNING):
        over_time = run.started and now - run.started > timedelta(seconds=run.time_limit_s)
        silent = run.heartbeat is None or run.heartbeat < heartbeat_cutoff
        if over_time or silent:
            reason = "ran past its time limit" if over_time else "its worker stopped reporting (killed or lost)"
            stale += TrainingRun.objects.filter(pk=run.pk, status=Status.RUNNING).update(
                status=Status.FAILED, finished=now, error=f"failed as stale: {reason}", message="failed (stale)")
    return stale
