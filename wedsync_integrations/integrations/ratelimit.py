"""Client-side rate limits a vendor sets per tenant (or per app), shared by every process.

Vendors count our calls per connected tenant: Xero allows 60 a minute and 5 at once per tenant,
QuickBooks 500 a minute and 10 at once per company. Every web process and Celery worker calling
the same tenant must therefore spend one budget, so the counts live in Django's cache (Redis in
production), like the circuit breaker's state (breaker.py):

    limits = (RateLimit("xero:tenant:3f2a…", per_minute=60, concurrent=5),
              RateLimit("xero:app", per_minute=10_000))
    client = provider.client(rate_limits=limits)         # VendorClient acquires before each send

- per minute: a sliding-window counter (this minute's count plus the share of the previous
  minute's that still falls inside the last 60 seconds), so a burst at a minute boundary cannot
  double the rate;
- concurrent: numbered slots taken with cache.add and held for the request (a lease that expires,
  so a worker killed mid-request frees its slot);
- a 429 from the vendor blocks the first (the tenant's) scope for its Retry-After: only that
  tenant waits, every other tenant keeps going.

A call that cannot go within OUTBOUND_RATE_LIMIT_MAX_WAIT_SECONDS raises RetryableError with the
wait as its retry_after: the outbox item backs off instead of a worker sleeping on it.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache

from .errors import RetryableError

WINDOW_SECONDS = 60
POLL_SECONDS = 0.05


class RateLimited(RetryableError):
    """The tenant's budget is spent for now (or the vendor told us to wait): no request was sent."""


@dataclass(frozen=True)
class RateLimit:
    """One scope's limits. `scope` names what the vendor counts ("xero:tenant:<id>"); 0 = no limit."""

    scope: str
    per_minute: int = 0
    concurrent: int = 0

    def key(self, part: str) -> str:
        return f"wsi:rl:{self.scope}:{part}"


@dataclass
class Lease:
    """The concurrency slots one request holds; release() gives them back."""

    slots: list[str] = field(default_factory=list)

    def release(self) -> None:
        if self.slots:
            cache.delete_many(self.slots)
            self.slots = []


def acquire(
    limits: Sequence[RateLimit],
    *,
    lease_seconds: float,
    max_wait: float | None = None,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Lease:
    """Spend one request of every scope's budget, waiting up to `max_wait` seconds; RateLimited
    (with the wait still needed) when that is not enough."""
    max_wait = settings.OUTBOUND_RATE_LIMIT_MAX_WAIT_SECONDS if max_wait is None else max_wait
    deadline = clock() + max_wait
    lease = Lease()
    try:
        for limit in limits:
            _wait_until_unblocked(limit, deadline, clock, sleep)
            if limit.per_minute:
                _take_minute_budget(limit, deadline, clock, sleep)
            if limit.concurrent:
                lease.slots.append(_take_slot(limit, deadline, lease_seconds, clock, sleep))
    except RateLimited:
        lease.release()
        raise
    return lease


def block(limit: RateLimit, seconds: float, *, clock: Callable[[], float] = time.time) -> None:
    """The vendor answered 429: nobody calls this scope for `seconds`."""
    seconds = max(1.0, float(seconds))
    until = clock() + seconds
    current = cache.get(limit.key("blocked_until"))
    if current is None or current < until:
        cache.set(limit.key("blocked_until"), until, timeout=math.ceil(seconds) + 1)


def blocked_for(limit: RateLimit, *, clock: Callable[[], float] = time.time) -> float:
    until = cache.get(limit.key("blocked_until"))
    return max(0.0, until - clock()) if until else 0.0


# -- internals ----------------------------------------------------------------------------------------
def _give_up(limit: RateLimit, why: str, retry_after: float) -> RateLimited:
    return RateLimited(f"{limit.scope}: {why}; trying again in {retry_after:.0f}s", retry_after=retry_after)


def _wait_until_unblocked(limit, deadline, clock, sleep) -> None:
    remaining = blocked_for(limit, clock=clock)
    if not remaining:
        return
    if clock() + remaining > deadline:
        raise _give_up(limit, "the vendor asked us to wait (429)", remaining)
    sleep(remaining)


def _take_minute_budget(limit, deadline, clock, sleep) -> None:
    while True:
        wait = _try_minute(limit, clock())
        if wait == 0:
            return
        if clock() + wait > deadline:
            raise _give_up(limit, f"{limit.per_minute} requests a minute spent", wait)
        sleep(wait)


def _try_minute(limit: RateLimit, now: float) -> float:
    """Count one request in the sliding window; 0 if it fits, else seconds until one would."""
    window = int(now // WINDOW_SECONDS)
    current_key, previous_key = limit.key(f"m:{window}"), limit.key(f"m:{window - 1}")
    count = _incr(current_key, timeout=2 * WINDOW_SECONDS + 5)
    previous = cache.get(previous_key) or 0
    elapsed = now - window * WINDOW_SECONDS
    weight = (WINDOW_SECONDS - elapsed) / WINDOW_SECONDS
    if previous * weight + count <= limit.per_minute:
        return 0.0
    _decr(current_key)
    if previous and count <= limit.per_minute:
        # the previous minute's share shrinks by previous/60 a second: wait until it has shrunk enough
        excess = previous * weight + count - limit.per_minute
        return min(WINDOW_SECONDS - elapsed, max(POLL_SECONDS, excess * WINDOW_SECONDS / previous))
    return max(POLL_SECONDS, WINDOW_SECONDS - elapsed)


def _take_slot(limit, deadline, lease_seconds, clock, sleep) -> str:
    token = secrets.token_hex(8)
    first = secrets.randbelow(limit.concurrent)  # start anywhere: callers do not all fight for slot 0
    while True:
        for offset in range(limit.concurrent):
            key = limit.key(f"c:{(first + offset) % limit.concurrent}")
            if cache.add(key, token, timeout=math.ceil(lease_seconds)):
                return key
        if clock() + POLL_SECONDS > deadline:
            raise _give_up(limit, f"{limit.concurrent} requests already in flight", 1.0)
        sleep(POLL_SECONDS)


def _incr(key: str, *, timeout: int) -> int:
    if cache.add(key, 1, timeout=timeout):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=timeout)
        return 1


def _decr(key: str) -> None:
    try:
        cache.decr(key)
    except ValueError:
        pass
