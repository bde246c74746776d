"""Per (source, organisation) rate limit: a fixed one-minute window counted in the shared cache.

Every web process shares the count through Django's cache (Redis in production), incremented
atomically: on Redis one round trip (a small INCR+EXPIRE script), elsewhere cache.add/incr. The limit
is WEBHOOK_RATE_LIMIT_PER_MINUTE (100), WEBHOOK_PEAK_RATE_LIMIT_PER_MINUTE (300) in peak season
(calendar.season), and a config may override either. Over the limit: 429 with Retry-After =
seconds until the window ends.

It runs before signature checking on purpose: a flood of forged requests is stopped before it
costs an HMAC and a rejected-attempt row each.

If the shared cache cannot be reached, requests are let through (and a warning logged, at most
once a minute per process): the limit guards against floods, while refusing every vendor during a
Redis outage would drop the genuine events the inbox exists to keep.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from redis.exceptions import RedisError

from wedsync_integrations import calendar

logger = logging.getLogger("wedsync.webhooks")

WINDOW_SECONDS = 60
UNAVAILABLE_WARNING_EVERY_SECONDS = 60.0
_last_unavailable_warning = float("-inf")  # monotonic time of this process's last warning


@dataclass(frozen=True)
class Decision:
    allowed: bool
    limit: int
    count: int
    retry_after: int  # seconds until the current window ends


def limit_for(config_settings: dict | None, at=None) -> int:
    """The per-minute limit in force: peak season gets the higher figure."""
    config_settings = config_settings or {}
    if calendar.season(at) == calendar.Season.PEAK:
        return int(config_settings.get("peak_rate_limit_per_minute") or settings.WEBHOOK_PEAK_RATE_LIMIT_PER_MINUTE)
    return int(config_settings.get("rate_limit_per_minute") or settings.WEBHOOK_RATE_LIMIT_PER_MINUTE)


def hit(source: str, organisation_id: int | None, limit: int, *, now: float | None = None) -> Decision:
    """Count one request against (source, organisation) and say whether it is allowed."""
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    key = f"wsi:wh:rl:{source}:{organisation_id or 'platform'}:{window}"
    try:
        count = _incr(key, ttl=WINDOW_SECONDS + 5)
    except (RedisError, OSError) as exc:
        _warn_unavailable(exc)
        return Decision(allowed=True, limit=limit, count=0, retry_after=0)
    retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
    return Decision(allowed=count <= limit, limit=limit, count=count, retry_after=retry_after)


def _warn_unavailable(exc: Exception) -> None:
    global _last_unavailable_warning
    now = time.monotonic()
    if now - _last_unavailable_warning >= UNAVAILABLE_WARNING_EVERY_SECONDS:
        _last_unavailable_warning = now
        logger.warning("webhooks.rate_limit_unavailable error=%s: requests are let through", type(exc).__name__)


def _incr(key: str, ttl: int) -> int:
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return _redis_incr(backend, key, ttl)
    if backend.add(key, 1, timeout=ttl):
        return 1
    try:
        return backend.incr(key)
    except ValueError:  # expired between add and incr: start the window again
        backend.add(key, 1, timeout=ttl)
        return 1


# One round trip, atomic: count, and start the window's expiry on its first request.
_INCR_WITH_TTL = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""
_scripts: dict[int, object] = {}


def _redis_incr(backend: RedisCache, key: str, ttl: int) -> int:
    full_key = backend.make_and_validate_key(key)
    script = _scripts.get(id(backend))
    if script is None:
        # Django builds a new redis.Redis (copying ~170 response callbacks) on every cache call,
        # and a pipeline copies them again: on this path that was a third of the request's CPU.
        # One client per backend is thread-safe and shares Django's connection pool.
        client = backend._cache.get_client(full_key, write=True)
        script = _scripts[id(backend)] = client.register_script(_INCR_WITH_TTL)
    return int(script(keys=[full_key], args=[ttl]))
