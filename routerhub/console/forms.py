from django import forms

from routerhub.console.selectors import PERIODS
from routerhub.gateway.models import RoutedRequest
from routerhub.tenants.models import ModelEndpoint, Tenant
from training.core.routers import ROUTER_KINDS, TRAINABLE_KINDS
from training.runs import training_kinds_default


class PeriodForm(forms.Form):
    tenant = forms.ModelChoiceField(Tenant.objects.all(), required=False, empty_label="all tenants",
                                    to_field_name="slug")
    period = forms.ChoiceField(choices=[(p, p) for p in PERIODS], required=False, initial="7d")


class ThresholdForm(forms.Form):
    """A threshold given as a number, as the strong-call share it should produce (a pair), or as
    the average cost per request it should keep to (a pair or a pool)."""

    MODES = [("number", "threshold"), ("share", "target strong-call share (%)"),
             ("cost", "target average cost per request (USD)")]
    mode = forms.ChoiceField(choices=MODES, initial="share")
    value = forms.FloatField(min_value=0.0, max_value=100.0)

    def clean(self):
        data = super().clean()
        if data.get("mode") == "number" and data.get("value") is not None and data["value"] > 1:
            self.add_error("value", "A threshold is a number in [0, 1].")
        return data


class TenantSettingsForm(forms.ModelForm):
    class Meta:
        model = Tenant
        fields = ["default_router_kind", "duel_rate", "duel_selection", "duel_budget_usd_per_day", "strong_model", "weak_model", "judge_model", "pool",
                  "rate_limit_rpm", "rate_limit_tpm", "monthly_budget_usd", "budget_action", "active"]
        widgets = {"duel_rate": forms.NumberInput(attrs={"step": "0.01", "min": 0, "max": 1}),
                   "pool": forms.CheckboxSelectMultiple}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        endpoints = ModelEndpoint.objects.filter(active=True)
        for name in ("strong_model", "weak_model", "judge_model", "pool"):
            self.fields[name].queryset = endpoints
        self.fields["pool"].label_from_instance = lambda e: (
            f"{e.name} (${e.input_price_per_mtok:g} / ${e.output_price_per_mtok:g} per 1M tokens in / out)")
        self.fields["pool"].help_text = "Empty: route between the strong and the weak model (a pair)."
        self.fields["default_router_kind"].choices = [(k, k.upper()) for k in ROUTER_KINDS]


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=128, help_text="Who or what uses it.")


class RequestFilterForm(forms.Form):
    tenant = forms.ModelChoiceField(Tenant.objects.all(), required=False, empty_label="all tenants",
                                    to_field_name="slug")
    model = forms.CharField(required=False)
    status = forms.ChoiceField(choices=[("", "any status")] + list(RoutedRequest.Status.choices), required=False)
    win_min = forms.FloatField(required=False, min_value=0, max_value=1, label="win rate ≥")
    win_max = forms.FloatField(required=False, min_value=0, max_value=1, label="win rate ≤")
    feedback = forms.ChoiceField(choices=[("", "with or without feedback"), ("with", "with feedback"),
                                          ("without", "without feedback")], required=False)


class RetrainForm(forms.Form):
    tenant = forms.ModelChoiceField(Tenant.objects.all(), required=False, empty_label="global (shared data)",
                                    to_field_name="slug")
    kinds = forms.MultipleChoiceField(choices=[(k, k.upper()) for k in TRAINABLE_KINDS],
                                      initial=lambda: list(training_kinds_default()),
                                      widget=forms.CheckboxSelectMultiple)


class ArenaForm(forms.Form):
    duel = forms.IntegerField()
    choice = forms.ChoiceField(choices=[(c, c) for c in ("left", "right", "tie", "skip")])
