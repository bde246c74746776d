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
"""

from __future__ import annotations

import contextlib
import time
import uuid

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
