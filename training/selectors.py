"""Reads for training: router versions and training runs (this app's tables)."""
from __future__ import annotations

from training.models import RouterVersion, TrainingRun


def router_version_active(*, kind: str, tenant=None) -> RouterVersion | None:
    """The active version of `kind` in one scope: the global one (tenant None) or the tenant's own."""
    return RouterVersion.objects.filter(kind=kind, status=RouterVersion.Status.ACTIVE, tenant=tenant).first()


def router_version_serving(*, kind: str, tenant) -> RouterVersion | None:
    """The version that answers `tenant`'s requests of `kind`: its own active one, else the global one."""
    return router_version_active(kind=kind, tenant=tenant) or router_version_active(kind=kind)


def router_versions_active() -> list[tuple[str, int | None, int]]:
    """(kind, tenant id or None, version id) of every active version: what web processes serve."""
    return list(RouterVersion.objects.filter(status=RouterVersion.Status.ACTIVE).values_list("kind", "tenant_id", "id"))


def training_run_in_progress(*, tenant=None) -> TrainingRun | None:
    """A run of this scope that is queued or running (a second one would race it to promote)."""
    return TrainingRun.objects.filter(tenant=tenant, status__in=[TrainingRun.Status.QUEUED,
                                                                 TrainingRun.Status.RUNNING]).first()


def training_run_last_succeeded(*, tenant=None) -> TrainingRun | None:
    return (TrainingRun.objects.filter(tenant=tenant, status=TrainingRun.Status.SUCCEEDED)
            .order_by("-finished").first())


def router_version_get(*, version_id: int) -> RouterVersion:
    return RouterVersion.objects.get(pk=version_id)


def router_versions_recent(*, kind: str, limit: int = 200) -> list[RouterVersion]:
    return list(RouterVersion.objects.filter(kind=kind).select_related("tenant", "training_run")
                .defer("artifact").order_by("-created")[:limit])


def training_runs_recent(*, limit: int = 50):
    return TrainingRun.objects.select_related("tenant").order_by("-created")[:limit]
