from django.contrib import admin

from routerhub.gateway.models import RoutedRequest


@admin.register(RoutedRequest)
class RoutedRequestAdmin(admin.ModelAdmin):
    list_display = ("created", "tenant", "requested_model", "served_model", "win_rate", "status", "cost",
                    "routing_latency_ms", "upstream_latency_ms")
    list_filter = ("status", "tenant", "served_model", "router_kind")
    search_fields = ("id", "routed_prompt")
    exclude = ("embedding",)
    readonly_fields = [f.name for f in RoutedRequest._meta.fields if f.name != "embedding"]
