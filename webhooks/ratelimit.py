"""Per (source, organisation) rate limit: a fixed one-minute window counted in the shared cache.

Every web process shares the count through Django's cache (Redis in production), incremented
atomically: on Redis one round trip (a small Lua script), elsewhere cache.add/incr. The limit
is WEBHOOK_RATE_LIMIT_PER_MINUTE (100), WEBHOOK_PEAK_RATE_LIMIT_PER_MINUTE (300) in peak season
(calendar.season), and a config may override either. Over the limit: 429 with Retry-After =
seconds until the window ends.

It runs after signature checking, on verified requests only: forged ones must not spend a
tenant's budget (130 unsigned requests once used an organisation's 100/min, and its genuine
PagerDuty delivery got a 429). Verification is a cheap HMAC; what a forgery costs beyond it is a
rejected-attempt row, so forgeries are counted on a budget of their own per client address
(WEBHOOK_FORGED_RATE_LIMIT_PER_MINUTE), past which they are refused (429) without one.

If the shared cache cannot be reached, requests are let through (and a warning logged, at most
once a minute per process): the limit guards against floods, while refusing every vendor during a
Redis outage would drop the genuine events the inbox exists to keep.

Local leases (on Redis): a round trip per request was a fifth of the endpoint's CPU. Instead a
process takes a few of the window's requests at once (INCRBY, never more than remain under the
limit) and spends them locally, and once the shared count says the limit is reached it refuses
the rest of that window locally, so a flood costs no round trip at all. The lease is at most
LEASE_MAX and at most 1/LEASE_SPREAD of what remains: at the default limits (100, 300) it is one
or a few, so the count is as exact as before; only a high configured limit leases in bulk. The
limit is never exceeded; at worst a few leased requests sit unused in an idle process when the
window closes (at most 1/LEASE_SPREAD of the remainder per process).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from wedsync_integrations import calendar
from wedsync_integrations.core.redis_scripts import lua_script
from wedsync_integrations.core.tolerant_cache import CACHE_ERRORS, warn_unavailable

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
    """Count one verified request against (source, organisation) and say whether it is allowed."""
    return _hit(f"{source}:{organisation_id or 'platform'}", limit, now)


def hit_forged(client_ip: str | None, *, now: float | None = None) -> Decision:
    """Count one request that failed verification against its client address's own budget."""
    return _hit(f"forged:{client_ip or 'unknown'}", settings.WEBHOOK_FORGED_RATE_LIMIT_PER_MINUTE, now)


def _hit(scope: str, limit: int, now: float | None) -> Decision:
    now = time.time() if now is None else now
    window = int(now // WINDOW_SECONDS)
    retry_after = max(1, int((window + 1) * WINDOW_SECONDS - now + 0.999))
    local = _spend_local(scope, window, limit)
    if local is not None:
        return Decision(allowed=local.allowed, limit=limit, count=local.count, retry_after=retry_after)
    try:
        count, granted = _take(f"wsi:wh:rl:{scope}:{window}", limit, ttl=WINDOW_SECONDS + 5)
    except CACHE_ERRORS as exc:
        warn_unavailable("webhooks.rate_limit_unavailable", exc, "requests are let through")
        return Decision(allowed=True, limit=limit, count=0, retry_after=0)
    _keep_local(scope, window, limit, count, granted)
    return Decision(allowed=granted > 0, limit=limit, count=count, retry_after=retry_after)


# -- this process's share of each window ------------------------------------------------------------
LEASE_MAX = 20
LEASE_SPREAD = 64
LEASES_MAX = 10_000  # scopes remembered per process (bounded: random organisations cannot grow it)


@dataclass
class _Lease:
    window: int
    tokens: int = 0  # requests taken from the shared count and not yet spent here
    count: int = 0  # the shared count when last asked
    refused_at_limit: int = 0  # the shared count reached this limit: refuse locally until the window ends


@dataclass(frozen=True)
class _LocalDecision:
    allowed: bool
    count: int


_leases: dict[str, _Lease] = {}
_leases_lock = threading.Lock()  # gthread workers share a process


def _spend_local(scope: str, window: int, limit: int) -> _LocalDecision | None:
    """Allow from this process's lease, or refuse if the window is known to be full at this
    limit; None when the shared count must be asked."""
    with _leases_lock:
        lease = _leases.get(scope)
        if lease is None or lease.window != window:
            return None
        if lease.tokens > 0:
            lease.tokens -= 1
            return _LocalDecision(True, lease.count)
        if lease.refused_at_limit and limit <= lease.refused_at_limit:
            return _LocalDecision(False, lease.count)
    return None


def _keep_local(scope: str, window: int, limit: int, count: int, granted: int) -> None:
    with _leases_lock:
        lease = _leases.get(scope)
        if lease is None or lease.window != window:
            if len(_leases) >= LEASES_MAX:
                _leases.clear()
            lease = _leases[scope] = _Lease(window)
        lease.count = count
        if granted:
            lease.tokens += granted - 1  # one is this request's
        else:
            lease.refused_at_limit = max(lease.refused_at_limit, limit)


def forget_leases() -> None:
    """Drop this process's leases (tests; a flushed cache)."""
    with _leases_lock:
        _leases.clear()


def lease_size(limit: int, used: int) -> int:
    """How many requests a process takes at once: 0 when none remain under the limit."""
    remaining = limit - used
    if remaining <= 0:
        return 0
    return max(1, min(LEASE_MAX, remaining // LEASE_SPREAD))


# -- the shared count -----------------------------------------------------------------------------------
def _take(key: str, limit: int, ttl: int) -> tuple[int, int]:
    """Take this request (and on Redis a lease) from the window's shared count.
    Returns (the shared count afterwards, how many were granted: 0 = over the limit)."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return _redis_take(backend, key, limit, ttl)
    # Other caches (the embedded default, tests) count one at a time.
    if backend.add(key, 1, timeout=ttl):
        count = 1
    else:
        try:
            count = backend.incr(key)
        except ValueError:  # expired between add and incr: start the window again
            backend.add(key, 1, timeout=ttl)
            count = 1
    return count, 1 if count <= limit else 0


# One round trip, atomic: grant lease_size() of what remains (never past the limit), and start
# the window's expiry with its first grant. Mirrors lease_size() above.
_TAKE_LEASE = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local remaining = tonumber(ARGV[1]) - used
if remaining <= 0 then return {used, 0} end
local grant = math.max(1, math.min(tonumber(ARGV[2]), math.floor(remaining / tonumber(ARGV[3]))))
local count = redis.call('INCRBY', KEYS[1], grant)
if count == grant then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
return {count, grant}
"""


def _redis_take(backend: RedisCache, key: str, limit: int, ttl: int) -> tuple[int, int]:
    script = lua_script(backend, _TAKE_LEASE)
    count, granted = script(keys=[backend.make_and_validate_key(key)], args=[limit, LEASE_MAX, LEASE_SPREAD, ttl])
    return int(count), int(granted)
