"""The console's reads: traffic and savings, threshold calibration and preview, router versions,
requests, the arena queue, the audit log. Views render what these return and nothing else."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

import numpy as np
from django.conf import settings
from django.utils import timezone

from feedback import selectors as feedback_selectors
from feedback.models import Duel
from routerhub.gateway import selectors as gateway_selectors
from routerhub.tenants.models import Tenant
from routerhub.tenants.selectors import tenant_pool_members
from training.core.calibration import (
    KNOB_GRID,
    costs_at_thresholds,
    strong_share_at,
    strong_share_on_curve,
    threshold_for_strong_share,
    threshold_index_for_cost,
    threshold_on_curve,
)
from training.core.evaluation import gate_passes
from training.models import RouterVersion, TrainingRun
from training.selectors import router_version_serving, router_versions_recent, training_runs_recent

PERIODS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30), "90d": timedelta(days=90)}
# the recent traffic a target share is calibrated on, and the least of it worth trusting
CALIBRATION_WINDOW = 2000
CALIBRATION_MIN = 50


def period_bounds(period: str, now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or timezone.now()
    return now - PERIODS.get(period, PERIODS["7d"]), now


@dataclass
class Overview:
    """The overview's numbers (`gateway.selectors.traffic_totals` says what each counts)."""

    requests: int = 0
    answered: int = 0
    routed: int = 0  # answered requests the router chose the model of
    strong: int = 0  # of those, answered by the reference model
    spend: Decimal = Decimal(0)  # every answered request
    routed_spend: Decimal = Decimal(0)
    spend_reference: Decimal = Decimal(0)  # the routed ones, all at the tenant's reference model
    direct: int = 0  # answered requests that named a model: not the router's, not in the savings
    direct_spend: Decimal = Decimal(0)
    duel_spend: Decimal = Decimal(0)
    client_errors: int = 0  # 4xx: refused input, limits
    errors: int = 0  # upstream and server failures
    fallbacks: int = 0
    with_feedback: int = 0
    thumbs: list[dict] = field(default_factory=list)  # per served model: {model, up, total, rate}
    models: list[dict] = field(default_factory=list)  # per served model: requests, spend and their shares

    @property
    def strong_share(self) -> float | None:
        return self.strong / self.routed if self.routed else None

    @property
    def savings(self) -> Decimal:
        return self.spend_reference - self.routed_spend

    @property
    def savings_pct(self) -> float | None:
        return float(self.savings / self.spend_reference * 100) if self.spend_reference else None

    @property
    def error_rate(self) -> float | None:
        """Every request that was not answered: refused (4xx) or failed (upstream, server)."""
        return (self.client_errors + self.errors) / self.requests if self.requests else None

    @property
    def fallback_rate(self) -> float | None:
        return self.fallbacks / self.answered if self.answered else None

    @property
    def feedback_rate(self) -> float | None:
        return self.with_feedback / self.answered if self.answered else None


def overview(*, tenant: Tenant | None, since: datetime, until: datetime) -> Overview:
    """Traffic, spend and savings: what was spent, against what the same requests would have cost
    had every one gone to its tenant's reference model (the most expensive model of its pool, or the
    strong model of a pair; same tokens, that model's prices), and each model's share."""
    out = Overview(**gateway_selectors.traffic_totals(tenant=tenant, since=since, until=until))
    out.duel_spend = feedback_selectors.duel_spend(tenant=tenant, since=since, until=until)
    out.thumbs = feedback_selectors.thumbs_by_served_model(
        requests=gateway_selectors.requests_in_period(tenant=tenant, since=since, until=until, answered=True))
    return out


def traffic_series(*, tenant: Tenant | None, since: datetime, until: datetime) -> list[dict]:
    return gateway_selectors.traffic_series(tenant=tenant, since=since, until=until)


def win_rates_recent(*, tenant: Tenant, limit: int = CALIBRATION_WINDOW) -> np.ndarray:
    return gateway_selectors.win_rates_recent(tenant=tenant, limit=limit)


def win_rates_window(*, tenant: Tenant | None, since: datetime, until: datetime) -> np.ndarray:
    return gateway_selectors.win_rates_window(tenant=tenant, since=since, until=until)


def version_serving(*, tenant: Tenant, kind: str | None = None) -> RouterVersion | None:
    return router_version_serving(kind=kind or tenant.default_router_kind, tenant=tenant)


