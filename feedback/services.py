"""Writes for feedback from the gateway's users: thumbs on a request, pairwise preferences
(each stored as the battle it stands for, `training.core.labels`)."""
from __future__ import annotations

from django.db import transaction

from feedback.duels import duel_label
from feedback.models import Duel, Feedback, Preference
from feedback.store import USER_JUDGE, battle_replace, content_hash
from routerhub.tenants.selectors import endpoint_names_active, tenant_pool_by_price
from training.core.embeddings import text_sha256
from training.core.labels import battle_from_preference, battle_from_thumbs_in_pool

THUMBS_SOURCE = "thumbs"
PREFERENCE_API_SOURCE = "preference-api"


class FeedbackError(Exception):
    """A request the feedback API cannot take: `status` 404 (unknown to this tenant) or 400."""

    def __init__(self, message: str, *, status: int = 400, code: str = "invalid_request", param: str | None = None):
        super().__init__(message)
        self.status, self.code, self.param = status, code, param


@transaction.atomic
def feedback_rate(*, tenant, request, rating: str, comment: str = ""):
    """Store (or replace) the tenant's thumbs on one of its requests (a logged `RoutedRequest` the
    caller found for this tenant), and the battle it stands for
    (`training.core.labels.battle_from_thumbs`). Returns the Feedback."""
    if request.tenant_id != tenant.pk:
        raise FeedbackError(f"No request {request.pk} for this tenant.", status=404, code="request_not_found",
                            param="request_id")
    if not request.served_model or not request.answer:
        raise FeedbackError(f"Request {request.pk} has no answer to rate (status {request.status}).",
                            code="nothing_to_rate", param="request_id")
    feedback, _ = Feedback.objects.update_or_create(request=request, defaults={
        "tenant": tenant, "rating": rating, "comment": comment})
    battle = battle_from_thumbs_in_pool(rating=rating, served_model=request.served_model,
                                        pool=tenant_pool_by_price(tenant))
    battle_replace(content_hash=content_hash("thumbs", str(request.pk)), tenant=tenant, prompt=request.routed_prompt,
                    battle=battle, source=THUMBS_SOURCE, request=request,
                    metadata={"rating": rating, "served_model": request.served_model})
    return feedback


@transaction.atomic
def preference_submit(*, tenant, model_a: str, model_b: str, winner: str, request=None, prompt: str | None = None,
                      response_a: str | None = None, response_b: str | None = None) -> Preference:
    """A pairwise preference from the tenant's own UI: about one of its requests (a logged
    `RoutedRequest` the caller found for this tenant; the prompt is its routed prompt) or about a
    prompt given here. Submitting the same comparison again replaces its winner; it never counts twice."""
    if request is not None and request.tenant_id != tenant.pk:
        raise FeedbackError(f"No request {request.pk} for this tenant.", status=404, code="request_not_found",
                            param="request_id")
    prompt = prompt if prompt else (request.routed_prompt if request else "")
    if not prompt.strip():
        raise FeedbackError("Give a 'prompt' or the 'request_id' of a request with a prompt.", param="prompt")
    try:
        battle = battle_from_preference(model_a=model_a, model_b=model_b, winner=winner)
    except ValueError as exc:
        raise FeedbackError(str(exc), param="winner" if "winner" in str(exc) else "model_b") from None
    known = endpoint_names_active()
    for param, name in (("model_a", model_a), ("model_b", model_b)):
        if name not in known:  # training data names models the gateway can call, nothing else
            shown = name if len(name) <= 80 else name[:80] + "…"
            raise FeedbackError(f"{param} {shown!r} is not a configured model; GET /v1/models lists the models "
                                "a preference may name.", status=404, code="model_not_found", param=param)
    duel = _duel_for(request, model_a, model_b)
    if duel is not None:  # the label a duel was waiting for: one battle per duel, whoever labels it
        flipped = model_a != duel.model_a
        winner = {"model_a": "model_b", "model_b": "model_a"}.get(winner, winner) if flipped else winner
        return duel_label(duel_id=duel.pk, winner=winner, labelled_by="api", judge=USER_JUDGE).preference
    key = content_hash("preference", tenant.pk, str(request.pk) if request else "", text_sha256(prompt), model_a,
                         model_b, text_sha256(response_a or ""), text_sha256(response_b or ""))
    metadata = {key: value for key, value in (("response_a", response_a), ("response_b", response_b)) if value}
    return battle_replace(content_hash=key, tenant=tenant, prompt=prompt, battle=battle,
                           source=PREFERENCE_API_SOURCE, request=request, metadata=metadata)


def _duel_for(request, model_a: str, model_b: str):
    """The request's duel, if it compares these two models and has both answers. One that is still
    fetching its second answer is a 409: a label now would become a second battle for one duel."""
    if request is None:
        return None
    duel = Duel.objects.filter(request=request).exclude(status=Duel.Status.FAILED).first()
    if duel is None or {model_a, model_b} != {duel.model_a, duel.model_b}:
        return None
    if duel.status in (Duel.Status.PENDING, Duel.Status.FETCHING):
        raise FeedbackError(f"The duel of request {request.pk} is still fetching its second answer: label it once "
                            "GET /v1/requests/<id> shows both answers.", status=409, code="duel_not_ready",
                            param="request_id")
    return duel
