"""Backoff: exponential with equal jitter, capped, and never sooner than a vendor's Retry-After."""

from __future__ import annotations

import random

import pytest

from wedsync_integrations.integrations.retry import URGENT, RetryPolicy

POLICY = RetryPolicy(base_seconds=30, cap_seconds=3600, max_attempts=10)


@pytest.mark.parametrize(("attempts", "nominal"), [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (20, 3600)])
def test_delay_doubles_up_to_the_cap_with_at_least_half_of_it_fixed(attempts, nominal):
    rng = random.Random(7)
    delays = [POLICY.delay(attempts, rng=rng) for _ in range(200)]
    assert all(nominal / 2 <= d <= nominal for d in delays)
    assert max(delays) - min(delays) > nominal / 4  # really jittered, so workers spread out


def test_retry_after_is_a_floor_never_a_ceiling():
    assert POLICY.delay(1, retry_after=900, rng=random.Random(1)) == 900
    assert 1920 / 2 <= POLICY.delay(7, retry_after=5, rng=random.Random(1)) <= 1920


def test_attempts_are_exhausted_at_the_maximum():
    assert not POLICY.exhausted(9) and POLICY.exhausted(10)


def test_urgent_alert_deliveries_retry_within_minutes():
    assert URGENT.delay(1, rng=random.Random(3)) <= 5
    assert max(URGENT.delay(n, rng=random.Random(3)) for n in range(1, URGENT.max_attempts + 1)) <= 300
