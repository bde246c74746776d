"""The kernel's shared client-side limits (integrations/ratelimit.py): never exceeded, even when
threads race for the last place; a refusal says when to come back."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from wedsync_integrations.integrations.errors import RetryableError
from wedsync_integrations.integrations.ratelimit import Concurrency, ExclusiveUse, RequestRate


def test_a_request_rate_admits_the_limit_and_refuses_the_rest():
    rate = RequestRate("test:rate", limit=3, per_seconds=60, wait_seconds=0)
    now = 1_000_000.0
    assert [rate.try_spend(now) for _ in range(5)] == [True, True, True, False, False]
    assert rate.used(now) == 3  # refused requests are not counted
    assert rate.try_spend(now + 61)  # the window slid on


def test_a_refusal_is_retryable_with_a_retry_after():
    rate = RequestRate("test:refusal", limit=1, per_seconds=60, wait_seconds=0)
    with rate.spend():
        pass
    with pytest.raises(RetryableError) as refused, rate.spend():
        pass
    assert 1.0 <= refused.value.retry_after <= 6.0


def test_racing_threads_never_exceed_the_rate():
    rate = RequestRate("test:race", limit=20, per_seconds=60, wait_seconds=0)
    barrier = threading.Barrier(8)

    def spend_five():
        barrier.wait()
        return sum(rate.try_spend() for _ in range(5))

    with ThreadPoolExecutor(8) as pool:
        admitted = sum(pool.map(lambda _: spend_five(), range(8)))
    assert admitted <= 20 and rate.used() <= 20


def test_at_most_n_pending_at_once():
    pending = Concurrency("test:pending", limit=5, wait_seconds=3)
    running, peak, lock = 0, 0, threading.Lock()

    def call():
        nonlocal running, peak
        with pending.slot():
            with lock:
                running += 1
                peak = max(peak, running)
            time.sleep(0.05)
            with lock:
                running -= 1

    with ThreadPoolExecutor(12) as pool:
        list(pool.map(lambda _: call(), range(24)))
    assert peak == 5 and pending.held() == 0


def test_pending_slots_refuse_when_full():
    pending = Concurrency("test:full", limit=1, wait_seconds=0)
    with pending.slot():
        with pytest.raises(RetryableError, match="already pending"), pending.slot():
            pass


def test_exclusive_use_has_one_holder():
    lock = ExclusiveUse("test:exclusive", retry_after=30)
    with lock.held():
        assert lock.busy()
        with pytest.raises(RetryableError) as refused, ExclusiveUse("test:exclusive").held():
            pass
        assert refused.value.retry_after == 30
    assert not lock.busy()