def _eval_curve(version: RouterVersion | None) -> tuple[str, dict] | None:
    """The version's evaluation curve (the largest evaluation set that has one)."""
    if version is None:
        return None
    curves = [(name, m) for name, m in (version.metrics or {}).items()
              if isinstance(m, dict) and isinstance(m.get("curve"), dict) and m["curve"].get("share")]
    if not curves:
        return None
    return max(curves, key=lambda item: item[1].get("n", 0))


@dataclass
class Calibration:
    threshold: float
    basis: str  # what it was calibrated on
    n: int


def threshold_for_share(*, tenant: Tenant, strong_share: float) -> Calibration:
    """The threshold that sends `strong_share` of the tenant's traffic to the strong model: the
    (1 − share) quantile of its recent win rates; with little traffic (< CALIBRATION_MIN), read off
    the serving version's evaluation curve (its thresholds at each share)."""
    if not 0.0 <= strong_share <= 1.0:
        raise ValueError("a strong-call share is in [0, 1]")
    recent = win_rates_recent(tenant=tenant)
    if len(recent) >= CALIBRATION_MIN:
        return Calibration(threshold_for_strong_share(recent, strong_share), "the tenant's recent traffic", len(recent))
    version = version_serving(tenant=tenant)
    found = _eval_curve(version)
    if found is None or "threshold" not in found[1]["curve"]:
        raise ValueError(f"too little traffic ({len(recent)} routed requests, {CALIBRATION_MIN} needed) and no "
                         "evaluation curve on the serving router version: set a number instead")
    name, metrics = found
    return Calibration(threshold_on_curve(metrics["curve"], strong_share), f"evaluation set “{name}” of v{version.pk}",
                       int(metrics.get("n", 0)))


@dataclass
class CostPreview:
    """What a threshold costs: the mean cost per request, against every request to the most
    expensive candidate, each candidate's share of the requests, and the quality read off the
    serving version's pool curve at the same share of that cost."""

    threshold: float
    mean_cost: float  # USD per request
    reference_cost: float  # USD per request, had every request gone to the most expensive candidate
    shares: list[tuple[str, float]]  # each candidate's share of the requests (empty on a curve)
    basis: str
    n: int
    quality: float | None = None
    quality_basis: str = "no curve on the serving version"
    strong_share: float | None = None  # a pair read off its evaluation curve (no per-model shares)

    @property
    def cost_share(self) -> float | None:
        return self.mean_cost / self.reference_cost if self.reference_cost else None


@dataclass
class Preview:
    threshold: float
    strong_share: float | None
    share_basis: str
    expected_quality: float | None  # mean score, from the evaluation curve at that share
    quality_range: tuple[float, float] | None  # (all weak, all strong) on that set
    quality_basis: str
    cost: CostPreview | None = None
    cost_unavailable: str = ""  # why there is no cost preview


def threshold_preview(*, tenant: Tenant, threshold: float) -> Preview:
    """What a threshold would do, before it is saved: for a pair, the strong-call share on the
    tenant's recent traffic (or the evaluation set) and the expected quality read off the serving
    version's curve; for any tenant, its mean cost per request and each model's share
    (`knob_cost`)."""
    cost, cost_unavailable = None, ""
    try:
        cost = knob_cost(tenant=tenant, threshold=threshold)
    except ValueError as exc:
        cost_unavailable = str(exc)
    if tenant_pool_members(tenant):  # a pool: the pair's strong share means nothing here
        return Preview(threshold, None, "a pool: see the cost and shares", cost.quality if cost else None, None,
                       cost.quality_basis if cost else "no pool curve", cost, cost_unavailable)
    recent = win_rates_recent(tenant=tenant)
    found = _eval_curve(version_serving(tenant=tenant))
    share, basis = None, "no traffic and no evaluation curve"
    if len(recent) >= CALIBRATION_MIN:
        share, basis = strong_share_at(recent, threshold), f"the tenant's last {len(recent)} routed requests"
    elif found is not None and "threshold" in found[1]["curve"]:
        share = strong_share_on_curve(found[1]["curve"], threshold)
        basis = f"evaluation set “{found[0]}”"
    quality, quality_range, quality_basis = None, None, "no evaluation curve on the serving version"
    if found is not None and share is not None:
        name, metrics = found
        quality = float(np.interp(share, metrics["curve"]["share"], metrics["curve"]["quality"]))
        if "weak_quality" in metrics:
            quality_range = (metrics["weak_quality"], metrics["strong_quality"])
        quality_basis = f"evaluation set “{name}” (n={metrics.get('n', '?')})"
    return Preview(threshold, share, basis, quality, quality_range, quality_basis, cost, cost_unavailable)


