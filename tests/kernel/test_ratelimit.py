"""The kernel's shared client-side limits (integrations/ratelimit.py): never exceeded, even when
threads race for the last place; a refusal says when to come back. And a vendor's per-tenant
limits declared on its client: each send spends them, waiting for its turn or going back on the
queue, and a 429 holds that tenant (only) for its Retry-After."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import responses

from wedsync_integrations.integrations import ratelimit
from wedsync_integrations.integrations.errors import RetryableError
from wedsync_integrations.integrations.http import VendorClient
from wedsync_integrations.integrations.ratelimit import Concurrency, ExclusiveUse, RateLimit, RateLimited, RequestRate


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


# -- limits declared on a vendor's client --------------------------------------------------------------------
class Clock:
    """Time that moves only when someone sleeps."""

    def __init__(self, start: float = 1_000_020.0):
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def take(limit, clock, max_wait=0.0):
    return ratelimit.acquire([limit], lease_seconds=30, max_wait=max_wait, clock=clock, sleep=clock.sleep)


def test_a_tenants_minute_budget_is_spent_and_the_next_request_is_told_how_long_to_wait():
    clock = Clock()
    limit = RateLimit("vendor:tenant:a", per_minute=3)
    for _ in range(3):
        take(limit, clock).release()
    with pytest.raises(RateLimited) as refused:
        take(limit, clock)
    assert 0 < refused.value.retry_after <= 60 and "3 requests a minute spent" in refused.value.message
    take(RateLimit("vendor:tenant:b", per_minute=3), clock).release()  # another tenant has its own budget


def test_the_window_slides_so_a_burst_at_a_minute_boundary_cannot_double_the_rate():
    clock = Clock(start=60 * 1000 + 59.0)  # the last second of a minute
    limit = RateLimit("vendor:tenant:a", per_minute=4)
    for _ in range(4):
        take(limit, clock).release()
    for later in (1.0, 30.0):  # a fixed per-minute window would start afresh at the minute
        clock.now += later
        with pytest.raises(RateLimited):
            take(limit, clock)
    clock.now += 31.0  # a minute after the burst
    take(limit, clock).release()


def test_a_request_waits_for_its_turn_when_that_is_soon_enough():
    clock = Clock(start=60 * 1000 + 58.0)
    limit = RateLimit("vendor:tenant:a", per_minute=1)
    take(limit, clock).release()
    take(limit, clock, max_wait=90).release()  # waited for the window to move on
    assert sum(clock.slept) > 0


def test_concurrent_requests_beyond_the_limit_wait_for_a_slot():
    clock = Clock()
    limit = RateLimit("vendor:tenant:a", concurrent=2)
    first, second = take(limit, clock), take(limit, clock)
    with pytest.raises(RateLimited, match="2 requests already in flight"):
        take(limit, clock)
    first.release()
    take(limit, clock).release()
    second.release()


def test_threads_never_hold_more_slots_than_the_limit():
    limit = RateLimit("vendor:tenant:threads", concurrent=3)
    inside, peak, lock = [0], [0], threading.Lock()

    def work():
        lease = ratelimit.acquire([limit], lease_seconds=30, max_wait=10)
        with lock:
            inside[0] += 1
            peak[0] = max(peak[0], inside[0])
        threading.Event().wait(0.02)
        with lock:
            inside[0] -= 1
        lease.release()

    threads = [threading.Thread(target=work) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert 1 <= peak[0] <= 3


def test_a_429_blocks_that_tenant_for_its_retry_after_and_nobody_else():
    clock = Clock()
    tenant, other = RateLimit("vendor:tenant:a", per_minute=60), RateLimit("vendor:tenant:b", per_minute=60)
    ratelimit.block(tenant, 45, clock=clock)
    with pytest.raises(RateLimited, match="the vendor asked us to wait") as refused:
        take(tenant, clock, max_wait=10)
    assert refused.value.retry_after == pytest.approx(45)
    take(other, clock).release()
    clock.now += 46
    take(tenant, clock).release()


@responses.activate
def test_the_vendor_client_spends_the_budget_and_a_429_blocks_the_first_scope():
    responses.get("https://api.vendor.test/things", status=429, headers={"Retry-After": "30"})
    tenant = RateLimit("vendor:tenant:z", per_minute=100, concurrent=2)
    app = RateLimit("vendor:app", per_minute=10_000)
    client = VendorClient(family="monitoring", provider="vendor", base_url="https://api.vendor.test", guarded=False,
                          rate_limits=(tenant, app))  # fmt: skip
    with pytest.raises(RetryableError) as refused:
        client.request("GET", "/things")
    assert refused.value.retry_after == 30
    assert ratelimit.blocked_for(tenant) > 25 and ratelimit.blocked_for(app) == 0
    with pytest.raises(RateLimited):
        client.request("GET", "/things")  # held back: no second request reaches the vendor
    assert len(responses.calls) == 1
