"""Learning-curve simulation: how fast a tenant's own feedback lifts its routers.

`simulate_traffic` (the management command) drives it. A score file (prompts, both models'
scores, and their recorded answers when present) is split into a traffic part and a disjoint test
part. The traffic goes through the real gateway (HTTP, the official `openai` client) for a tenant
of its own; the simulated upstream answers with the file's recorded responses. The file's scores
stand in for the users:

- a thumb (at `feedback_rate`) rates the served answer: up when the served model's score is at
  least 0.5, else down, and goes through `POST /v1/feedback` (then `training.core.labels` makes it a
  battle, exactly as for a real user);
- a duel (at the tenant's `duel_rate`, created by the gateway, its second answer fetched by the
  Celery worker) is labelled through `POST /v1/preferences` by comparing the two scores.

Every `retrain_every` requests a real training run for the tenant goes through the Celery worker;
its candidates are promoted (so the traffic that follows is routed by them), the routing threshold
is re-calibrated to `strong_share` on the traffic seen so far, and the newest SW and MF versions
are evaluated on the test part. Output: APGR and CPT(50%) against the number of feedback events.
"""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings

from feedback.duels import duels_dispatch
from feedback.selectors import duels_awaiting_label, duels_fetching
from training.core.evaluation import EvalSet, split_by_prompt
from training.core.labels import battle_from_scores
from training.core.metrics import random_baseline

SIM_TENANT_NAME = "simulate_traffic"  # the name that marks a tenant this command may reset


# --- what simulate_traffic and replay_duels share: the score file and the rules to compare
def score_file_arguments(parser, *, pair_required: bool = True) -> None:
    parser.add_argument("--scores", required=True, help="Score-table JSONL (plain or .gz), e.g. gsm8k_scores.jsonl.")
    parser.add_argument("--strong", required=pair_required)
    parser.add_argument("--weak", required=pair_required)


def score_file_load(opts) -> EvalSet:
    """The --scores file's rows for --strong and --weak; CommandError (exit 2) when it cannot be read."""
    from training.core.evaluation import eval_set_load

    return _score_file_read(opts, lambda path: eval_set_load(path, strong=opts["strong"], weak=opts["weak"]))


def pool_set_load(opts) -> EvalSet:
    """The --scores file's rows for --pool, as a priced pool set whose models are ordered most
    expensive first (mean cost over the rows, as a tenant's pool is ordered by price); CommandError
    (exit 2) when it cannot be read or does not price the pool."""
    from training.core.datasets import read_score_rows
    from training.core.evaluation import eval_set_from_rows, pool_select

    pool, rows = _score_file_read(opts, lambda path: pool_select(read_score_rows(path), opts["pool"], source=path))
    mean_cost = np.mean([[float(row["costs"][m]) for m in pool] for row in rows], axis=0)
    order = np.argsort(-mean_cost, kind="stable")
    return eval_set_from_rows(Path(opts["scores"]).name, rows, [pool[i] for i in order], priced=True,
                              path=opts["scores"])


def _score_file_read(opts, read):
    """`read(--scores)`, its refusals (no such file, an unknown format, a pool the file cannot
    price) as CommandError (exit 2)."""
    from django.core.management.base import CommandError

    from training.core.datasets import UnknownFormat

    if not Path(opts["scores"]).is_file():
        raise CommandError(f"--scores: no file {opts['scores']}", returncode=2)
    try:
        return read(opts["scores"])
    except (UnknownFormat, ValueError) as exc:
        raise CommandError(str(exc), returncode=2) from None


def selections_parse(text: str, *, option: str) -> list[str]:
    """Comma-separated duel selection rules; CommandError (exit 2) naming `option` otherwise."""
    from django.core.management.base import CommandError

    from training.core.active import SELECTIONS

    selections = [s.strip() for s in text.split(",") if s.strip()]
    if not selections or any(s not in SELECTIONS for s in selections):
        raise CommandError(f"{option}: {' and/or '.join(SELECTIONS)}", returncode=2)
    return selections


