"""Duels: exploration labels from the tenant's own traffic.

A share (`Tenant.duel_rate`) of routed requests also gets the *other* model's answer, fetched by a
Celery task after the user's answer was sent; which requests, and in a pool which other model, the
tenant's duel selection decides (`duel_maybe_create`; `training.core.active`). The pair then waits for a label: a person (console
arena, or `POST /v1/preferences` with the request id) or the tenant's LLM judge (`feedback.judge`,
asked twice with the answers swapped). A label is one battle (strong = model a, weak = model b)
in the tenant's preferences; a person's label replaces the judge's, never the other way round.

Lifecycle: pending -> fetching -> awaiting_label -> labelled, or failed when the other model does
not answer after ROUTERHUB_DUEL_MAX_ATTEMPTS tries.

The request never talks to the broker: it only writes the pending duel in its log transaction.
`duels_dispatch` (beat, every ROUTERHUB_DUEL_DISPATCH_S seconds) queues the fetch of every duel
not queued yet, and re-sends those whose task was lost (pending or fetching for longer than
ROUTERHUB_DUEL_STALE_S: worker killed, broker restarted). With the broker down, duels wait in the
table and go out at the first sweep after it is back; requests are not slowed at all.
"""
from __future__ import annotations

import hashlib
import logging
import threading
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from feedback.judge import VerdictError, combine_verdicts, judge_messages, parse_verdict
from feedback.models import Duel
from feedback.selectors import duels_today
from feedback.store import USER_JUDGE, battle_replace, content_hash
from routerhub.tenants.selectors import endpoint_by_name, tenant_pool_by_price
from routerhub.tenants.upstream import UpstreamClientError, UpstreamUnavailable, answer_text, complete, endpoint_cost
from routerhub.tenants.usage import Unavailable as SpendUnavailable
from routerhub.tenants.usage import spend_add
from training.core.active import DuelSelector, informative_opponent
from training.core.labels import battle_from_preference, duel_opponent

logger = logging.getLogger(__name__)
Status = Duel.Status
DUEL_SOURCE = "duel"
DUEL_JUDGE_SOURCE = "duel-judge"


def duel_sampled(*, request_id, rate: float) -> bool:
    """Whether a request is duelled: a hash of its id against the rate, so the decision is the
    same wherever it is taken and the share converges to `rate`."""
    if rate <= 0:
        return False
    if rate >= 1:
        return True
    draw = int.from_bytes(hashlib.sha256(f"duel:{request_id}".encode()).digest()[:8], "big") / 2 ** 64
    return draw < rate


_selectors: dict[tuple[int, str], DuelSelector] = {}
_selectors_lock = threading.Lock()


def duel_selector(tenant, version_id: int | None) -> DuelSelector:
    """The process's duel selector for `tenant` under one router version (its window of recent win
    rates: another version's win rates are on another scale), one per selection."""
    key = (tenant.pk, tenant.duel_selection)
    selector = _selectors.get(key)
    if selector is None or selector.version_id != version_id:
        with _selectors_lock:
            selector = _selectors.get(key)
            if selector is None or selector.version_id != version_id:
                selector = _selectors[key] = DuelSelector(selection=tenant.duel_selection)
                selector.version_id = version_id
    return selector


def duel_maybe_create(*, request) -> Duel | None:
    """Called inside the gateway's log transaction for a request answered by the routed model: a
    pending duel when the tenant's duel selection picks it (the dispatch sweep queues its fetch).

    The tenant's `duel_rate` is the share of routed requests duelled on average; `duel_selection`
    says which: `active` (training.core.active: near the routing threshold; in a pool, against the
    model whose duel the router is least sure of) or `uniform` (at random; the next model up in
    price). `duel_budget_usd_per_day` stops new duels for the day once today's duels cost that much."""
    tenant = request.tenant
    if not request.router_kind or request.fallback or not request.answer or tenant.duel_rate <= 0:
        return None
    probability = duel_selector(tenant, request.router_version_id).probability(
        win_rate=request.win_rate, threshold=request.threshold, rate=tenant.duel_rate)
    if not duel_sampled(request_id=request.pk, rate=probability) or _over_daily_budget(tenant):
        return None
    pool = tenant_pool_by_price(tenant)
    other = None
    if tenant.duel_selection == "active" and len(pool) > 2:
        other = informative_opponent(served=request.served_model, ratings=request.scores or {}, pool=pool)
    other = other or duel_opponent(served_model=request.served_model, pool=pool)
    if other is None or other == request.served_model:
        return None
    # model a is the more expensive of the two (for a pair: the strong model)
    served_first = pool.index(request.served_model) < pool.index(other)
    model_a, model_b = (request.served_model, other) if served_first else (other, request.served_model)
    duel = Duel.objects.create(request=request, tenant=tenant, model_a=model_a, model_b=model_b,
                               answer_a=request.answer if served_first else "",
                               answer_b="" if served_first else request.answer, probability=probability)
    return duel


