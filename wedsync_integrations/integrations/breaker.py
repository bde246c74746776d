"""Circuit breaker per (family, organisation, provider), its state kept in the shared cache.

Because the state lives in Django's cache (Redis in production), every web process and Celery
worker sees the same circuit: once a vendor has failed CIRCUIT_FAILURE_THRESHOLD times in a row
for a tenant, nobody calls it for CIRCUIT_RESET_SECONDS; then one probe is let through
(half-open) and its outcome closes or re-opens the circuit.

While the cache cannot be reached every circuit reads as closed and nothing is counted: calls go
out with their own timeouts, as they would without a breaker, rather than none at all.
"""

from __future__ import annotations

import enum
import time

from django.conf import settings
from django.core.cache import cache

from wedsync_integrations.core.tolerant_cache import TolerantCache

_circuits = TolerantCache("integrations.circuit_unavailable", "circuits count as closed, failures are not counted")


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(
        self,
        family: str,
        organisation_id: int | None,
        provider: str,
        *,
        failure_threshold: int | None = None,
        reset_seconds: int | None = None,
    ):
        base = f"wsi:cb:{family}:{organisation_id or 'platform'}:{provider}"
        self._failures_key = base + ":failures"
        self._opened_key = base + ":opened_at"
        self._probe_key = base + ":probe"
        self.failure_threshold = failure_threshold or settings.CIRCUIT_FAILURE_THRESHOLD
        self.reset_seconds = reset_seconds or settings.CIRCUIT_RESET_SECONDS

    # -- state -------------------------------------------------------------------------------
    def state(self, now: float | None = None) -> CircuitState:
        return self._state_from(_circuits.get(self._opened_key), time.time() if now is None else now)

    @staticmethod
    def states(breakers: list[CircuitBreaker], now: float | None = None) -> list[CircuitState]:
        """The states of many circuits in one cache round trip (metric scrapes, dashboards)."""
        opened = _circuits.get_many([breaker._opened_key for breaker in breakers])
        now = time.time() if now is None else now
        return [breaker._state_from(opened.get(breaker._opened_key), now) for breaker in breakers]

    def _state_from(self, opened_at: float | None, now: float) -> CircuitState:
        if opened_at is None:
            return CircuitState.CLOSED
        return CircuitState.HALF_OPEN if now - opened_at >= self.reset_seconds else CircuitState.OPEN

    def failures(self) -> int:
        return _circuits.get(self._failures_key, 0)

    def seconds_until_retry(self, now: float | None = None) -> float:
        opened_at = _circuits.get(self._opened_key)
        if opened_at is None:
            return 0.0
        now = time.time() if now is None else now
        return max(0.0, self.reset_seconds - (now - opened_at))

    # -- decisions ---------------------------------------------------------------------------
    def allow_request(self, now: float | None = None) -> bool:
        state = self.state(now)
        if state is CircuitState.CLOSED:
            return True
        if state is CircuitState.OPEN:
            return False
        # Half-open: exactly one caller across all processes gets to probe.
        return _circuits.add(self._probe_key, 1, timeout=self.reset_seconds, when_unavailable=True)

    def record_success(self) -> None:
        with _circuits.tolerated():
            cache.delete_many([self._failures_key, self._opened_key, self._probe_key])

    def record_failure(self, now: float | None = None) -> None:
        now = time.time() if now is None else now
        with _circuits.tolerated():
            if cache.add(self._failures_key, 1, timeout=24 * 3600):
                failures = 1
            else:
                try:
                    failures = cache.incr(self._failures_key)
                except ValueError:  # expired between add and incr
                    cache.set(self._failures_key, 1, timeout=24 * 3600)
                    failures = 1
            if failures >= self.failure_threshold or self.state(now) is CircuitState.HALF_OPEN:
                cache.set(self._opened_key, now, timeout=24 * 3600)
                cache.delete(self._probe_key)

    def reset(self) -> None:
        self.record_success()
