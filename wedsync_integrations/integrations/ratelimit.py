"""Client-side limits a vendor imposes, shared by every process through the cache (like breaker.py).

    per_minute = RequestRate(f"powerbi:{dataset_id}", limit=120, per_seconds=60)
    in_flight = Concurrency(f"powerbi:{dataset_id}", limit=5)
    with in_flight.slot(), per_minute.spend():
        client.request(...)

RequestRate: at most `limit` requests in any `per_seconds` window (a sliding window kept as ten
buckets). A request is counted *before* the window is judged (increment, then read the sum), so two
workers racing for the last request can both be refused but never both admitted: the limit is
never exceeded, it is at worst briefly under-used.

Concurrency: at most `limit` requests pending at once, as leased slots (cache.add on one of `limit`
keys, released after the call, expiring after `lease_seconds` if the holder dies).

When the limit is reached the caller waits up to `wait_seconds` for room (short: a worker is not a
queue), then gets a RetryableError whose retry_after says when room will be there, so the outbox
backs off instead of hammering the vendor.

A vendor's per-tenant limits can also be declared on its client, which then spends them on every
send (Xero: 60 a minute and 5 at once per tenant, and 10,000 a minute per app):

    limits = (RateLimit("xero:tenant:3f2a…", per_minute=60, concurrent=5), RateLimit("xero:app", per_minute=10_000))
    client = provider.client(rate_limits=limits)       # VendorClient acquires before each send

and a 429 holds the first (the tenant's) scope for its Retry-After, so only that tenant waits.
"""

from __future__ import annotations

import contextlib
import math
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.core.cache import cache

from .errors import RetryableError

BUCKETS = 10
POLL_SECONDS = 0.1


class RequestRate:
    def __init__(self, name: str, *, limit: int, per_seconds: float, wait_seconds: float = 2.0):
        if limit < 1 or per_seconds <= 0:
            raise ValueError("a request rate needs a positive limit and window")
        self.name, self.limit, self.per_seconds, self.wait_seconds = name, limit, per_seconds, wait_seconds
        self.bucket_seconds = per_seconds / BUCKETS

    def _bucket(self, now: float) -> int:
        return int(now // self.bucket_seconds)

    def _key(self, bucket: int) -> str:
        return f"wsi:rate:{self.name}:{bucket}"

    def used(self, now: float | None = None) -> int:
        """Requests counted in the window ending now."""
        now = time.time() if now is None else now
        current = self._bucket(now)
        keys = [self._key(bucket) for bucket in range(current - BUCKETS + 1, current + 1)]
        return sum(int(value) for value in cache.get_many(keys).values())

    def try_spend(self, now: float | None = None) -> bool:
        """Count one request if the window has room; False (and nothing counted) if not."""
        now = time.time() if now is None else now
        key = self._key(self._bucket(now))
        timeout = int(self.per_seconds + self.bucket_seconds) + 1
        if not cache.add(key, 1, timeout=timeout):
            try:
                cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=timeout)
        if self.used(now) <= self.limit:
            return True
        try:
            cache.decr(key)  # give the place back: this request is not sent
        except ValueError:
            pass
        return False

    def seconds_until_room(self, now: float | None = None) -> float:
        now = time.time() if now is None else now
        return self.bucket_seconds - (now % self.bucket_seconds)

    @contextlib.contextmanager
    def spend(self):
        # bounded by tries as well as time: a frozen clock (tests) must not spin forever
        for _ in range(int(self.wait_seconds / POLL_SECONDS) + 1):
            if self.try_spend():
                break
            time.sleep(min(self.seconds_until_room(), POLL_SECONDS))
        else:
            raise RetryableError(
                f"{self.name}: client-side limit of {self.limit} requests per {self.per_seconds:g}s reached",
                retry_after=max(self.seconds_until_room(), 1.0),
            )
        yield


class Concurrency:
    def __init__(self, name: str, *, limit: int, lease_seconds: float = 300.0, wait_seconds: float = 2.0):
        if limit < 1:
            raise ValueError("a concurrency limit needs a positive limit")
        self.name, self.limit, self.lease_seconds, self.wait_seconds = name, limit, lease_seconds, wait_seconds

    def _key(self, index: int) -> str:
        return f"wsi:slots:{self.name}:{index}"

    def held(self) -> int:
        return len(cache.get_many([self._key(index) for index in range(self.limit)]))

    def try_acquire(self) -> str | None:
        """The key of a free slot, now leased to the caller; None when all are taken."""
        token = uuid.uuid4().hex
        for index in range(self.limit):
            key = self._key(index)
            if cache.add(key, token, timeout=int(self.lease_seconds)):
                return key
        return None

    @contextlib.contextmanager
    def slot(self):
        for _ in range(int(self.wait_seconds / POLL_SECONDS) + 1):
            key = self.try_acquire()
            if key is not None:
                break
            time.sleep(POLL_SECONDS)
        else:
            raise RetryableError(f"{self.name}: {self.limit} requests already pending", retry_after=5.0)
        try:
            yield
        finally:
            cache.delete(key)