def _over_daily_budget(tenant) -> bool:
    """Today's (UTC) duels have cost the tenant's daily duel budget. Counts the answers fetched so
    far: duels created but not fetched yet may take the day past it by their own cost."""
    if tenant.duel_budget_usd_per_day is None:
        return False
    return duels_today(tenant=tenant)["cost"] >= tenant.duel_budget_usd_per_day


def _send_fetch(duel_id: int) -> bool:
    """Queue a duel's fetch; False when the broker cannot take it (the next sweep tries again)."""
    from feedback.tasks import duel_fetch

    try:
        duel_fetch.delay(duel_id)
    except Exception:
        logger.exception("could not queue duel %s", duel_id)
        return False
    return True


def duels_dispatch(*, limit: int = 1000) -> int:
    """Queue the fetch of every pending duel not queued yet (oldest first, at most `limit`), and
    re-send the stale ones (`duels_requeue_stale`). Returns how many were sent. Two sweeps at once
    may send a duel twice: its fetch claims it once."""
    waiting = Duel.objects.filter(status=Status.PENDING, queued_at__isnull=True).order_by("created")
    return _send_fetches(list(waiting.values_list("pk", flat=True)[:limit])) + duels_requeue_stale()


def _send_fetches(duel_ids) -> int:
    """Queue each duel's fetch and note when; stop at the first the broker refuses (the rest wait
    for the next sweep). How many were sent."""
    sent = 0
    for duel_id in duel_ids:
        if not _send_fetch(duel_id):
            break
        Duel.objects.filter(pk=duel_id).update(queued_at=timezone.now())
        sent += 1
    return sent


def duel_fetch_answer(*, duel_id: int) -> Duel:
    """Fetch the other model's answer (claimed by a conditional update: a task delivered twice
    fetches once). Then the duel awaits a label, and the judge task is queued if the tenant has a judge."""
    if not Duel.objects.filter(pk=duel_id, status=Status.PENDING).update(
            status=Status.FETCHING, attempts=F("attempts") + 1, updated=timezone.now()):
        return Duel.objects.get(pk=duel_id)
    duel = Duel.objects.select_related("request", "tenant").get(pk=duel_id)
    missing = duel.model_b if duel.answer_a else duel.model_a
    endpoint = endpoint_by_name(missing)
    try:
        if endpoint is None:
            raise UpstreamUnavailable([f"no active endpoint {missing!r}"])
        result = complete(endpoints=[endpoint], messages=duel.request.messages, extra={}, stream=False)
    except (UpstreamClientError, UpstreamUnavailable) as exc:
        failed = isinstance(exc, UpstreamClientError) or duel.attempts >= settings.ROUTERHUB_DUEL_MAX_ATTEMPTS
        Duel.objects.filter(pk=duel.pk, status=Status.FETCHING).update(
            status=Status.FAILED if failed else Status.PENDING, error=str(exc)[:2000], updated=timezone.now())
        logger.warning("duel %s: %s could not answer (%s)", duel.pk, missing, exc)
        return Duel.objects.get(pk=duel.pk)
    body = result.response
    answer = answer_text(body)
    usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
    prompt_tokens, completion_tokens = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    fields = {"answer_a" if missing == duel.model_a else "answer_b": answer}
    Duel.objects.filter(pk=duel.pk, status=Status.FETCHING).update(
        status=Status.AWAITING_LABEL, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
        cost=endpoint_cost(endpoint, prompt_tokens, completion_tokens), error="", updated=timezone.now(), **fields)
    duel.refresh_from_db()
    if duel.status == Status.AWAITING_LABEL and duel.cost:  # the tenant's spend this month includes duels
        try:
            spend_add(duel.tenant, duel.cost)
        except SpendUnavailable:
            logger.warning("duel %s: its cost was not added to the month's spend counter", duel.pk)
    if duel.tenant.judge_model_id and duel.status == Status.AWAITING_LABEL:
        from feedback.tasks import duel_judge

        duel_judge.delay(duel.pk)
    return duel


class DuelError(Exception):
    """A label the duel cannot take (it has no answers yet, an unknown winner, ...)."""


