"""Backoff policy: exponential with jitter, a cap, a maximum number of attempts."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    base_seconds: float = 30.0
    cap_seconds: float = 3600.0
    max_attempts: int = 10

    def delay(self, attempts: int, retry_after: float | None = None, rng: random.Random | None = None) -> float:
        """Seconds to wait after the `attempts`-th failed attempt.

        "Equal jitter": half the exponential delay is fixed, half random, so retries from many
        workers spread out but never come sooner than half the nominal delay. A vendor's
        Retry-After is a floor: we never come back earlier than it asked.
        """
        rng = rng or random
        nominal = min(self.cap_seconds, self.base_seconds * (2 ** max(0, attempts - 1)))
        jittered = nominal / 2 + rng.uniform(0, nominal / 2)
        if retry_after is not None:
            return max(jittered, float(retry_after))
        return jittered

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


# Alert deliveries cannot wait half an hour on a wedding Saturday.
URGENT = RetryPolicy(base_seconds=5.0, cap_seconds=300.0, max_attempts=12)
