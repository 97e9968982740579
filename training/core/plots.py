"""Plots of evaluation results (matplotlib, headless). Plain Python, no Django."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def quality_curves_plot(result: dict, path: str) -> None:
    """Quality against strong-call share for each router, the oracle and both models (an evaluate_router result)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for name, metrics in result["routers"].items():
        # a baseline averaged over seeds (the random router) is drawn dashed
        style = {"linestyle": "--", "color": "grey"} if "apgr_std" in metrics else {"marker": "o", "markersize": 3}
        ax.plot(np.array(metrics["curve"]["share"]) * 100, metrics["curve"]["quality"],
                label=f"{name} (APGR {metrics['apgr']:.3f})", **style)
    curve = result["oracle"]["curve"]
    ax.plot(np.array(curve["share"]) * 100, curve["quality"], color="black", linewidth=0.8, linestyle=":",
            label=f"oracle (APGR {result['oracle']['apgr']:.3f})")
    ax.axhline(result["strong_quality"], color="tab:red", linewidth=0.8, label=f"strong: {result['strong']}")
    ax.axhline(result["weak_quality"], color="tab:blue", linewidth=0.8, label=f"weak: {result['weak']}")
    ax.set_xlabel("strong-model calls (%)")
    ax.set_ylabel("quality (mean score)")
    ax.set_title(f"{Path(result['eval']['file']).name} (n={result['eval']['n']})")
    _save(fig, ax, path)


def pool_curves_plot(result: dict, path: str) -> None:
    """Quality against cost: each router's hull, each single model, the random mix and the oracle
    (an `evaluate_router --pool` result)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5), dpi=120)
    for name, metrics in result["routers"].items():
        if metrics is result["random_mix"]:
            continue
        ax.plot(metrics["curve"]["cost"], metrics["curve"]["quality"], linewidth=0.6, alpha=0.5)
        ax.plot(metrics["hull"]["cost"], metrics["hull"]["quality"], marker="o", markersize=2.5,
                label=f"{name} (AIQ {metrics['aiq']:.3f})")
    mix = result["random_mix"]["hull"]
    ax.plot(mix["cost"], mix["quality"], linestyle="--", color="grey",
            label=f"random mix (AIQ {result['random_mix']['aiq']:.3f})")
    for name, m in result["models"].items():
        ax.scatter([m["cost"]], [m["quality"]], s=12, color="black")
        ax.annotate(name.split("/")[-1], (m["cost"], m["quality"]), fontsize=6, xytext=(3, -3),
                    textcoords="offset points")
    ax.scatter([result["oracle"]["cost"]], [result["oracle"]["quality"]], marker="*", s=80, color="gold",
               edgecolor="black", label="oracle", zorder=5)
    ax.set_xscale("log")
    ax.set_xlabel("mean cost per prompt (USD, log scale)")
    ax.set_ylabel("quality (mean score)")
    ax.set_title(f"{Path(result['eval']['file']).name}: {len(result['pool'])} models (n={result['eval']['n']})")
    _save(fig, ax, path)


def _save(fig, ax, path: str) -> None:
    import matplotlib.pyplot as plt

    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
