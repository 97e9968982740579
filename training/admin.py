from django.contrib import admin

from training.models import RouterVersion


@admin.register(RouterVersion)
class RouterVersionAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "created", "activated_at", "artifact_sha256")
    list_filter = ("kind", "status")
    exclude = ("artifact",)
    readonly_fields = ("artifact_sha256", "data_fingerprint", "created", "activated_at")
