"""Short leases in the shared cache that their holder keeps renewing while it lives.

    with hold("wsi:drain:monitoring:7:datadog", seconds=10) as lease:
        if lease is None:
            return                      # someone else holds it (or the cache cannot be reached)
        for step in work:
            if not lease.held():
                break                   # could not renew in time: a successor may start soon
            ...

A lock with a long timeout outlives a holder that is killed (SIGKILL, OOM, a lost machine): the
outbox's drain lock used to stall a pair's deliveries for five minutes after a worker died
mid-drain. A lease is short instead, and a thread of the holder's renews it every third of its
length, so it lasts exactly as long as its holder: a dead holder stops renewing and a successor
takes over within `seconds`.

Exclusivity: only the holder renews or releases (compare-and-renew, compare-and-delete on the
token it took the lease with; one atomic Lua call each on Redis). `held()` answers from the
holder's own clock and says yes only until the last successful renewal's expiry, minus a margin,
so a holder that cannot renew (the cache unreachable, the process frozen) takes no further step
once the lease could pass to someone else; a step already under way (a vendor call) may overlap
the successor's first, which is why the outbox resends at least once rather than exactly once.
On caches without atomic compare (the embedded default's file cache, used by one worker)
renewal reads then touches: good enough there, as the plain add it replaces.
"""

from __future__ import annotations

import contextlib
import logging
import math
import secrets
import threading
import time
from collections.abc import Iterator

from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache

from wedsync_integrations.core.redis_scripts import lua_script
from wedsync_integrations.core.tolerant_cache import CACHE_ERRORS, warn_unavailable

logger = logging.getLogger("wedsync.leases")

RENEWALS_PER_LEASE = 3  # renew every third of the lease: two renewals may fail before it lapses
SAFETY_MARGIN = 0.1  # held() stops this fraction of the lease before the cache would expire it

_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class Lease:
    """A lease this process holds on `key` until release(), renewed by a daemon thread."""

    def __init__(self, key: str, seconds: float, token: int, backend):
        self.key = key
        self.seconds = seconds
        # An int is stored by Django's Redis cache as its decimal digits (anything else is
        # pickled), so the Lua scripts can compare it with what they are given.
        self._token = token
        self._backend = backend  # this thread's cache object, thread-safe, shared with the renewer
        self._valid_until = 0.0
        self._lost = False
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._keep_renewing, name=f"lease-renewer {key}", daemon=True)

    def held(self) -> bool:
        """True while the last renewal guarantees the lease is still this holder's."""
        return not self._lost and time.monotonic() < self._valid_until

    def _start(self, taken_at: float) -> None:
        self._extend_from(taken_at)
        self._renewer.start()

    def _extend_from(self, asked_at: float) -> None:
        # The cache started the lease's clock after we asked, so it cannot expire sooner than this.
        self._valid_until = asked_at + self.seconds * (1 - SAFETY_MARGIN)

    def _keep_renewing(self) -> None:
        while not self._stop.wait(self.seconds / RENEWALS_PER_LEASE):
            asked_at = time.monotonic()
            try:
                still_ours = self._renew()
            except CACHE_ERRORS as exc:  # try again next time; held() runs out meanwhile
                warn_unavailable("leases.renewal_failed", exc, "the holder stops when its lease runs out")
                continue
            if not still_ours:
                self._lost = True
                logger.warning("lease.lost key=%s: it expired before it was renewed", self.key)
                return
            self._extend_from(asked_at)

    def _renew(self) -> bool:
        if isinstance(self._backend, RedisCache):
            return bool(self._call(_RENEW, int(self.seconds * 1000)))
        return self._backend.get(self.key) == self._token and self._backend.touch(self.key, self.seconds)

    def release(self) -> None:
        self._stop.set()
        if self._renewer.is_alive() and self._renewer is not threading.current_thread():
            self._renewer.join()
        try:
            if isinstance(self._backend, RedisCache):
                self._call(_RELEASE)
            elif self._backend.get(self.key) == self._token:
                self._backend.delete(self.key)
        except CACHE_ERRORS as exc:  # it expires by itself
            warn_unavailable("leases.release_failed", exc, "the lease expires by itself")
        self._valid_until = 0.0

    def _call(self, source: str, *args):
        script = lua_script(self._backend, source)
        return script(keys=[self._backend.make_and_validate_key(self.key)], args=[self._token, *args])


def take(key: str, seconds: float) -> Lease | None:
    """The lease on `key` if nobody holds it; None if someone does or the cache is unreachable
    (whoever could not be sure to be alone must not start)."""
    backend = caches["default"]
    token = secrets.randbits(62) + 1
    asked_at = time.monotonic()
    try:
        # Django's Redis cache keeps whole seconds (0.6 would be 0: deleted at once); rounding up
        # only lets the key outlive held(), never the reverse.
        if not backend.add(key, token, timeout=math.ceil(seconds)):
            return None
    except CACHE_ERRORS as exc:
        warn_unavailable("leases.unavailable", exc, "nothing that needs a lease starts until the cache is back")
        return None
    lease = Lease(key, seconds, token, backend)
    lease._start(asked_at)
    return lease


@contextlib.contextmanager
def hold(key: str, seconds: float) -> Iterator[Lease | None]:
    """`take` as a context manager: the lease (or None) for the block, released after it."""
    lease = take(key, seconds)
    try:
        yield lease
    finally:
        if lease is not None:
            lease.release()
