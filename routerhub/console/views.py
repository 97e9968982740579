"""The admin console: server-rendered pages for staff. Views read through `selectors`, write through
`services`, and render; no logic of their own."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.mixins import AccessMixin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views import View

from feedback.models import Duel
from routerhub.console import charts, selectors, services
from routerhub.console.forms import (
    ApiKeyForm,
    ArenaForm,
    PeriodForm,
    RequestFilterForm,
    RetrainForm,
    TenantSettingsForm,
    ThresholdForm,
)
from routerhub.gateway.models import RoutedRequest
from routerhub.tenants import services as tenant_services
from routerhub.tenants.models import ApiKey, Tenant
from routerhub.tenants.selectors import tenant_pool_members
from training.core.routers import TRAINABLE_KINDS
from training.models import RouterVersion, TrainingRun
from training.runs import TrainingRunBusy, training_run_queue
from training.selectors import router_version_serving
from training.services import PromotionError, router_version_promote, router_version_rollback

TRAINED_KINDS = list(TRAINABLE_KINDS)


class StaffView(AccessMixin, View):
    """Staff only: anonymous visitors go to the login page, signed-in non-staff get a 403."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        if not request.user.is_staff:
            raise PermissionDenied("The console is for staff.")
        return super().dispatch(request, *args, **kwargs)


# what each change needs beyond staff status (superusers have all): the Django permissions of the
# objects it changes, so that a view-only staff account stays view-only here as in the admin
PERMISSIONS = {
    "threshold": "tenants.change_tenant", "settings": "tenants.change_tenant", "create_key": "tenants.add_apikey",
    "revoke_key": "tenants.change_apikey", "promote": "training.change_routerversion",
    "rollback": "training.change_routerversion", "retrain": "training.add_trainingrun",
    "label": "feedback.add_preference",
}


def _require(request, action: str) -> None:
    if not request.user.has_perm(PERMISSIONS[action]):
        raise PermissionDenied(f"Your account may not {action.replace('_', ' ')} ({PERMISSIONS[action]}).")


def _svg(markup: str):
    return mark_safe(markup)  # built by routerhub.console.charts, every text escaped there


class OverviewView(StaffView):
    def get(self, request):
        form = PeriodForm(request.GET or None)
        tenant, period = None, "7d"
        if form.is_bound and form.is_valid():
            tenant, period = form.cleaned_data["tenant"], form.cleaned_data["period"] or "7d"
        since, until = selectors.period_bounds(period)
        stats = selectors.overview(tenant=tenant, since=since, until=until)
        series = selectors.traffic_series(tenant=tenant, since=since, until=until)
        fmt = "%H:%M" if period == "24h" else "%b %d"
        labels = [point["t"].strftime(fmt) for point in series]
        positions = list(range(len(series)))
        peak = max([p["requests"] for p in series] or [0])
        requests_chart = charts.line_chart(
            [{"name": "requests", "x": positions, "y": [p["requests"] for p in series]}],
            title="Requests", x_label="time", y_label="requests", x_labels=labels, y_format="{:.0f}",
            y_range=(0, max(4, peak + (-peak) % 4)))  # from zero, to a multiple of 4 (whole-number ticks)
        share_chart = charts.line_chart(  # a bucket without routed requests has no share: a gap, not a 0
            [{"name": "strong share", "x": positions, "color": "#ea580c",
              "y": [None if p["strong_share"] is None else p["strong_share"] * 100 for p in series]}],
            title="Strong-model share", x_label="time", y_label="% to the strong model", x_labels=labels,
            y_range=(0, 100), y_format="{:.0f}%")
        win_rates = selectors.win_rates_window(tenant=tenant, since=since, until=until)
        marker = tenant.routing_threshold if tenant else None
        histogram = charts.histogram(win_rates, title="Win rates", x_label="P(strong wins)", marker=marker,
                                     marker_label=f"threshold {marker:.3f}" if marker is not None else "")
        return render(request, "console/overview.html", {
            "form": form, "tenant": tenant, "period": period, "stats": stats, "since": since, "until": until,
            "requests_chart": _svg(requests_chart), "share_chart": _svg(share_chart), "histogram": _svg(histogram),
            "win_rate_n": len(win_rates), "data": selectors.data_status()})


class TenantListView(StaffView):
    def get(self, request):
        tenants = Tenant.objects.select_related("strong_model", "weak_model").order_by("slug")
        return render(request, "console/tenants.html", {"tenants": tenants})