def traffic_test_split(eval_set: EvalSet, opts, seed: int) -> tuple[EvalSet, EvalSet]:
    """(traffic, test) for one seed by the command's --test-share, --requests and --test-size;
    CommandError (exit 2) when either part is too small to simulate or score (1 and 10 prompts)."""
    from django.core.management.base import CommandError

    traffic, test = split_traffic_test(eval_set, test_share=opts["test_share"], seed=seed,
                                       requests=opts["requests"], test_size=opts["test_size"])
    if not traffic.rows or len(test.rows) < 10:
        raise CommandError(f"too few prompts: {len(traffic.rows)} for traffic, {len(test.rows)} for testing "
                           "(need at least 1 and 10)", returncode=2)
    return traffic, test


def split_traffic_test(eval_set: EvalSet, *, test_share: float, seed: int, requests: int | None = None,
                       test_size: int | None = None) -> tuple[EvalSet, EvalSet]:
    """(traffic, test): disjoint by prompt text, seeded; `requests` and `test_size` cap the two parts."""
    return split_by_prompt(eval_set, test_share=test_share, seed=seed, first_size=requests, test_size=test_size)


def thumb_for(row: dict, served_model: str) -> str:
    """What a user who knows the file's score of the served answer says."""
    return "up" if float(row["scores"][served_model]) >= 0.5 else "down"


def duel_winner(row: dict, *, strong: str, weak: str) -> str:
    """The label of a duel (model a = strong) from the two scores."""
    return battle_from_scores(float(row["scores"][strong]), float(row["scores"][weak]))


@dataclass
class Counters:
    requests: int = 0
    failed: int = 0
    thumbs: int = 0
    duel_labels: int = 0
    served: dict = field(default_factory=dict)

    @property
    def feedback_events(self) -> int:
        return self.thumbs + self.duel_labels


class TrafficSimulator:
    """Sends traffic, gives feedback, labels duels, for one tenant. The caller owns the loop."""

    def __init__(self, *, gateway_url: str, key: str, tenant, traffic: EvalSet, feedback_rate: float, seed: int,
                 concurrency: int = 4):
        import openai

        self.url, self.key, self.tenant, self.traffic = gateway_url.rstrip("/"), key, tenant, traffic
        self.feedback_rate, self.concurrency = feedback_rate, concurrency
        self.rng = np.random.default_rng(seed + 1)
        self.client = openai.OpenAI(base_url=self.url, api_key=key, max_retries=2, timeout=120)
        self.counters = Counters()
        self.request_ids: list[str] = []
        self._rows_by_request: dict[str, dict] = {}

    def send(self, rows: list[dict]) -> None:
        """Each row's prompt through the gateway (`model: router`), then thumbs on a share of them."""
        import httpx

        def one(row):
            try:
                raw = self.client.chat.completions.with_raw_response.create(
                    model="router", messages=[{"role": "user", "content": row["prompt"]}])
            except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
                return row, None, f"{type(exc).__name__}: {exc}"
            return row, (raw.headers["x-routerhub-request-id"], raw.headers.get("x-routerhub-model")), None

        with ThreadPoolExecutor(self.concurrency) as pool:
            results = list(pool.map(one, rows))
        rate_draws = self.rng.random(len(results))
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=60) as http:
            for (row, answered, _error), draw in zip(results, rate_draws):
                self.counters.requests += 1
                if answered is None:
                    self.counters.failed += 1
                    continue
                request_id, served = answered
                self.request_ids.append(request_id)
                self._rows_by_request[request_id] = row
                self.counters.served[served] = self.counters.served.get(served, 0) + 1
                if draw < self.feedback_rate:
                    response = http.post("/feedback", json={"request_id": request_id,
                                                            "rating": thumb_for(row, served)})
                    response.raise_for_status()
                    self.counters.thumbs += 1

    def label_duels(self, timeout: float = 600) -> int:
        """Wait until the worker has fetched every duel so far, then label them from the scores."""
        import httpx

        deadline = time.monotonic() + timeout
        while duels_fetching(tenant=self.tenant):
            duels_dispatch()  # the sweep beat runs every few seconds, run here to keep the loop fast
            if time.monotonic() > deadline:
                raise TimeoutError(f"duels still unfetched after {timeout:g} s: is a worker consuming 'default'?")
            time.sleep(0.2)
        labelled = 0
        strong, weak = self.tenant.strong_model.name, self.tenant.weak_model.name
        with httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.key}"}, timeout=60) as http:
            for duel in duels_awaiting_label(tenant=self.tenant):
                row = self._rows_by_request.get(str(duel.request_id))
                if row is None:
                    continue
                response = http.post("/preferences", json={
                    "request_id": str(duel.request_id), "model_a": strong, "model_b": weak,
                    "winner": duel_winner(row, strong=strong, weak=weak)})
                response.raise_for_status()
                labelled += 1
        self.counters.duel_labels += labelled
        return labelled