def _pool_curve(version: RouterVersion | None, models: list[str]) -> tuple[str, dict] | None:
    """The version's pool curve (thresholds, cost, quality) on a priced set of exactly these
    models (the largest such set); a curve over other models says nothing of this pool."""
    if version is None:
        return None
    curves = [(name, m) for name, m in (version.metrics or {}).items()
              if isinstance(m, dict) and isinstance(m.get("pool"), list) and sorted(m["pool"]) == sorted(models)
              and isinstance(m.get("curve"), dict) and m["curve"].get("threshold")
              and m.get("reference", {}).get("max_cost")]
    return max(curves, key=lambda item: item[1].get("n", 0)) if curves else None


def knob_cost(*, tenant: Tenant, threshold: float | None = None, target_cost: float | None = None) -> CostPreview:
    """The mean cost per request at `threshold`, or the threshold that keeps it at `target_cost`
    (USD; the lowest such threshold, i.e. the most quality within the budget). ValueError saying
    why when it cannot be told.

    Basis: the tenant's last routed requests that rated every model of its pool (or pair), when
    there are at least CALIBRATION_MIN: the decision rule replayed on their stored scores, each
    model priced per request as the gateway prices it (the request's prompt tokens, the model's
    expected completion tokens). With fewer, the serving version's curve, priced at the tenant's
    mean prompt: for a pool, its pool curve over exactly these models, read as a share of the most
    expensive model's cost; for a pair, its evaluation curve, where a strong share s costs
    weak + s × (strong − weak)."""
    members = tenant_pool_members(tenant)
    endpoints = members or [tenant.strong_model, tenant.weak_model]
    names = [e.name for e in endpoints]
    completion = np.array(gateway_selectors.completion_tokens_for(tenant=tenant, names=names), dtype=np.float64)
    price_in = np.array([float(e.input_price_per_mtok) for e in endpoints])
    price_out = np.array([float(e.output_price_per_mtok) for e in endpoints])
    ratings, tokens = gateway_selectors.scores_recent(tenant=tenant, models=names, limit=CALIBRATION_WINDOW)
    version = version_serving(tenant=tenant)
    curve = _pool_curve(version, names) if members else _eval_curve(version)
    if len(ratings) >= CALIBRATION_MIN:
        costs = (tokens[:, None] * price_in[None, :] + completion[None, :] * price_out[None, :]) / 1e6
        # candidates most expensive first, as the gateway orders them (a pair: strong first)
        order = np.argsort(-costs.mean(axis=0), kind="stable") if members else np.arange(len(names))
        thresholds = KNOB_GRID if target_cost is not None else np.array([threshold])
        mean_costs, shares = costs_at_thresholds(ratings, costs, thresholds, order)
        index = threshold_index_for_cost(thresholds, mean_costs, target_cost) if target_cost is not None else 0
        preview = CostPreview(float(thresholds[index]), float(mean_costs[index]), float(costs[:, order[0]].mean()),
                              sorted(zip(names, shares[index].tolist()), key=lambda item: -item[1]),
                              f"the tenant's last {len(ratings)} routed requests", len(ratings))
    elif curve is not None:
        prompt = gateway_selectors.prompt_tokens_mean(tenant=tenant)
        if prompt is None:
            raise ValueError(f"too little traffic to replay ({len(ratings)} routed requests rated every model, "
                             f"{CALIBRATION_MIN} needed) and no request yet to price one by")
        per_request = (prompt * price_in + completion * price_out) / 1e6
        basis = (f"the {'pool' if members else 'evaluation'} curve of “{curve[0]}” (too little traffic: {len(ratings)} routed requests rated every "
                 f"model, {CALIBRATION_MIN} needed), priced at the tenant's mean prompt of {prompt:.0f} tokens")
        preview = (_on_pool_curve if members else _on_pair_curve)(curve[1], per_request, threshold, target_cost)
        preview.basis, preview.n = basis, int(curve[1].get("n", 0))
    else:
        what = "pool curve over exactly these models" if members else "evaluation curve"
        raise ValueError(f"too little traffic ({len(ratings)} routed requests rated every model, {CALIBRATION_MIN} "
                         f"needed) and no {what} on the serving router version")
    if curve is not None:
        name, metrics = curve
        if members:  # the pool curve at the same share of the most expensive model's cost
            relative = _relative_costs(metrics)
            order = np.argsort(relative, kind="stable")
            at = preview.cost_share
            quality = np.asarray(metrics["curve"]["quality"])[order]
            preview.quality = None if at is None else float(np.interp(at, relative[order], quality))
            preview.quality_basis = (f"the pool curve of “{name}” (n={metrics.get('n', '?')}) at the same share of "
                                     "the most expensive model's cost")
        else:  # the pair's evaluation curve at the same strong share
            share = dict(preview.shares).get(names[0]) if preview.shares else preview.strong_share
            if share is not None:
                preview.quality = float(np.interp(share, metrics["curve"]["share"], metrics["curve"]["quality"]))
                preview.quality_basis = f"evaluation set “{name}” (n={metrics.get('n', '?')}) at the same strong share"
    return preview


