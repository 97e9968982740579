from django.contrib import admin, messages

from training.models import RouterVersion, TrainingRun
from training.services import PromotionError, router_version_promote, router_version_rollback


@admin.register(RouterVersion)
class RouterVersionAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "tenant", "status", "created", "activated_at", "training_run", "artifact_sha256")
    list_filter = ("kind", "status", "tenant")
    exclude = ("artifact",)
    # status changes only through the actions: promotion and rollback are single transactions
    # what a version is, and its status, change only through training and the actions: editing the
    # tenant would serve one tenant a router trained on another's feedback
    readonly_fields = ("kind", "tenant", "status", "replaced", "training_run", "model_names", "metrics",
                       "data_counts", "artifact_sha256", "data_fingerprint", "created", "activated_at")
    actions = ["promote", "roll_back"]

    @admin.action(description="Promote the selected version (one per kind and scope)", permissions=["change"])
    def promote(self, request, queryset):
        for version in queryset.order_by("pk"):
            router_version_promote(version=version, actor=request.user)  # audited, as everywhere
            self.message_user(request, f"{version} is now active.", messages.SUCCESS)

    @admin.action(description="Roll back: re-activate what the selected active version replaced",
                  permissions=["change"])
    def roll_back(self, request, queryset):
        for version in queryset.filter(status=RouterVersion.Status.ACTIVE):
            try:
                back = router_version_rollback(version=version, actor=request.user)
            except PromotionError as exc:
                self.message_user(request, str(exc), messages.ERROR)
                continue
            self.message_user(request, f"{version} retired; " + (f"{back} is active again." if back else
                                                                 f"{version.tenant} is served by the global version."),
                              messages.SUCCESS)


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "tenant", "trigger", "progress", "message", "created", "started", "finished")
    list_filter = ("status", "trigger")
    readonly_fields = [f.name for f in TrainingRun._meta.fields]
