"""The kernel's client-side rate limits (integrations/ratelimit.py): a vendor's per-tenant budget
spent by every process through the cache, a request waits for its turn or goes back on the queue,
and a 429 holds that tenant (only) for its Retry-After."""

from __future__ import annotations

import threading

import pytest
import responses

from wedsync_integrations.integrations import ratelimit
from wedsync_integrations.integrations.errors import RetryableError
from wedsync_integrations.integrations.http import VendorClient
from wedsync_integrations.integrations.ratelimit import RateLimit, RateLimited


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
    clock.now += 1.0  # the first second of the next minute: the last minute still counts almost fully
    with pytest.raises(RateLimited):
        take(limit, clock)
    clock.now += 30.0  # half of it has slid out of the window: two requests fit again
    take(limit, clock).release()
    take(limit, clock).release()
    with pytest.raises(RateLimited):
        take(limit, clock)


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