def _relative_costs(metrics: dict) -> np.ndarray:
    """A pool curve's costs as shares of its most expensive single model's cost."""
    return np.asarray(metrics["curve"]["cost"], dtype=np.float64) / metrics["reference"]["max_cost"]


def _on_pool_curve(metrics: dict, per_request: np.ndarray, threshold, target_cost) -> CostPreview:
    """A pool's knob on its curve: the curve's cost as a share of its most expensive model's,
    times this tenant's cost per request of its most expensive model."""
    reference_cost = float(per_request.max())
    thresholds, relative = np.asarray(metrics["curve"]["threshold"], dtype=np.float64), _relative_costs(metrics)
    if target_cost is not None:
        if not reference_cost:
            raise ValueError("the most expensive model costs nothing per request: any target is met")
        index = threshold_index_for_cost(thresholds, relative, target_cost / reference_cost)
        at, share_of_cost = float(thresholds[index]), float(relative[index])
    else:
        order = np.argsort(thresholds)
        at = float(threshold)
        share_of_cost = float(np.interp(at, thresholds[order], relative[order]))
    return CostPreview(at, share_of_cost * reference_cost, reference_cost, [], "", 0)


def _on_pair_curve(metrics: dict, per_request: np.ndarray, threshold, target_cost) -> CostPreview:
    """A pair's knob on its evaluation curve: a strong share s costs weak + s × (strong − weak)."""
    strong, weak = float(per_request[0]), float(per_request[1])
    if target_cost is not None:
        if strong <= weak:
            share = 1.0 if target_cost >= strong else 0.0
        else:
            share = float(np.clip((target_cost - weak) / (strong - weak), 0.0, 1.0))
        if target_cost < min(strong, weak) * (1 - 1e-9):
            raise ValueError(f"no threshold keeps the mean cost at or below ${target_cost:g}: the lowest reachable is "
                             f"${min(strong, weak):.6f} per request")
        at = threshold_on_curve(metrics["curve"], share)
    else:
        at = float(threshold)
        share = strong_share_on_curve(metrics["curve"], at)
    preview = CostPreview(at, weak + share * (strong - weak), strong, [], "", 0)
    preview.strong_share = share
    return preview


def tenant_spend(*, tenant: Tenant) -> dict:
    """This month's spend (answers and duels) against the tenant's budget, its rate limits, and
    today's duels against its daily duel budget."""
    from routerhub.gateway.limits import month_spend

    spent = month_spend(tenant)
    budget = tenant.monthly_budget_usd
    return {"spent": spent, "budget": budget,
            "remaining": max(budget - spent, Decimal(0)) if budget is not None and spent is not None else None,
            "used": float(spent / budget) if budget and spent is not None else None,
            "rpm": tenant.rate_limit_rpm, "tpm": tenant.rate_limit_tpm, "action": tenant.get_budget_action_display(),
            "duels_today": feedback_selectors.duels_today(tenant=tenant), "duel_budget": tenant.duel_budget_usd_per_day,
            "duel_rate": tenant.duel_rate, "duel_selection": tenant.get_duel_selection_display()}


# --- router versions
def versions_table(*, kind: str) -> list[dict]:
    """Every version of `kind`, newest first, with its metrics per set and the change against the
    active version of its scope."""
    versions = router_versions_recent(kind=kind)
    active = {v.tenant_id: v for v in versions if v.status == RouterVersion.Status.ACTIVE}
    global_active = active.get(None)
    rows = []
    for version in versions:
        reference = active.get(version.tenant_id) or global_active
        rows.append({"version": version, "sets": version_sets(version, reference)})
    return rows


