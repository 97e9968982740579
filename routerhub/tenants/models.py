from decimal import Decimal

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from training.core.routers import ROUTER_KINDS

ROUTER_KIND_CHOICES = [(kind, kind.upper()) for kind in ROUTER_KINDS]


class ModelEndpoint(models.Model):
    """An upstream model reachable through an OpenAI-compatible API."""

    name = models.CharField(max_length=128, unique=True, help_text="Model name as clients see it.")
    upstream_model = models.CharField(max_length=200, help_text="Model id sent to the upstream.")
    base_url = models.URLField(max_length=500, help_text="OpenAI-compatible base URL, e.g. https://api.openai.com/v1")
    api_key_env = models.CharField(
        max_length=128, blank=True,
        help_text="Name of the environment variable that holds this endpoint's API key (never the key).",
    )
    input_price_per_mtok = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"),
                                               help_text="USD per 1M input tokens.")
    output_price_per_mtok = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal("0"),
                                                help_text="USD per 1M output tokens.")
    timeout_s = models.FloatField(default=60.0, validators=[MinValueValidator(0.1)])
    max_retries = models.PositiveSmallIntegerField(default=1)
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Tenant(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    default_router_kind = models.CharField(max_length=16, choices=ROUTER_KIND_CHOICES, default="mf")
    routing_threshold = models.FloatField(
        default=0.5, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Send to the strong model when P(strong wins) >= this threshold.",
    )
    strong_model = models.ForeignKey(ModelEndpoint, on_delete=models.PROTECT, related_name="+")
    weak_model = models.ForeignKey(ModelEndpoint, on_delete=models.PROTECT, related_name="+")
    duel_rate = models.FloatField(
        default=0.0, validators=[MinValueValidator(0.0), MaxValueValidator(1.0)],
        help_text="Share of routed requests that also get the other model's answer (fetched after the user's "
                  "answer was sent) for a person or the LLM judge to compare. 0: no duels.")
    duel_selection = models.CharField(
        max_length=16, choices=[("active", "active"), ("uniform", "uniform")], default="active",
        help_text="Which routed requests the duel rate spends its duels on: active (near the routing threshold, "
                  "where a label changes the router most; training/core/active.py) or uniform (at random).")
    duel_budget_usd_per_day = models.DecimalField(
        max_digits=12, decimal_places=4, null=True, blank=True, validators=[MinValueValidator(0)],
        help_text="Most the duels' extra answers may cost per day (UTC); once reached, no new duel that day. "
                  "Empty: only the duel rate limits them.")
    pool = models.ManyToManyField(
        ModelEndpoint, blank=True, related_name="pool_tenants",
        help_text="The models `router` chooses among, by predicted quality and expected cost. Empty: the strong "
                  "and the weak model (a pair: the threshold means P(strong wins) as in RouteLLM).")
    judge_model = models.ForeignKey(
        ModelEndpoint, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="LLM judge for this tenant's duels (any OpenAI-compatible endpoint). Empty: duels wait for a "
                  "person (console arena or POST /v1/preferences).")
    rate_limit_rpm = models.PositiveIntegerField(
        null=True, blank=True, help_text="Requests per minute (sliding) over all the tenant's keys; empty: no limit.")
    rate_limit_tpm = models.PositiveIntegerField(
        null=True, blank=True, help_text="Tokens (prompt + completion) per minute; empty: no limit.")
    monthly_budget_usd = models.DecimalField(
        max_digits=12, decimal_places=2, null=True, blank=True, validators=[MinValueValidator(Decimal("0"))],
        help_text="Spend per calendar month (UTC), answers and duels; empty: no budget.")

    class BudgetAction(models.TextChoices):
        BLOCK = "block", "refuse requests (429 insufficient_quota)"
        CHEAPEST = "cheapest", "route every request to the cheapest model"

    budget_action = models.CharField(max_length=16, choices=BudgetAction.choices, default=BudgetAction.BLOCK,
                                     help_text="What happens once the month's spend reaches the budget.")
    active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(routing_threshold__gte=0.0) & models.Q(routing_threshold__lte=1.0),
                name="tenant_threshold_in_unit_interval",
            ),
            models.CheckConstraint(condition=models.Q(duel_rate__gte=0.0) & models.Q(duel_rate__lte=1.0),
                                   name="tenant_duel_rate_in_unit_interval"),
        ]

    def __str__(self) -> str:
        return self.slug


class ApiKey(models.Model):
    """A tenant's API key. Only the SHA-256 of the secret is stored; the key is shown once."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=128)
    prefix = models.CharField(max_length=16, help_text="First characters of the key, for recognising it.")
    key_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.tenant.slug}/{self.name})"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class ModelAlias(models.Model):
    """A model name a client sends (say `gpt-4o`) that this tenant's gateway answers as `target`:
    `router`, `router-<kind>-<threshold>` or a configured model. A client that hard-codes a model
    name is pointed at the router without a code change; `/v1/models` lists the aliases. Checked on
save by `routerhub.tenants.selectors.alias_problem` (the admin's form)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="aliases")
    name = models.CharField(max_length=128, help_text="The name clients send, e.g. gpt-4o.")
    target = models.CharField(max_length=128, help_text="router, router-<kind>-<threshold> (e.g. router-mf-0.3), "
                                                        "or a configured model's name.")
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="model_alias_per_tenant")]

    def __str__(self) -> str:
        return f"{self.name} → {self.target}"
