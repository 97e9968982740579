"""The demo router: what `model="router"` routes with on a fresh start, before any real data.

`training/demo_scores.jsonl` is a small score table written for the project (72 prompts: hard
maths, proofs and code that only the strong demo model answers well; everyday explanations that
the middle model answers too; small talk that the cheap models answer as well, where the strong
one sometimes over-answers). `demo_router_ensure` imports it (source `routerhub-demo`, idempotent)
and, for each trainable kind without an active global version, trains one on what the store holds
and activates it. A version trained on the demo set alone is marked a demo router (the console
says so); the first real version trained on imported data replaces it (`training.runs`: a demo
version is replaced whatever the gate says).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from feedback.models import Preference
from feedback.selectors import battles_load
from feedback.store import preferences_import
from training.core.routers import DEFAULT_TRAINING_KINDS
from training.models import RouterVersion
from training.selectors import router_version_active
from training.services import router_fit, router_version_create, router_version_promote

DEMO_FILE = Path(__file__).resolve().parent / "demo_scores.jsonl"
DEMO_SOURCE = "routerhub-demo"
# the demo set is small: more passes over it than over the shared data's 280,000 battles
DEMO_PARAMS = {"mf": {"epochs": 150, "batch_size": 32}}


def demo_router_ensure(*, kinds=DEFAULT_TRAINING_KINDS, log: Callable[[str], None] = print) -> list[RouterVersion]:
    """Train and activate a router for each of `kinds` that has no active global version; return
    the versions made (none when every kind has one)."""
    demo_only = not Preference.objects.exclude(source=DEMO_SOURCE).exists()
    actives = {kind: router_version_active(kind=kind) for kind in kinds}
    # a demo router trained on another embedder's vectors is not served: on demo data alone it is
    # retrained here (with real data, `training.runs.embedder_change_queue` queues a real run)
    missing = [kind for kind, active in actives.items()
               if active is None or (demo_only and active.is_demo and active.on_other_embedder)]
    if not missing:
        return []
    report = preferences_import(path=DEMO_FILE, source=DEMO_SOURCE)
    if report.created:
        log(f"demo router: {report.created} demo battles imported from {DEMO_FILE.name}")
    battles = battles_load()
    made = []
    for kind in missing:
        router = router_fit(kind=kind, battles=battles, params=DEMO_PARAMS.get(kind) if demo_only else None)
        version = router_version_create(router=router, battles=battles, data_params={"demo": demo_only})
        made.append(router_version_promote(version=version, via="demo router at first start"))
        log(f"demo router: {kind} v{version.pk} trained on {len(battles)} battles and active"
            + (" (a demo router: import real preferences and train to replace it)" if demo_only else ""))
    return made
