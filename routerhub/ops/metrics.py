"""`GET /metrics`: Prometheus's text format, for loopback clients or a bearer token.

The request path's counters and histograms (routerhub/metrics.py) from every gunicorn worker
(prometheus-client's multiprocess mode when PROMETHEUS_MULTIPROC_DIR is set), and what lives in the
database, read at scrape time: duels by status, training runs by status, the active version of each
kind and scope. Only loopback clients may scrape (the client's address: X-Forwarded-For behind the
nginx front, which sets it); with ROUTERHUB_METRICS_TOKEN set, a request with
`Authorization: Bearer <token>` from anywhere.
"""
from __future__ import annotations

import hmac
import ipaddress
import json
import os

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

from routerhub.errors import error_body


class DatabaseCollector:
    """Gauges read from the database when scraped (and only then: `describe` queries nothing, so
    registering this at import time works on a database not migrated yet)."""

    def describe(self):
        return [GaugeMetricFamily("routerhub_duels", "Duels by status", labels=["status"]),
                GaugeMetricFamily("routerhub_training_runs", "Training runs by status", labels=["status"]),
                GaugeMetricFamily("routerhub_active_router_version", "The active version of each kind and scope",
                                  labels=["kind", "scope", "demo"])]

    def collect(self):
        from feedback.models import Duel
        from training.models import RouterVersion, TrainingRun

        duels = GaugeMetricFamily("routerhub_duels", "Duels by status (pending and fetching: not answered yet)",
                                  labels=["status"])
        counts = dict(Duel.objects.values_list("status").annotate(n=Count("id")))
        for status in Duel.Status.values:
            duels.add_metric([status], counts.get(status, 0))
        yield duels
        runs = GaugeMetricFamily("routerhub_training_runs", "Training runs by status", labels=["status"])
        counts = dict(TrainingRun.objects.values_list("status").annotate(n=Count("id")))
        for status in TrainingRun.Status.values:
            runs.add_metric([status], counts.get(status, 0))
        yield runs
        active = GaugeMetricFamily("routerhub_active_router_version", "The active version of each kind and scope "
                                   "(the value is the version's id)", labels=["kind", "scope", "demo"])
        for version in RouterVersion.objects.filter(status=RouterVersion.Status.ACTIVE).select_related("tenant"):
            active.add_metric([version.kind, version.tenant.slug if version.tenant else "global",
                               "true" if version.is_demo else "false"], version.pk)
        yield active


_database = DatabaseCollector()
REGISTRY.register(_database)  # the in-process registry (a single process: tests, runserver)


def _registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        registry.register(_database)
        return registry
    return REGISTRY


def client_address(request) -> str:
    """The client's address: X-Forwarded-For's (first) behind a front that sets it
    (ROUTERHUB_TRUST_X_FORWARDED_FOR), else REMOTE_ADDR."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "") if settings.ROUTERHUB_TRUST_X_FORWARDED_FOR else ""
    return forwarded.split(",")[0].strip() or request.META.get("REMOTE_ADDR", "")


def _allowed(request) -> bool:
    token = settings.ROUTERHUB_METRICS_TOKEN
    sent = request.META.get("HTTP_AUTHORIZATION", "")
    if token and hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
        return True
    try:
        return ipaddress.ip_address(client_address(request)).is_loopback
    except ValueError:
        return False


def metrics_view(request):
    if not _allowed(request):
        return HttpResponse(json.dumps(error_body("Metrics are served to loopback clients, or with the bearer token "
                                       "ROUTERHUB_METRICS_TOKEN.", type="invalid_request_error", code="forbidden")),
                            status=403, content_type="application/json")
    return HttpResponse(generate_latest(_registry()), content_type="text/plain; version=0.0.4; charset=utf-8")
