"""Raw data in the Django admin: battles, thumbs and duels (the console's arena labels duels)."""
from django.contrib import admin

from feedback.models import Duel, Feedback, Preference


@admin.register(Preference)
class PreferenceAdmin(admin.ModelAdmin):
    list_display = ("id", "tenant", "model_a", "model_b", "winner", "source", "judge", "weight", "created")
    list_filter = ("source", "winner", "tenant")
    search_fields = ("model_a", "model_b", "prompt__text")
    raw_id_fields = ("prompt", "request")
    readonly_fields = ("content_hash", "created")


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ("request", "tenant", "rating", "updated")
    list_filter = ("rating", "tenant")
    raw_id_fields = ("request",)


@admin.register(Duel)
class DuelAdmin(admin.ModelAdmin):
    list_display = ("id", "tenant", "status", "winner", "labelled_by", "cost", "created")
    list_filter = ("status", "tenant", "winner")
    raw_id_fields = ("request", "preference")
    readonly_fields = ("judge_verdicts", "attempts", "created", "updated", "labelled_at")