def random_line(test: EvalSet) -> dict:
    metrics = random_baseline(test.strong_scores, test.weak_scores)
    return {"apgr": metrics["apgr"], "cpt50": metrics["cpt50"]}


def plot_curves(result: dict, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), dpi=120)
    kinds = list(dict.fromkeys(p["router"] for p in result["points"]))
    for kind, color in zip(kinds, ("tab:green", "tab:purple", "tab:orange", "tab:brown")):
        points = [p for p in result["points"] if p["router"] == kind]
        x = [p["feedback_events"] for p in points]
        axes[0].plot(x, [p["apgr"] for p in points], marker="o", color=color, label=kind.upper())
        axes[1].plot(x, [p["cpt50"] * 100 for p in points], marker="o", color=color, label=kind.upper())
    random = result.get("random")
    if random:
        axes[0].axhline(random["apgr"], color="grey", linestyle="--", label="random")
        axes[1].axhline(random["cpt50"] * 100, color="grey", linestyle="--", label="random")
    axes[0].set_ylabel("APGR on the test part (higher is better)")
    axes[1].set_ylabel("CPT(50%): strong calls, % (lower is better)")
    for ax in axes:
        ax.set_xlabel("feedback events (thumbs + duel labels)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    config = result["config"]
    fig.suptitle(f"{config['scores'].rsplit('/', 1)[-1]}: {config['requests_sent']} requests, feedback rate "
                 f"{config['feedback_rate']:g}, duel rate {config['duel_rate']:g}, retrain every "
                 f"{config['retrain_every']}, test n={config['test_n']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def reload_wait() -> None:
    """Let web processes pick up a promotion or a threshold change (their reload period)."""
    time.sleep(max(settings.ROUTERHUB_ROUTER_RELOAD_S, settings.ROUTERHUB_AUTH_CACHE_S) + 0.5)


# --- comparing duel selection rules (`simulate_traffic --duel-selection active,uniform --seeds 0,1,2`)
def label_curve(result: dict, router: str, metric: str = "apgr") -> list[tuple[int, float]]:
    """(duel labels so far, `metric` on the test part: APGR, or a pool's AIQ) after each retrain of
    one simulation."""
    return [(int(p["duel_labels"]), float(p[metric])) for p in result["points"] if p["router"] == router]


def value_at(curve: list[tuple[int, float]], labels: int) -> float | None:
    """The curve's value (APGR, AIQ) after `labels` labels, interpolated between retrains; None
    past the curve's end."""
    if not curve or labels > curve[-1][0]:
        return None
    xs, ys = zip(*curve)
    return float(np.interp(labels, xs, ys))


def labels_to_reach(curve: list[tuple[int, float]], target: float) -> int | None:
    """The label count of the first retrain at or above `target`; None if none got there."""
    return next((labels for labels, value in curve if value >= target), None)


def selection_comparison(results: list[dict], *, router: str, checkpoints, target: float,
                         metric: str = "apgr") -> dict:
    """Per duel selection rule, over its runs (seeds): mean and spread of `metric` (APGR, or a
    pool's AIQ) at each label count, and the labels each run needed to reach `target`."""
    out = {"router": router, "metric": metric, "checkpoints": list(checkpoints), "target": target, "selections": {}}
    by_rule: dict[str, list[dict]] = {}
    for result in results:
        by_rule.setdefault(result["config"]["duel_selection"], []).append(result)
    for rule, runs in by_rule.items():
        curves = [label_curve(run, router, metric) for run in runs]
        at = {}
        for n in checkpoints:
            values = [v for v in (value_at(curve, n) for curve in curves) if v is not None]
            at[str(n)] = ({"mean": float(np.mean(values)), "std": float(np.std(values)), "runs": len(values)}
                          if len(values) == len(curves) else None)
        out["selections"][rule] = {"runs": len(runs), "seeds": [run["config"]["seed"] for run in runs], "at": at,
                                   "labels_to_target": [labels_to_reach(curve, target) for curve in curves],
                                   "final": [curve[-1] if curve else None for curve in curves]}
    return out


def paired_differences(results: list[dict], *, router: str, checkpoints, baseline: str, metric: str = "apgr") -> dict:
    """Per rule other than `baseline`: its `metric` minus the baseline's on the same seed, at each label
    count, over the seeds both reached it: mean, standard error, and on how many seeds it was
    ahead. Pairing removes what the seeds share (the split, the traffic's order), which dominates
    the spread of either rule alone."""
    curves: dict[str, dict[int, list]] = {}
    for result in results:
        curves.setdefault(result["config"]["duel_selection"], {})[result["config"]["seed"]] = label_curve(result, router, metric)
    base = curves.get(baseline, {})
    out = {}
    for rule, by_seed in curves.items():
        if rule == baseline:
            continue
        out[rule] = {}
        for n in checkpoints:
            diffs = [a - b for a, b in ((value_at(curve, n), value_at(base.get(seed, []), n))
                                        for seed, curve in by_seed.items()) if a is not None and b is not None]
            sem = float(np.std(diffs, ddof=1) / np.sqrt(len(diffs))) if len(diffs) > 1 else None
            out[rule][str(n)] = ({"mean": float(np.mean(diffs)), "sem": sem,
                                  "wins": int(sum(d > 0 for d in diffs)), "runs": len(diffs)} if diffs else None)
    return out


def comparison_write(results: list[dict], comparison: dict, *, json_path: str | None, plot_path: str | None,
                     say) -> None:
    """A rule comparison to --json (the comparison and every run) and --plot; `say` tells where."""
    import json

    if json_path:
        Path(json_path).write_text(json.dumps({"comparison": comparison, "runs": results}, indent=1))
        say(f"comparison written to {json_path}")
    if plot_path:
        plot_selection_comparison(results, comparison, plot_path)
        say(f"plot written to {plot_path}")


def plot_selection_comparison(results: list[dict], comparison: dict, path: str) -> None:
    """Each rule's APGR (or AIQ) against labels: every run thin, the mean at the checkpoints thick."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metric = comparison.get("metric", "apgr")
    fig, ax = plt.subplots(figsize=(6.5, 4), dpi=120)
    spare = iter(("tab:purple", "tab:orange", "tab:brown"))
    colors = {rule: {"active": "tab:green", "uniform": "tab:grey"}.get(rule) or next(spare)
              for rule in comparison["selections"]}
    for result in results:
        rule = result["config"]["duel_selection"]
        curve = label_curve(result, comparison["router"], metric)
        ax.plot(*zip(*curve), color=colors[rule], alpha=0.3, linewidth=1)
    for rule, row in comparison["selections"].items():
        points = [(int(n), v["mean"], v["std"]) for n, v in row["at"].items() if v]
        if points:
            xs, means, stds = zip(*points)
            ax.errorbar(xs, means, yerr=stds, color=colors[rule], marker="o", linewidth=2, capsize=3,
                        label=f"{rule} ({row['runs']} seeds)")
    randoms = [result["random"][metric] for result in results if metric in (result.get("random") or {})]
    if randoms:  # each seed's test part has its own: their mean
        ax.axhline(float(np.mean(randoms)), color="black", linestyle="--", linewidth=1,
                   label="random" if metric == "apgr" else "random mix")
    config = results[0]["config"]
    ax.set_xlabel("duel labels")
    ax.set_ylabel(f"{comparison['router'].upper()} {metric.upper()} on the test part")
    pool = f"pool of {len(config['pool'])} at knob {config['knob']:g}, " if "pool" in config else ""
    ax.set_title(f"{config['scores'].rsplit('/', 1)[-1]}: {pool}duel rate {config['duel_rate']:g}, "
                 f"test n={config['test_n']}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
