from django.contrib import admin

from training.models import RouterVersion, TrainingRun


@admin.register(RouterVersion)
class RouterVersionAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "created", "activated_at", "artifact_sha256")
    list_filter = ("kind", "status")
    exclude = ("artifact",)
    readonly_fields = ("artifact_sha256", "data_fingerprint", "created", "activated_at")


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ("id", "status", "trigger", "progress", "message", "created", "started", "finished")
    list_filter = ("status", "trigger")
    readonly_fields = [f.name for f in TrainingRun._meta.fields]
