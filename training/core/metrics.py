"""RouteLLM's evaluation metrics, exactly as its `evaluate.py` / `benchmarks.py` compute them.

Plain numpy, no Django. Inputs: the router's win rates on an eval set and the strong and weak
models' scores (quality) per row. Thresholds are the deciles of the win rates (pd.qcut edges:
the 0%, 10%, …, 100% quantiles); at each, the strong model answers where win_rate >= threshold
(> for the last edge, so the curve reaches 0% strong calls). Shares are in [0, 1].

- CPT(x): the strong-call share at which quality reaches weak + x·(strong − weak), by linear
  interpolation along the curve sorted by share (`np.interp`, as RouteLLM).
- AUC: trapezoid of quality over share. APGR = (AUC − AUC_weak) / (AUC_strong − AUC_weak),
  where AUC_weak / AUC_strong are the constant levels integrated over the same share range.
"""
from __future__ import annotations

import numpy as np

from training.core.policy import strong_chosen

CPT_LEVELS = (0.2, 0.5, 0.8)


def quality_curve(win_rates, strong_scores, weak_scores, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds, shares, qualities), sorted by share."""
    win_rates = np.asarray(win_rates, dtype=np.float64)
    strong_scores = np.asarray(strong_scores, dtype=np.float64)
    weak_scores = np.asarray(weak_scores, dtype=np.float64)
    thresholds = np.quantile(win_rates, np.linspace(0, 1, n_bins + 1))
    shares, qualities = [], []
    for i, threshold in enumerate(thresholds):
        # RouteLLM's protocol: the top edge is exclusive, so the curve reaches 0% strong calls
        strong = win_rates > threshold if i == len(thresholds) - 1 else strong_chosen(win_rates, threshold)
        shares.append(strong.mean())
        qualities.append(np.where(strong, strong_scores, weak_scores).mean())
    order = np.argsort(shares, kind="stable")
    return thresholds[order], np.asarray(shares)[order], np.asarray(qualities)[order]


def cpt(shares, qualities, strong_quality: float, weak_quality: float, level: float) -> float:
    target = weak_quality + level * (strong_quality - weak_quality)
    return float(np.interp(target, qualities, shares))


def auc(shares, qualities) -> float:
    return float(np.trapezoid(qualities, shares))


def apgr(shares, qualities, strong_quality: float, weak_quality: float) -> float:
    span = shares[-1] - shares[0]
    weak_auc, strong_auc = weak_quality * span, strong_quality * span
    if strong_auc == weak_auc:
        return float("nan")
    return (auc(shares, qualities) - weak_auc) / (strong_auc - weak_auc)


def curve_metrics(shares, qualities, strong_quality: float, weak_quality: float) -> dict:
    metrics = {"apgr": apgr(shares, qualities, strong_quality, weak_quality), "auc": auc(shares, qualities)}
    for level in CPT_LEVELS:
        metrics[f"cpt{int(level * 100)}"] = cpt(shares, qualities, strong_quality, weak_quality, level)
    metrics["curve"] = {"share": [float(s) for s in shares], "quality": [float(q) for q in qualities]}
    return metrics


def evaluate_win_rates(win_rates, strong_scores, weak_scores) -> dict:
    """APGR, AUC, CPT(20/50/80%) and the curve of one router on one eval set."""
    strong_q, weak_q = float(np.mean(strong_scores)), float(np.mean(weak_scores))
    thresholds, shares, qualities = quality_curve(win_rates, strong_scores, weak_scores)
    metrics = curve_metrics(shares, qualities, strong_q, weak_q)
    metrics["curve"]["threshold"] = [float(t) for t in thresholds]
    return metrics


def random_baseline(strong_scores, weak_scores, seeds: int = 10) -> dict:
    """The random router's metrics averaged over `seeds` seeds (curves averaged point-wise)."""
    runs = [evaluate_win_rates(np.random.default_rng(seed).uniform(size=len(strong_scores)),
                               strong_scores, weak_scores) for seed in range(seeds)]
    out = {key: float(np.mean([run[key] for run in runs])) for key in ("apgr", "auc", "cpt20", "cpt50", "cpt80")}
    out["apgr_std"] = float(np.std([run["apgr"] for run in runs]))
    out["curve"] = {name: [float(v) for v in np.mean([run["curve"][name] for run in runs], axis=0)]
                    for name in ("share", "quality")}
    return out


def oracle(strong_scores, weak_scores, n_bins: int = 10) -> dict:
    """The best possible router: strong calls go to the largest gains first, never to a loss
    (RouteLLM's `get_optimal_accuracy`), at shares 0, 10%, …, 100%."""
    strong_scores = np.asarray(strong_scores, dtype=np.float64)
    weak_scores = np.asarray(weak_scores, dtype=np.float64)
    n = len(strong_scores)
    gains = np.sort(np.clip(strong_scores - weak_scores, 0, None))[::-1]
    cumulative = np.concatenate([[0.0], np.cumsum(gains)])
    shares = np.linspace(0, 1, n_bins + 1)
    qualities = weak_scores.mean() + cumulative[np.floor(shares * n + 1e-9).astype(int)] / n
    return curve_metrics(shares, qualities, float(strong_scores.mean()), float(weak_scores.mean()))
