"""Per-tenant usage that every web process and worker shares, kept in Redis (the broker's server):
requests and tokens in a sliding minute, and spend per calendar month (UTC).

The minute is a sliding window approximated from two fixed windows (the current minute's count
plus the previous minute's, weighted by the part of it still inside the last 60 s), so a burst at
a minute's edge cannot double a limit. Counting is atomic (INCR) across processes. When Redis does
not answer, `Unavailable` is raised and the caller decides (the gateway lets the request through:
an outage of the counters must not take the API down).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal
from typing import Callable

from django.conf import settings

from routerhub.embedded import redis_client
from routerhub.tenants.models import Tenant

WINDOW_S = 60
MONTH_TTL_S = 40 * 24 * 3600


class Unavailable(Exception):
    """The counters' Redis did not answer."""


_clients: dict[str, object] = {}


def _redis():
    url = settings.ROUTERHUB_LIMITS_REDIS_URL or settings.CELERY_BROKER_URL
    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis_client(url, timeout=0.5)
    return client


def _key(kind: str, tenant: Tenant, *parts) -> str:
    # the database's name keeps a test run's counters apart from a `make run` on the same Redis, and
    # the tenant's creation time a tenant apart from an earlier one with the same id (a new database)
    scope = f"{tenant.pk}.{int(tenant.created.timestamp() * 1000)}"
    return ":".join(["routerhub", str(settings.DATABASES["default"]["NAME"]), "usage", kind, scope, *map(str, parts)])


def _call(fn):
    import redis

    try:
        return fn(_redis())
    except redis.RedisError as exc:
        raise Unavailable(f"{type(exc).__name__}: {exc}") from exc


@dataclass(frozen=True)
class Minute:
    """A tenant's counts in the previous and the current fixed minute, and how far into the current
    one we are: the sliding minute weighs the previous one by the share of it still inside."""

    prev_requests: float
    requests_now: float  # this request included
    prev_tokens: float
    tokens_now: float
    into: float
    window: int

    @property
    def weight(self) -> float:
        return 1.0 - self.into / WINDOW_S

    @property
    def requests(self) -> float:
        return self.prev_requests * self.weight + self.requests_now

    @property
    def tokens(self) -> float:
        return self.prev_tokens * self.weight + self.tokens_now


def minute_count_request(tenant: Tenant) -> Minute:
    """Count one request (atomically) and read the tenant's minute."""
    now = time.time()
    window, into = int(now // WINDOW_S), now % WINDOW_S

    def run(r):
        pipe = r.pipeline()
        pipe.get(_key("req", tenant, window - 1))
        pipe.get(_key("tok", tenant, window - 1))
        pipe.incr(_key("req", tenant, window))
        pipe.expire(_key("req", tenant, window), 2 * WINDOW_S)
        pipe.get(_key("tok", tenant, window))
        return pipe.execute()

    prev_req, prev_tok, cur_req, _, cur_tok = _call(run)
    return Minute(float(prev_req or 0), float(cur_req or 0), float(prev_tok or 0), float(cur_tok or 0), into, window)


def sliding_wait_s(*, prev: float, now: float, into: float, need: float, limit: float) -> float:
    """Seconds until `need` more fits under `limit` in the sliding minute, if nothing else is sent:
    the previous minute's weight shrinks as time goes, and at the next minute the current counts
    become the previous ones. What a client that obeys Retry-After must wait to be admitted."""
    budget = limit - need
    if budget < 0:
        return float(WINDOW_S)  # never fits in one minute (a prompt over the token limit): a minute
    if now <= budget:
        if prev <= 0:
            return 0.0
        # prev * (1 - (into + d) / W) + now <= budget
        wait = max(0.0, (1.0 - (budget - now) / prev) * WINDOW_S - into)
        if into + wait <= WINDOW_S:
            return wait
    if now <= 0:
        return WINDOW_S - into
    # next minute, y seconds in: now * (1 - y / W) <= budget
    return WINDOW_S - into + max(0.0, (1.0 - budget / now) * WINDOW_S)


def request_uncount(tenant: Tenant, window: int) -> None:
    """Take back a request `minute_count_request` counted in `window` and that was then refused."""
    _call(lambda r: r.decr(_key("req", tenant, window)))


def tokens_add(tenant: Tenant, tokens: int) -> None:
    if tokens <= 0:
        return
    key = _key("tok", tenant, int(time.time() // WINDOW_S))

    def run(r):
        pipe = r.pipeline()
        pipe.incrby(key, int(tokens))
        pipe.expire(key, 2 * WINDOW_S)
        pipe.execute()

    _call(run)


def month_key(tenant: Tenant, when: datetime | None = None) -> str:
    when = when or datetime.now(timezone.utc)
    return _key("spend", tenant, when.strftime("%Y-%m"))


def spend_month(tenant: Tenant, *, initial: Callable[[], Decimal]) -> Decimal:
    """The tenant's spend this month (USD). The first read of a month (or after Redis lost it)
    starts the counter from `initial()` (the database's sum), once, whoever gets there first."""
    key = month_key(tenant)
    value = _call(lambda r: r.get(key))
    if value is None:
        start = initial()
        _call(lambda r: r.set(key, str(start), nx=True, ex=MONTH_TTL_S))
        value = _call(lambda r: r.get(key))
    return Decimal(value.decode() if isinstance(value, bytes) else str(value))


def spend_add(tenant: Tenant, cost: Decimal) -> None:
    """Add a spend to this month's counter, if it has started (else its first read counts it from
    the database, where the spend already is)."""
    if not cost:
        return
    key = month_key(tenant)
    script = "if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('INCRBYFLOAT', KEYS[1], ARGV[1]) end"
    _call(lambda r: r.eval(script, 1, key, str(cost)))