def version_sets(version: RouterVersion, reference: RouterVersion | None) -> list[dict]:
    sets = []
    for name, m in sorted((version.metrics or {}).items()):
        if not isinstance(m, dict) or "apgr" not in m:
            continue
        ref = (reference.metrics or {}).get(name) if reference is not None and reference.pk != version.pk else None
        sets.append({"name": name, "n": m.get("n"), "apgr": m["apgr"], "cpt50": m.get("cpt50"), "cpt80": m.get("cpt80"),
                     "delta": (m["apgr"] - ref["apgr"]) if isinstance(ref, dict) and "apgr" in ref else None})
    return sets


def gate_verdict(version: RouterVersion) -> dict | None:
    """What the evaluation gate said of this candidate in its training run, if it ran one."""
    run = version.training_run
    if run is None:
        return None
    for kind_metrics in (run.metrics or {}).values():
        if isinstance(kind_metrics, dict) and kind_metrics.get("candidate_version") == version.pk:
            active = kind_metrics.get("active")
            return {"passes": gate_passes(kind_metrics, settings.ROUTERHUB_PROMOTION_MARGIN), "against": active.get("version") if active else None,
                    "promoted": version.pk in (run.promoted or [])}
    return None


def run_results(run: TrainingRun) -> list[dict]:
    """Per kind: each set's APGR for the candidate and the version it would replace, and the gate."""
    out = []
    for kind, m in sorted((run.metrics or {}).items()):
        if not isinstance(m, dict):
            continue
        active = m.get("active") or {}
        sets = [{"name": name, "candidate": c.get("apgr"), "active": (active.get(name) or {}).get("apgr")}
                for name, c in sorted((m.get("candidate") or {}).items()) if isinstance(c, dict)]
        out.append({"kind": kind, "candidate": m.get("candidate_version"), "active": active.get("version"),
                    "sets": sets, "gate": gate_passes(m, settings.ROUTERHUB_PROMOTION_MARGIN),
                    "promoted": m.get("candidate_version") in (run.promoted or []), "note": m.get("gate_note", "")})
    return out


def runs_recent(*, limit: int = 50):
    return training_runs_recent(limit=limit)


# --- requests
def requests_filtered(**filters):
    return gateway_selectors.requests_filtered(**filters)


def served_models() -> list[str]:
    return gateway_selectors.served_models()


# --- arena
def arena_queue(*, tenant=None):
    return feedback_selectors.duels_awaiting_label(tenant=tenant).order_by("skips", "created")


def arena_swapped(duel: Duel) -> bool:
    """Whether the arena shows model b on the left (half of the duels, fixed per duel)."""
    return duel.pk % 2 == 1


def audit_events(*, tenant=None, router_version=None, limit: int = 20):
    from routerhub.audit.selectors import audit_events as events

    return events(tenant=tenant, router_version=router_version, limit=limit)


def data_status() -> dict:
    """Whether real preferences are stored, and which active versions are demo routers: the hint
    the overview and training pages show before there is real data (training/demo.py)."""
    from feedback.models import Preference
    from training.demo import DEMO_SOURCE

    demo = [v for v in RouterVersion.objects.filter(status=RouterVersion.Status.ACTIVE) if v.is_demo]
    return {"real_data": Preference.objects.exclude(source=DEMO_SOURCE).exists(), "demo_versions": demo}


def run_failure_hint(run: TrainingRun) -> str:
    """What to do about a failed run, from what failed."""
    error = run.error or ""
    if run.status != TrainingRun.Status.FAILED:
        return ""
    if "no stored preferences" in error:
        return ("Import preferences first: python manage.py import_preferences FILE_OR_FOLDER... (battles or "
                "score-table JSONL, or the Chatbot Arena CSV), then Retrain now.")
    if "no worker took it" in error:
        return ("No worker consumed the training queue: check that a Celery worker runs with -Q default,training "
                "(python manage.py healthcheck worker), then Retrain now.")
    if "worker stopped reporting" in error:
        return ("The worker running it was killed or lost (the active versions did not change): check the worker's "
                "log and memory, then Retrain now.")
    if "time limit" in error:
        return ("It ran past its time limit (ROUTERHUB_TRAINING_TIME_LIMIT_S): raise the limit or train on less "
                "data, then Retrain now.")
    return "The active versions did not change. Fix what the error says (the worker's log has the traceback), then Retrain now."