@transaction.atomic
def duel_label(*, duel_id: int, winner: str, labelled_by: str, judge: str = USER_JUDGE,
               judge_verdicts: dict | None = None) -> Duel:
    """Store a label and its battle (replacing an earlier one). A person's label (judge "user")
    replaces the judge's; the judge never replaces a person's."""
    duel = Duel.objects.select_for_update().select_related("request", "tenant").get(pk=duel_id)
    if duel.status not in (Status.AWAITING_LABEL, Status.LABELLED):
        raise DuelError(f"duel {duel.pk} is {duel.status}: it has no two answers to compare yet")
    by_person = judge == USER_JUDGE
    if not by_person and duel.status == Status.LABELLED and not duel.labelled_by.startswith("judge:"):
        return duel  # a person labelled it meanwhile
    try:
        battle = battle_from_preference(model_a=duel.model_a, model_b=duel.model_b, winner=winner)
    except ValueError as exc:
        raise DuelError(str(exc)) from None
    preference = battle_replace(
        content_hash=content_hash("duel", duel.pk), tenant=duel.tenant, prompt=duel.request.routed_prompt, battle=battle,
        source=DUEL_SOURCE if by_person else DUEL_JUDGE_SOURCE, request=duel.request, judge=judge,
        metadata={"duel": duel.pk, "labelled_by": labelled_by})
    duel.status, duel.winner, duel.labelled_by, duel.labelled_at = Status.LABELLED, winner, labelled_by[:200], timezone.now()
    duel.preference = preference
    if judge_verdicts is not None:
        duel.judge_verdicts = judge_verdicts
    duel.save(update_fields=["status", "winner", "labelled_by", "labelled_at", "preference", "judge_verdicts",
                             "updated"])
    return duel


@transaction.atomic
def duel_skip(*, duel_id: int) -> Duel:
    """A person passed on it in the arena: it goes to the back of the queue."""
    Duel.objects.filter(pk=duel_id).update(skips=F("skips") + 1, updated=timezone.now())
    return Duel.objects.get(pk=duel_id)


def duel_judge_run(*, duel_id: int) -> Duel:
    """Ask the tenant's judge twice (answers in both orders) and store the combined label with
    judge=<judge model>. A reply without a verdict leaves the duel for a person."""
    duel = Duel.objects.select_related("request", "tenant__judge_model").get(pk=duel_id)
    judge = duel.tenant.judge_model
    if judge is None or duel.status != Status.AWAITING_LABEL:
        return duel
    question = duel.request.routed_prompt
    replies = []
    try:
        for first, second in ((duel.answer_a, duel.answer_b), (duel.answer_b, duel.answer_a)):
            result = complete(endpoints=[judge], stream=False, extra={"temperature": 0},
                              messages=judge_messages(question=question, answer_a=first, answer_b=second))
            replies.append(answer_text(result.response))
        verdicts = [parse_verdict(reply) for reply in replies]
    except (UpstreamClientError, UpstreamUnavailable, VerdictError) as exc:
        Duel.objects.filter(pk=duel.pk).update(error=f"judge {judge.name}: {exc}"[:2000], updated=timezone.now())
        logger.warning("duel %s: judge %s gave no verdict (%s)", duel.pk, judge.name, exc)
        return Duel.objects.get(pk=duel.pk)
    judgement = combine_verdicts(*verdicts)
    return duel_label(duel_id=duel.pk, winner=judgement.winner, labelled_by=f"judge:{judge.name}", judge=judge.name,
                      judge_verdicts={"a_first": judgement.first, "b_first": judgement.second,
                                      "consistent": judgement.consistent, "replies": [r[-500:] for r in replies]})


def duels_requeue_stale() -> int:
    """Re-send duels whose fetch task was lost (pending or fetching for too long)."""
    cutoff = timezone.now() - timedelta(seconds=settings.ROUTERHUB_DUEL_STALE_S)
    stale = Duel.objects.filter(status__in=[Status.PENDING, Status.FETCHING], updated__lt=cutoff)
    ids = list(stale.values_list("pk", flat=True))
    Duel.objects.filter(pk__in=ids, status=Status.FETCHING).update(status=Status.PENDING, updated=timezone.now())
    Duel.objects.filter(pk__in=ids, status=Status.PENDING, attempts__gte=settings.ROUTERHUB_DUEL_MAX_ATTEMPTS).update(
        status=Status.FAILED, error="gave up: the other model's answer could not be fetched")
    return _send_fetches(Duel.objects.filter(pk__in=ids, status=Status.PENDING).values_list("pk", flat=True))