class ExclusiveUse:
    """One holder at a time across every process (e.g. one sign-in session per personal access token).
    Not re-entrant. A holder that dies releases it when its lease expires."""

    def __init__(
        self, name: str, *, lease_seconds: float = 900.0, wait_seconds: float = 0.0, retry_after: float = 30.0
    ):
        self.name, self.lease_seconds, self.wait_seconds, self.retry_after = (
            name,
            lease_seconds,
            wait_seconds,
            retry_after,
        )
        self.key = f"wsi:exclusive:{name}"

    def busy(self) -> bool:
        return cache.get(self.key) is not None

    @contextlib.contextmanager
    def held(self):
        token = uuid.uuid4().hex
        for _ in range(int(self.wait_seconds / POLL_SECONDS) + 1):
            if cache.add(self.key, token, timeout=int(self.lease_seconds)):
                break
            time.sleep(POLL_SECONDS)
        else:
            raise RetryableError(f"{self.name}: in use by another job", retry_after=self.retry_after)
        try:
            yield
        finally:
            if cache.get(self.key) == token:
                cache.delete(self.key)


# -- a vendor's limits declared on its client (VendorClient(rate_limits=…)) ----------------------------------
class RateLimited(RetryableError):
    """A scope's budget is spent for now, or the vendor told us to wait: no request was sent."""


@dataclass(frozen=True)
class RateLimit:
    """One scope's limits: what the vendor counts (`scope`, e.g. "xero:tenant:<id>"), requests per
    minute and at once; 0 = no such limit."""

    scope: str
    per_minute: int = 0
    concurrent: int = 0

    def rate(self) -> RequestRate:
        return RequestRate(self.scope, limit=self.per_minute, per_seconds=60, wait_seconds=0)

    def slots(self, lease_seconds: float) -> Concurrency:
        return Concurrency(self.scope, limit=self.concurrent, lease_seconds=lease_seconds, wait_seconds=0)

    @property
    def blocked_key(self) -> str:
        return f"wsi:blocked:{self.scope}"


@dataclass
class Lease:
    """The concurrency slots one send holds; release() gives them back."""

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
    """Spend one request of every scope's budget, waiting up to `max_wait` seconds
    (OUTBOUND_RATE_LIMIT_MAX_WAIT_SECONDS); RateLimited, with the wait still needed, when that is
    not enough."""
    max_wait = settings.OUTBOUND_RATE_LIMIT_MAX_WAIT_SECONDS if max_wait is None else max_wait
    deadline = clock() + max_wait
    lease = Lease()
    try:
        for limit in limits:
            _wait_until_unblocked(limit, deadline, clock, sleep)
            if limit.per_minute:
                _spend(limit, deadline, clock, sleep)
            if limit.concurrent:
                lease.slots.append(_take_slot(limit, lease_seconds, deadline, clock, sleep))
    except RateLimited:
        lease.release()
        raise
    return lease


def block(limit: RateLimit, seconds: float, *, clock: Callable[[], float] = time.time) -> None:
    """The vendor answered 429: nobody calls this scope for `seconds`."""
    seconds = max(1.0, float(seconds))
    until = clock() + seconds
    current = cache.get(limit.blocked_key)
    if current is None or current < until:
        cache.set(limit.blocked_key, until, timeout=math.ceil(seconds) + 1)


def blocked_for(limit: RateLimit, *, clock: Callable[[], float] = time.time) -> float:
    until = cache.get(limit.blocked_key)
    return max(0.0, until - clock()) if until else 0.0


def _refused(limit: RateLimit, why: str, retry_after: float) -> RateLimited:
    return RateLimited(f"{limit.scope}: {why}; trying again in {retry_after:.0f}s", retry_after=retry_after)


def _wait_until_unblocked(limit: RateLimit, deadline: float, clock, sleep) -> None:
    remaining = blocked_for(limit, clock=clock)
    if not remaining:
        return
    if clock() + remaining > deadline:
        raise _refused(limit, "the vendor asked us to wait (429)", remaining)
    sleep(remaining)


def _spend(limit: RateLimit, deadline: float, clock, sleep) -> None:
    rate = limit.rate()
    while not rate.try_spend(clock()):
        wait = max(POLL_SECONDS, rate.seconds_until_room(clock()))
        if clock() + wait > deadline:
            raise _refused(limit, f"{limit.per_minute} requests a minute spent", max(wait, 1.0))
        sleep(wait)


def _take_slot(limit: RateLimit, lease_seconds: float, deadline: float, clock, sleep) -> str:
    slots = limit.slots(lease_seconds)
    while (key := slots.try_acquire()) is None:
        if clock() + POLL_SECONDS > deadline:
            raise _refused(limit, f"{limit.concurrent} requests already in flight", 1.0)
        sleep(POLL_SECONDS)
    return key