class TenantDetailView(StaffView):
    """Threshold (a number, or a target strong share calibrated on recent traffic, previewed before
    saving), routing settings, API keys, and the tenant's audit log."""

    def get(self, request, slug):
        tenant = get_object_or_404(Tenant, slug=slug)
        if "value" in request.GET:  # a preview link (?mode=share&value=30, ?mode=cost&value=0.002)
            return self._preview(request, tenant, ThresholdForm(request.GET))
        initial = {"mode": "number", "value": tenant.routing_threshold} if tenant_pool_members(tenant) else {
            "mode": "share", "value": 30}
        return self._render(request, tenant, ThresholdForm(initial=initial))

    def _preview(self, request, tenant, form):
        """What a threshold would do, shown and not saved."""
        preview = calibration = None
        if form.is_valid():
            try:
                calibration, threshold = self._threshold(tenant, form.cleaned_data)
                preview = selectors.threshold_preview(tenant=tenant, threshold=threshold)
            except ValueError as exc:
                form.add_error(None, str(exc))
        return self._render(request, tenant, form, preview=preview, calibration=calibration,
                            status=200 if preview else 400)

    def post(self, request, slug):
        tenant = get_object_or_404(Tenant, slug=slug)
        action = request.POST.get("action")
        if action in PERMISSIONS:
            _require(request, action)
        if action == "preview":
            return self._preview(request, tenant, ThresholdForm(request.POST))
        if action == "threshold":
            form = ThresholdForm(request.POST)
            if not form.is_valid():
                return self._render(request, tenant, form, status=400)
            try:
                calibration, threshold = self._threshold(tenant, form.cleaned_data)
            except ValueError as exc:
                form.add_error(None, str(exc))
                return self._render(request, tenant, form, status=400)
            value = form.cleaned_data["value"]
            how = "number" if calibration is None else (
                f"target strong share {value:g}% on {calibration.basis}" if form.cleaned_data["mode"] == "share"
                else f"target average cost ${value:g} per request on {calibration.basis}")
            tenant_services.tenant_threshold_set(tenant=tenant, threshold=threshold, actor=request.user, how=how,
                                                 details={"calibration_n": calibration.n} if calibration else None)
            messages.success(request, f"Threshold set to {threshold:.4f} ({how}).")
        elif action == "settings":
            settings_form = TenantSettingsForm(request.POST, instance=Tenant.objects.get(pk=tenant.pk))
            if not settings_form.is_valid():
                return self._render(request, tenant, ThresholdForm(), settings_form=settings_form, status=400)
            try:
                tenant_services.tenant_settings_update(tenant=tenant, actor=request.user, **{
                    name: settings_form.cleaned_data[name] for name in settings_form.Meta.fields})
            except tenant_services.TenantSettingsError as exc:
                settings_form.add_error(None, str(exc))
                return self._render(request, tenant, ThresholdForm(), settings_form=settings_form, status=400)
            messages.success(request, "Settings saved.")
        elif action == "create_key":
            key_form = ApiKeyForm(request.POST)
            if not key_form.is_valid():
                return self._render(request, tenant, ThresholdForm(), key_form=key_form, status=400)
            created = tenant_services.api_key_create(tenant=tenant, name=key_form.cleaned_data["name"],
                                                     actor=request.user)
            # shown on this response only: the key is not stored, so it cannot be shown again
            return self._render(request, tenant, ThresholdForm(), new_key=created.raw_key)
        elif action == "revoke_key":
            api_key = get_object_or_404(ApiKey, pk=request.POST.get("key"), tenant=tenant)
            tenant_services.api_key_revoke(api_key=api_key, actor=request.user)
            messages.success(request, f"Key {api_key.prefix}… revoked.")
        else:
            return self._render(request, tenant, ThresholdForm(), status=400)
        return redirect("console:tenant", slug=tenant.slug)

    @staticmethod
    def _threshold(tenant, data):
        if data["mode"] == "number":
            return None, float(data["value"])
        if data["mode"] == "cost":
            try:
                cost = selectors.knob_cost(tenant=tenant, target_cost=float(data["value"]))
            except ValueError as exc:
                raise ValueError(f"{exc}: set a number instead") from None
            return selectors.Calibration(cost.threshold, cost.basis, cost.n), cost.threshold
        if tenant_pool_members(tenant):
            raise ValueError("a pool's threshold is set by a number or by a target average cost per request "
                             "(a strong-call share is a pair's)")
        calibration = selectors.threshold_for_share(tenant=tenant, strong_share=data["value"] / 100)
        return calibration, calibration.threshold

    def _render(self, request, tenant, form, *, preview=None, calibration=None, settings_form=None, key_form=None,
                new_key=None, status=200):
        tenant.refresh_from_db()
        recent = selectors.win_rates_recent(tenant=tenant)
        marker, label = tenant.routing_threshold, f"threshold {tenant.routing_threshold:.3f}"
        if preview is not None:  # the proposed threshold, before it is saved
            marker, label = preview.threshold, f"proposed {preview.threshold:.3f}"
        histogram = charts.histogram(recent, title="Recent win rates", x_label="P(strong wins)", marker=marker,
                                     marker_label=label)
        return render(request, "console/tenant.html", {
            "tenant": tenant, "form": form, "preview": preview, "calibration": calibration,
            "settings_form": settings_form or TenantSettingsForm(instance=tenant),
            "key_form": key_form or ApiKeyForm(), "new_key": new_key,
            "keys": tenant.api_keys.order_by("-created"), "serving": {
                kind: selectors.version_serving(tenant=tenant, kind=kind) for kind in TRAINED_KINDS},
            "recent_n": len(recent), "histogram": _svg(histogram), "pool": tenant_pool_members(tenant),
            "spend": selectors.tenant_spend(tenant=tenant),
            "audit": selectors.audit_events(tenant=tenant)}, status=status)


