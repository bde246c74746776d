"""Per (source, organisation) rate limit: a fixed one-minute window counted in the shared cache.

Every web process shares the count through Django's cache (Redis in production), incremented
atomically: on Redis one pipelined INCR+EXPIRE round trip, elsewhere cache.add/incr. The limit
is WEBHOOK_RATE_LIMIT_PER_MINUTE (100), WEBHOOK_PEAK_RATE_LIMIT_PER_MINUTE (300) in peak season
(calendar.season), and a config may override either. Over the limit: 429 with Retry-After =
seconds until the window ends.

It runs before signature checking on purpose: a flood of forged requests is stopped before it
costs an HMAC and a rejected-attempt row each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from wedsync_integrations import calendar

WINDOW_SECONDS = 60


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
    count = _incr(key, ttl=WINDOW_SECONDS + 5)
    retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
    return Decision(allowed=count <= limit, limit=limit, count=count, retry_after=retry_after)


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


def _redis_incr(backend: RedisCache, key: str, ttl: int) -> int:
    full_key = backend.make_and_validate_key(key)
    client = backend._cache.get_client(full_key, write=True)
    pipe = client.pipeline(transaction=False)
    pipe.incr(full_key)
    pipe.expire(full_key, ttl)  # the key names its window, so refreshing the TTL is harmless
    count, _ = pipe.execute()
    return int(count)
