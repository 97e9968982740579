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
from training.core.calibration import (
    strong_share_at,
    strong_share_on_curve,
    threshold_for_strong_share,
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
    requests: int = 0
    answered: int = 0
    strong: int = 0
    spend: Decimal = Decimal(0)
    spend_all_strong: Decimal = Decimal(0)
    duel_spend: Decimal = Decimal(0)
    errors: int = 0
    fallbacks: int = 0
    with_feedback: int = 0
    thumbs: list[dict] = field(default_factory=list)  # per served model: {model, up, total, rate}

    @property
    def strong_share(self) -> float | None:
        return self.strong / self.answered if self.answered else None

    @property
    def savings(self) -> Decimal:
        return self.spend_all_strong - self.spend

    @property
    def savings_pct(self) -> float | None:
        return float(self.savings / self.spend_all_strong * 100) if self.spend_all_strong else None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @property
    def fallback_rate(self) -> float | None:
        return self.fallbacks / self.answered if self.answered else None

    @property
    def feedback_rate(self) -> float | None:
        return self.with_feedback / self.answered if self.answered else None


def overview(*, tenant: Tenant | None, since: datetime, until: datetime) -> Overview:
    """Traffic, spend and savings: what was spent, against what the same requests would have cost
    had every one gone to its tenant's strong model (same tokens, the strong model's prices)."""
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
class Preview:
    threshold: float
    strong_share: float | None
    share_basis: str
    expected_quality: float | None  # mean score, from the evaluation curve at that share
    quality_range: tuple[float, float] | None  # (all weak, all strong) on that set
    quality_basis: str


def threshold_preview(*, tenant: Tenant, threshold: float) -> Preview:
    """What a threshold would do, before it is saved: the strong-call share on the tenant's recent
    traffic (or the evaluation set) and the expected quality read off the serving version's curve."""
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
    return Preview(threshold, share, basis, quality, quality_range, quality_basis)


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
                    "sets": sets, "gate": gate_passes(m, settings.ROUTERHUB_PROMOTION_MARGIN), "promoted": m.get("candidate_version") in (run.promoted or [])})
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