class RouterListView(StaffView):
    def get(self, request):
        tables = [{"kind": kind, "rows": selectors.versions_table(kind=kind)} for kind in TRAINED_KINDS]
        return render(request, "console/routers.html", {"tables": tables})


class RouterDetailView(StaffView):
    """A version's quality-vs-strong-share curve beside the active one's and the random line, its
    gate verdict, and Promote / Roll back (each behind a confirmation)."""

    def get(self, request, pk):
        version = get_object_or_404(RouterVersion.objects.select_related("tenant", "training_run"), pk=pk)
        active = router_version_serving(kind=version.kind, tenant=version.tenant)  # what its scope serves now
        # compared with the active version; the active one itself, with the version it replaced
        reference, role = (active, "active") if active and active.pk != version.pk else (version.replaced, "replaced")
        curves = []
        for name, m in sorted((version.metrics or {}).items()):
            if isinstance(m, dict) and "hull" in m:  # a pool set: quality against cost (its hull)
                series = [{"name": f"v{version.pk} (AIQ {m['aiq']:.3f}; random mix {m['random_mix_aiq']:.3f})",
                           "x": m["hull"]["cost"], "y": m["hull"]["quality"]}]
                curves.append({"name": name, "n": m.get("n"), "svg": _svg(charts.line_chart(
                    series, title=name, x_label="mean cost per request (USD)", y_label="quality (mean score)",
                    x_format="${:.4f}"))})
                continue
            if not isinstance(m, dict) or "curve" not in m:
                continue
            series = [{"name": f"v{version.pk} (APGR {m['apgr']:.3f})", "x": m["curve"]["share"],
                       "y": m["curve"]["quality"]}]
            other = (reference.metrics or {}).get(name) if reference is not None else None
            if isinstance(other, dict) and "curve" in other:
                series.append({"name": f"{role} v{reference.pk} (APGR {other['apgr']:.3f})",
                               "x": other["curve"]["share"], "y": other["curve"]["quality"], "color": "#64748b"})
            if "weak_quality" in m:
                series.append({"name": "random", "x": [0, 1], "y": [m["weak_quality"], m["strong_quality"]],
                               "dashed": True, "color": "#94a3b8"})
            curves.append({"name": name, "n": m.get("n"), "svg": _svg(charts.line_chart(
                series, title=name, x_label="strong-model calls", y_label="quality (mean score)"))})
        return render(request, "console/router.html", {
            "version": version, "active": active, "curves": curves,
            "sets": selectors.version_sets(version, reference), "gate": selectors.gate_verdict(version),
            "reference_role": role if reference is not None else None,
            "audit": selectors.audit_events(router_version=version)})


