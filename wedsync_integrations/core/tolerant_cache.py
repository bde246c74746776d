"""The shared cache where a request must not depend on it: when it is unreachable, degrade.

Nothing a request answers is kept only in the cache (Redis in production): it holds circuit
states, rate-limit counts, cached health checks, "already warned" markers and drain leases,
which make things cheaper or tidier. So a request path reads "nothing there" when the cache
cannot be reached, skips its writes, and carries on; one warning a minute per process and
purpose says what is being done without it. /readyz is the one place that reports the cache
as down, because that is its job.

    circuits = TolerantCache("integrations.circuit_unavailable", "circuits count as closed")
    opened_at = circuits.get(key)                      # None while the cache is down
    with circuits.tolerated():                         # several writes, skipped together
        ...
"""

from __future__ import annotations

import contextlib
import logging
import time

from django.core.cache import cache
from redis.exceptions import RedisError

logger = logging.getLogger("wedsync.cache")

# What a cache backend raises when its server cannot be reached: redis-py's errors, and OSError
# for a socket or a file cache's directory. A bug (a TypeError, say) is not swallowed.
CACHE_ERRORS: tuple[type[BaseException], ...] = (RedisError, OSError)
WARNING_INTERVAL_SECONDS = 60.0
_last_warning: dict[str, float] = {}  # event → monotonic time of this process's last warning


def warn_unavailable(event: str, exc: BaseException, consequence: str) -> None:
    """Log "<event> error=<type>: <consequence>" at most once a minute per process and event
    (an outage must not write a line per request). The error's text is left out: a connection
    error may quote the cache URL."""
    now = time.monotonic()
    if now - _last_warning.get(event, float("-inf")) >= WARNING_INTERVAL_SECONDS:
        _last_warning[event] = now
        logger.warning("%s error=%s: %s", event, type(exc).__name__, consequence)


def forget_warnings() -> None:
    """Let the next outage warn at once (tests)."""
    _last_warning.clear()


class TolerantCache:
    """Django's default cache for one purpose, reading as empty and skipping writes while the
    cache server is unreachable."""

    def __init__(self, event: str, consequence: str):
        self.event = event  # e.g. "monitoring.scrape_time_unavailable"
        self.consequence = consequence  # what happens instead, e.g. "the last scrape time is not kept"

    @contextlib.contextmanager
    def tolerated(self):
        """Run cache calls that may all be skipped if the cache is down."""
        try:
            yield
        except CACHE_ERRORS as exc:
            warn_unavailable(self.event, exc, self.consequence)

    def get(self, key: str, default=None):
        with self.tolerated():
            return cache.get(key, default)
        return default

    def get_many(self, keys: list[str]) -> dict:
        with self.tolerated():
            return cache.get_many(keys)
        return {}

    def set(self, key: str, value, timeout: float | None) -> None:
        with self.tolerated():
            cache.set(key, value, timeout=timeout)

    def add(self, key: str, value, timeout: float | None, *, when_unavailable: bool) -> bool:
        """cache.add; `when_unavailable` is the answer while the cache is down (True: act as if
        this caller were the first, e.g. warn or probe anyway)."""
        with self.tolerated():
            return cache.add(key, value, timeout=timeout)
        return when_unavailable

    def delete(self, key: str) -> None:
        with self.tolerated():
            cache.delete(key)
