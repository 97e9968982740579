"""Training runs: retrain the routers on everything stored, evaluate candidates against the active
versions, and promote through an evaluation gate. The Celery tasks in `training.tasks` are thin
wrappers around these functions.

A run is claimed by a conditional update (queued -> running), so a task delivered twice runs once.
Candidates are written, and promoted, only at the end, in one transaction: a run that fails, times
out or loses its worker never changes the active versions. A run whose heartbeat stops (its worker
was killed) is failed by `training_runs_fail_stale`, which beat runs every few minutes.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from training.metrics import evaluate_win_rates
from training.models import RouterVersion, TrainingRun
from training.routers import Router
from training.selectors import battles_load, router_version_active, router_version_serving
from training.services import (embeddings_for_texts, router_fit, router_for_version, router_version_activate,
                               router_version_active_locked, router_version_create)

logger = logging.getLogger(__name__)
Status = TrainingRun.Status


@dataclass
class EvaluationSet:
    name: str
    prompts: list[str]
    strong: str
    weak: str
    strong_scores: np.ndarray
    weak_scores: np.ndarray
    embeddings: np.ndarray | None = None


def training_run_queue(*, trigger: str = "manual", kinds=("sw", "mf"), tenant=None) -> TrainingRun:
    """A queued run, sent to the training queue once the row is committed. With a tenant, the run
    trains that tenant's own versions on the shared data plus its feedback (weighted
    ROUTERHUB_OWN_DATA_WEIGHT); without, the global versions on the shared data."""
    from training.tasks import training_run

    run = TrainingRun.objects.create(trigger=trigger, kinds=list(kinds), tenant=tenant,
                                     time_limit_s=settings.ROUTERHUB_TRAINING_TIME_LIMIT_S)
    transaction.on_commit(lambda: training_run.delay(run.pk))
    return run


class _Progress:
    """Writes progress, a message and the last log lines to the run's row (at most every second)."""

    def __init__(self, run: TrainingRun):
        self.run = run
        self.lines: list[str] = []
        self._written = 0.0

    def __call__(self, fraction: float, message: str, force: bool = False) -> None:
        self.lines = (self.lines + [f"{timezone.now():%H:%M:%S} {message}"])[-40:]
        logger.info("run %s: %s", self.run.pk, message)
        if force or time.monotonic() - self._written >= 1.0:
            TrainingRun.objects.filter(pk=self.run.pk).update(
                progress=max(0.0, min(1.0, fraction)), message=message[:300], log="\n".join(self.lines),
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
    newest = newest_preference_id(tenant=tenant)  # read before loading: what training sees is at least this
    sets, holdout_shas = evaluation_sets(progress, tenant=tenant)
    battles = battles_load(tenant_id=tenant.pk if tenant else None, exclude_prompt_sha256=holdout_shas)
    if len(battles) == 0:
        raise ValueError("no stored preferences to train on")
    counts = {"battles": len(battles), "prompts": len(battles.prompt_embeddings), "models": len(battles.models),
              "held_out_prompts": len(holdout_shas), "newest_preference_id": newest, **battles.meta["counts"]}
    TrainingRun.objects.filter(pk=run.pk).update(data_counts=counts)
    progress(0.05, f"training on {len(battles)} battles ({len(battles.prompt_embeddings)} prompts)", force=True)
    candidates, metrics = {}, {}
    for position, kind in enumerate(run.kinds):
        base = 0.05 + 0.85 * position / len(run.kinds)
        step = 0.85 / len(run.kinds)
        router = router_fit(kind=kind, battles=battles, params=settings.ROUTERHUB_ROUTER_PARAMS.get(kind),
                            progress=lambda f, m, kind=kind, base=base: progress(base + step * 0.7 * f, f"{kind}: {m}"))
        progress(base + step * 0.7, f"{kind}: evaluating")
        # what the candidate would replace: in a tenant's run, the version serving the tenant now
        active = router_version_serving(kind=kind, tenant=tenant)
        metrics[kind] = {"candidate": _evaluate(router, sets)}
        if active is not None:
            metrics[kind]["active"] = {"version": active.pk, **_evaluate(router_for_version(active, battles), sets)}
        candidates[kind] = router
        progress(base + step, f"{kind}: " + ", ".join(f"{name} APGR {m['apgr']:.3f}"
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
            if settings.ROUTERHUB_AUTO_PROMOTE and gate_passes(metrics[kind]):
                if candidate_promote(version=version, kind_metrics=metrics[kind]):
                    promoted.append(version.pk)
        TrainingRun.objects.filter(pk=run.pk).update(
            status=Status.SUCCEEDED, finished=timezone.now(), progress=1.0, metrics=metrics, promoted=promoted,
            message=f"done: candidates {', '.join(str(m['candidate_version']) for m in metrics.values())}"
                    + (f"; promoted {promoted}" if promoted else ""), log="\n".join(progress.lines))


def candidate_promote(*, version: RouterVersion, kind_metrics: dict) -> bool:
    """Promote a candidate that passed the gate, under its scope's lock, but only over the version
    it was compared with: if an admin or another run promoted one meanwhile, the candidate waits
    for an admin and `kind_metrics["gate_note"]` says why. Call inside the run's final transaction."""
    tenant_id = version.tenant_id
    serving = router_version_active_locked(kind=version.kind, tenant_id=tenant_id)
    if serving is None and tenant_id is not None:
        serving = router_version_active(kind=version.kind)  # the global version serves the tenant now
    compared = (kind_metrics.get("active") or {}).get("version")
    if (serving.pk if serving else None) != compared:
        kind_metrics["gate_note"] = (f"not promoted: v{serving.pk if serving else None} became active during the "
                                     f"run (the candidate was compared with v{compared}); an admin decides")
        return False
    router_version_activate(version=version)
    return True


def gate_passes(kind_metrics: dict, margin: float | None = None) -> bool:
    """The evaluation gate: the candidate beats the active version by `margin` APGR on every set
    both were evaluated on (no active version: it passes; no set: it does not)."""
    margin = settings.ROUTERHUB_PROMOTION_MARGIN if margin is None else margin
    candidate, active = kind_metrics.get("candidate") or {}, kind_metrics.get("active")
    if not candidate:
        return False
    if active is None:
        return True
    shared = [name for name in candidate if name in active and name != "version"]
    return bool(shared) and all(candidate[name]["apgr"] >= active[name]["apgr"] + margin for name in shared)


def _evaluate(router: Router, sets: list[EvaluationSet]) -> dict:
    out = {}
    for eval_set in sets:
        if np.mean(eval_set.strong_scores) == np.mean(eval_set.weak_scores):
            continue  # e.g. a held-out slice of ties only: no gap to recover, APGR is undefined
        try:
            win_rates = router.predict_win_rate(eval_set.embeddings, strong=eval_set.strong, weak=eval_set.weak)
        except KeyError:  # the router never saw one of the pair
            continue
        metrics = evaluate_win_rates(win_rates, eval_set.strong_scores, eval_set.weak_scores)
        out[eval_set.name] = {key: metrics[key] for key in ("apgr", "cpt20", "cpt50", "cpt80", "auc", "curve")}
        out[eval_set.name].update(n=len(eval_set.prompts), strong_quality=float(np.mean(eval_set.strong_scores)),
                                  weak_quality=float(np.mean(eval_set.weak_scores)))
    return out


def evaluation_sets(progress=None, tenant=None) -> tuple[list[EvaluationSet], set[str]]:
    """The configured score files (ROUTERHUB_EVAL_FILES), the time-ordered held-out slice of the
    shared preferences and, for a tenant, the newest slice of its own feedback battles (in-domain:
    what its routing will meet); also the held-out prompts' hashes, which training must leave out."""
    from training.evaluation import eval_set_load

    sets: list[EvaluationSet] = []
    strong, weak = settings.ROUTERHUB_EVAL_STRONG, settings.ROUTERHUB_EVAL_WEAK
    for path in settings.ROUTERHUB_EVAL_FILES:
        loaded = eval_set_load(path, strong=strong, weak=weak)
        if loaded.rows:
            sets.append(EvaluationSet(name=path.rsplit("/", 1)[-1], prompts=loaded.prompts, strong=strong, weak=weak,
                                      strong_scores=loaded.strong_scores, weak_scores=loaded.weak_scores))
    holdout, holdout_shas = _holdout_slice(strong, weak)
    if holdout is not None:
        sets.append(holdout)
    if tenant is not None:
        own, own_shas = _holdout_slice(tenant.strong_model.name, tenant.weak_model.name, tenant=tenant)
        if own is not None:
            sets.append(own)
            holdout_shas |= own_shas
    for eval_set in sets:
        if progress:
            progress(0.02, f"embedding {len(eval_set.prompts)} prompts of {eval_set.name}")
        eval_set.embeddings = embeddings_for_texts(eval_set.prompts)
    return sets, holdout_shas


def _holdout_slice(strong: str, weak: str, tenant=None) -> tuple[EvaluationSet | None, set[str]]:
    """The newest ROUTERHUB_EVAL_HOLDOUT_SHARE of the shared prompts, or of `tenant`'s own prompts
    (by their latest battle), held out of training; their strong-vs-weak battles become an
    evaluation set (the winner scores 1, the loser 0, a tie 0.5 each). A shared slice with too few
    battles of the pair is still held out (it stays the same slice as data grows); a tenant's is
    not held out until it has ROUTERHUB_EVAL_TENANT_HOLDOUT_MIN of them: its few labels are worth
    more in training than in a measurement too small to trust."""
    share = settings.ROUTERHUB_EVAL_HOLDOUT_SHARE
    if share <= 0:
        return None, set()
    owner_sql, owner = ("p.tenant_id = %s", [tenant.pk]) if tenant is not None else ("p.tenant_id IS NULL", [])
    with connection.cursor() as cursor:
        cursor.execute("SELECT pp.text_sha256, max(p.id) AS newest FROM feedback_preference p "
                       f"JOIN feedback_preferenceprompt pp ON pp.id = p.prompt_id WHERE {owner_sql} "
                       "AND p.source NOT LIKE 'holdout:%%' GROUP BY pp.text_sha256 ORDER BY newest DESC", owner)
        ordered = [row[0] for row in cursor.fetchall()]
        held = set(ordered[:int(len(ordered) * share)])
        if not held:
            return None, set()
        cursor.execute("SELECT pp.text_sha256, pp.text, p.model_a, p.model_b, p.winner FROM feedback_preference p "
                       f"JOIN feedback_preferenceprompt pp ON pp.id = p.prompt_id WHERE {owner_sql} AND "
                       "pp.text_sha256 = ANY(%s) AND ((p.model_a = %s AND p.model_b = %s) OR "
                       "(p.model_a = %s AND p.model_b = %s)) ORDER BY p.id",
                       owner + [list(held), strong, weak, weak, strong])
        rows = cursor.fetchall()
    if tenant is not None:
        if len(rows) < settings.ROUTERHUB_EVAL_TENANT_HOLDOUT_MIN:
            return None, set()
    elif len(rows) < settings.ROUTERHUB_EVAL_HOLDOUT_MIN:
        return None, held  # too few battles of the pair to measure anything; still held out
    prompts, strong_scores = [], []
    for _sha, text, model_a, _model_b, winner in rows:
        a_score = {"model_a": 1.0, "model_b": 0.0, "tie": 0.5}[winner]
        prompts.append(text)
        strong_scores.append(a_score if model_a == strong else 1.0 - a_score)
    strong_scores = np.array(strong_scores)
    name = f"held-out {tenant.slug} feedback" if tenant is not None else "held-out preferences"
    return EvaluationSet(name=name, prompts=prompts, strong=strong, weak=weak,
                         strong_scores=strong_scores, weak_scores=1.0 - strong_scores), held


def newest_preference_id(*, tenant=None) -> int | None:
    """The newest battle a run of this scope trains on (the shared ones, plus the tenant's own):
    what scheduled retraining compares with the last good run's."""
    from django.db.models import Max, Q

    from feedback.models import Preference

    owners = Q(tenant__isnull=True) | (Q(tenant=tenant) if tenant is not None else Q(pk__in=[]))
    return Preference.objects.filter(owners).aggregate(newest=Max("id"))["newest"]


def training_run_in_progress(*, tenant=None) -> TrainingRun | None:
    """A run of this scope that is queued or running (a second one would race it to promote)."""
    return TrainingRun.objects.filter(tenant=tenant, status__in=[Status.QUEUED, Status.RUNNING]).first()


def scheduled_retrain_queue() -> list[str]:
    """One run per scope that has something new since its last good run and none queued or running:
    the global scope (shared data) and every active tenant with feedback of its own."""
    from feedback.models import Preference
    from routerhub.tenants.models import Tenant

    training_runs_fail_stale()
    said = []
    tenants = [None] + list(Tenant.objects.filter(
        active=True, pk__in=Preference.objects.filter(tenant__isnull=False).values("tenant_id")).order_by("pk"))
    for tenant in tenants:
        scope = tenant.slug if tenant else "global"
        if training_run_in_progress(tenant=tenant):
            said.append(f"{scope}: a run is already queued or running")
            continue
        runs = TrainingRun.objects.filter(tenant=tenant)
        newest = newest_preference_id(tenant=tenant)
        last = runs.filter(status=Status.SUCCEEDED).order_by("-finished").first()
        if newest is None or (last is not None and last.data_counts.get("newest_preference_id") == newest):
            said.append(f"{scope}: no new preferences")
            continue
        said.append(f"{scope}: queued run {training_run_queue(trigger='schedule', tenant=tenant).pk}")
    return said


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