class RouterActionView(StaffView):
    """GET: the confirmation page; POST: promote or roll back."""

    ACTIONS = ("promote", "rollback")

    def get(self, request, pk, action):
        version = self._version(pk, action)
        return render(request, "console/router_confirm.html", {"version": version, "action": action})

    def post(self, request, pk, action):
        version = self._version(pk, action)
        _require(request, action)
        try:
            if action == "promote":
                router_version_promote(version=version, actor=request.user)
                messages.success(request, f"{version.kind.upper()} v{version.pk} is active. Web processes pick it up "
                                          "within seconds.")
            else:
                back = router_version_rollback(version=version, actor=request.user)
                messages.success(request, "Rolled back: " + (f"v{back.pk} is active again." if back else
                                                                "the tenant is served by the global version."))
        except PromotionError as exc:
            messages.error(request, str(exc))
        return redirect("console:router", pk=version.pk)

    def _version(self, pk, action):
        if action not in self.ACTIONS:
            raise Http404("unknown action")
        return get_object_or_404(RouterVersion.objects.select_related("tenant"), pk=pk)


class TrainingListView(StaffView):
    def get(self, request):
        return render(request, "console/training.html", {
            "runs": selectors.runs_recent(), "form": RetrainForm(), "schedule": self._schedule(),
            "data": selectors.data_status()})

    def post(self, request):
        _require(request, "retrain")
        form = RetrainForm(request.POST)
        if not form.is_valid():
            return render(request, "console/training.html", {
                "runs": selectors.runs_recent(), "form": form, "schedule": self._schedule(),
                "data": selectors.data_status()}, status=400)
        try:
            run = training_run_queue(trigger="manual", actor=request.user, tenant=form.cleaned_data["tenant"],
                                     kinds=form.cleaned_data["kinds"])
        except TrainingRunBusy as exc:
            messages.error(request, str(exc))
            return redirect("console:training")
        messages.success(request, f"Training run {run.pk} queued.")
        return redirect("console:run", pk=run.pk)

    @staticmethod
    def _schedule():
        from django_celery_beat.models import PeriodicTask

        task = PeriodicTask.objects.filter(task="training.scheduled_retrain").select_related("crontab").first()
        if task is None:
            return None
        return {"task": task, "url": reverse("admin:django_celery_beat_periodictask_change", args=[task.pk])}


class TrainingDetailView(StaffView):
    def get(self, request, pk):
        run = get_object_or_404(TrainingRun.objects.select_related("tenant"), pk=pk)
        return render(request, "console/run.html", {
            "run": run, "versions": run.versions.order_by("kind"), "results": selectors.run_results(run),
            "live": run.status in (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING),
            "hint": selectors.run_failure_hint(run)})


class RequestListView(StaffView):
    def get(self, request):
        form = RequestFilterForm(request.GET or None)
        filters = form.cleaned_data if form.is_bound and form.is_valid() else {}
        rows = selectors.requests_filtered(**{k: v for k, v in filters.items() if v not in (None, "")})
        page = Paginator(rows, 50).get_page(request.GET.get("page"))
        query = request.GET.copy()
        query.pop("page", None)
        return render(request, "console/requests.html", {"form": form, "page": page, "query": query.urlencode(),
                                                         "models": selectors.served_models()})


class RequestDetailView(StaffView):
    def get(self, request, pk):
        row = get_object_or_404(RoutedRequest.objects.select_related("tenant", "feedback", "duel", "router_version"),
                                pk=pk)
        return render(request, "console/request.html", {"row": row, "duel": getattr(row, "duel", None),
                                                        "feedback": getattr(row, "feedback", None)})


class ArenaView(StaffView):
    """The next duel awaiting a person's label, side by side (keys 1, 2, 3, s)."""

    def get(self, request):
        queue = selectors.arena_queue()
        duel = queue.first()
        context = {"waiting": queue.count(), "duel": duel}
        if duel is not None:
            swapped = selectors.arena_swapped(duel)
            context.update(left=duel.answer_b if swapped else duel.answer_a,
                           right=duel.answer_a if swapped else duel.answer_b)
        return render(request, "console/arena.html", context)

    def post(self, request):
        _require(request, "label")
        form = ArenaForm(request.POST)
        if not form.is_valid():
            messages.error(request, "Choose left, right, tie or skip.")
            return redirect("console:arena")
        duel = get_object_or_404(Duel, pk=form.cleaned_data["duel"])
        try:
            services.arena_label(duel_id=duel.pk, choice=form.cleaned_data["choice"], actor=request.user,
                                 swapped=selectors.arena_swapped(duel))
        except Exception as exc:  # DuelError, ConsoleError: say it, keep going
            messages.error(request, str(exc))
            return redirect("console:arena")
        messages.success(request, "Skipped." if form.cleaned_data["choice"] == "skip" else "Labelled, thank you.")
        return redirect("console:arena")


class AuditView(StaffView):
    def get(self, request):
        return render(request, "console/audit.html", {"events": selectors.audit_events(limit=200)})
