from django import forms
from django.contrib import admin, messages

from routerhub.audit.services import audit_record
from routerhub.tenants.models import ApiKey, ModelAlias, ModelEndpoint, Tenant
from routerhub.tenants.selectors import alias_problem
from routerhub.tenants.services import api_key_create, api_key_revoke


@admin.register(ModelEndpoint)
class ModelEndpointAdmin(admin.ModelAdmin):
    list_display = ("name", "upstream_model", "base_url", "input_price_per_mtok", "output_price_per_mtok",
                    "timeout_s", "active")
    list_filter = ("active",)
    search_fields = ("name", "upstream_model")


class ApiKeyInline(admin.TabularInline):
    model = ApiKey
    fields = ("name", "prefix", "created", "last_used", "revoked_at")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False  # keys are made by the "Create API key" action so the secret is shown once


class ModelAliasForm(forms.ModelForm):
    class Meta:
        model = ModelAlias
        fields = ("name", "target")

    def clean(self):
        data = super().clean()
        problem = alias_problem(name=data.get("name", ""), target=data.get("target", ""))
        if problem:
            raise forms.ValidationError(problem)
        return data


class ModelAliasInline(admin.TabularInline):
    """Names clients send (say gpt-4o) answered as router, router-<kind>-<threshold> or a model."""

    model = ModelAlias
    form = ModelAliasForm
    fields = ("name", "target", "created")
    readonly_fields = ("created",)
    extra = 0


@admin.register(Tenant)
class TenantAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "default_router_kind", "routing_threshold", "strong_model", "weak_model",
                    "duel_rate", "duel_selection", "judge_model", "active")
    list_filter = ("active", "default_router_kind")
    search_fields = ("slug", "name")
    inlines = [ApiKeyInline, ModelAliasInline]
    actions = ["create_api_key"]

    def save_model(self, request, obj, form, change):
        """Edits here are audited like the console's (who changed the threshold, and when)."""
        super().save_model(request, obj, form, change)
        if change and form.changed_data:
            changes = {name: str(form.cleaned_data.get(name)) for name in form.changed_data}
            action = "threshold_changed" if form.changed_data == ["routing_threshold"] else "tenant_updated"
            audit_record(actor=request.user, via="admin", action=action, tenant=obj, details=changes,
                         summary=f"{obj.slug}: " + ", ".join(f"{k} → {v}" for k, v in changes.items()) + " (admin)")

    @admin.action(description="Create an API key (shown once)")
    def create_api_key(self, request, queryset):
        for tenant in queryset:
            created = api_key_create(tenant=tenant, name=f"admin:{request.user.get_username()}", actor=request.user)
            self.message_user(request, f"New key for {tenant.slug} (copy it now, it is not stored): "
                                       f"{created.raw_key}", messages.WARNING)


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ("prefix", "tenant", "name", "created", "last_used", "revoked_at")
    list_filter = ("tenant",)
    readonly_fields = ("tenant", "prefix", "key_hash", "created", "last_used", "revoked_at")
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke selected keys")
    def revoke(self, request, queryset):
        for api_key in queryset:
            api_key_revoke(api_key=api_key, actor=request.user)
