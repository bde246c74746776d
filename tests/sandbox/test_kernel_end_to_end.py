"""The kernel's VendorClient and outbox against the sandbox over real sockets: a provider whose
vendor fails in every way a vendor fails still delivers each item exactly once, in order."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.breaker import CircuitBreaker, CircuitState
from wedsync_integrations.integrations.models import ConfigStatus, RetryState, SyncOutcome
from wedsync_integrations.integrations.registry import get_family

from .providers_for_tests import ITEMS_PATH

pytestmark = pytest.mark.django_db

API_KEY = "sk-sandbox-0123456789abcdef"
ITEMS = "/testvendor" + ITEMS_PATH


@pytest.fixture
def family():
    return get_family("monitoring")


@pytest.fixture
def config(sandboxed_provider, vendor_sandbox, make_config, organisation):
    return make_config(
        "monitoring",
        organisation,
        "sandboxed",
        settings={"base_url": vendor_sandbox.vendor_url("testvendor")},
        secrets={"api_key": API_KEY},
    )


def drain(family, config, at=None):
    """One drain pass, as the beat-driven task would run it; `at` stands in for the clock."""
    return outbox.drain_pair(family, config.organisation_id, "sandboxed", now=at)


def later(hours=2):
    return timezone.now() + timedelta(hours=hours)


def delivered_payloads(sandbox):
    """What the vendor accepted: requests it answered with a 2xx."""
    return [r.json() for r in sandbox.requests(ITEMS) if r.status and 200 <= r.status < 300]


def test_a_delivery_sends_the_exact_request_and_records_the_attempt(family, config, vendor_sandbox):
    item = outbox.enqueue(config, operation="series", payload={"n": 0, "metric": "wedsync.ai.requests"})
    assert drain(family, config)["succeeded"] == 1
    (request,) = vendor_sandbox.requests()
    assert request.method == "POST" and request.path == ITEMS
    assert request.headers["X-Api-Key"] == API_KEY
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == "WedSync-Integrations/1.0"
    assert request.json() == {"operation": "series", "n": 0, "metric": "wedsync.ai.requests"}
    item.refresh_from_db()
    assert item.state == RetryState.SUCCEEDED and item.result == {"accepted": True}
    log = family.sync_log_model.objects.get()
    assert (log.outcome, log.http_status, log.items) == (SyncOutcome.SUCCESS, 202, 1)


def test_503_429_timeout_and_drop_are_retried_and_every_item_is_delivered_once_in_order(family, config, vendor_sandbox):
    items = [outbox.enqueue(config, operation="series", payload={"n": n}) for n in range(3)]
    vendor_sandbox.fault("/testvendor", kind="status", status=503)
    vendor_sandbox.fault("/testvendor", kind="retry_after", retry_after=600)
    vendor_sandbox.fault("/testvendor", kind="timeout", delay=10)
    vendor_sandbox.fault("/testvendor", kind="drop")

    first_try = timezone.now()
    assert drain(family, config, first_try) == {"succeeded": 0, "pending": 1, "dead": 0, "skipped": 0}
    assert drain(family, config, later(1)) == {"succeeded": 0, "pending": 1, "dead": 0, "skipped": 0}
    items[0].refresh_from_db()
    assert items[0].next_attempt_at >= later(1) + timedelta(seconds=599)  # Retry-After is a floor
    started = time.monotonic()
    assert drain(family, config, later(2))["pending"] == 1  # held connection: the client times out
    assert time.monotonic() - started < 5
    assert drain(family, config, later(3))["pending"] == 1  # dropped connection
    config.refresh_from_db()
    assert config.status == ConfigStatus.FAILING

    assert drain(family, config, later(4)) == {"succeeded": 3, "pending": 0, "dead": 0, "skipped": 0}

    # The vendor saw item 0 five times (four faults, one success) and nothing else out of turn.
    seen = [(r.json()["n"], r.fault) for r in vendor_sandbox.requests(ITEMS)]
    assert seen == [(0, "status"), (0, "retry_after"), (0, "timeout"), (0, "drop"), (0, None), (1, None), (2, None)]
    assert delivered_payloads(vendor_sandbox) == [{"operation": "series", "n": n} for n in range(3)]
    for item in items:
        item.refresh_from_db()
        assert item.state == RetryState.SUCCEEDED
    assert [i.attempts for i in items] == [5, 1, 1]
    logs = list(family.sync_log_model.objects.order_by("id").values_list("outcome", "http_status"))
    assert logs == [
        (SyncOutcome.RETRYING, 503),
        (SyncOutcome.RETRYING, 429),
        (SyncOutcome.RETRYING, None),
        (SyncOutcome.RETRYING, None),
        (SyncOutcome.SUCCESS, 202),
        (SyncOutcome.SUCCESS, 202),
        (SyncOutcome.SUCCESS, 202),
    ]
    errors = list(family.sync_log_model.objects.exclude(error="").order_by("id").values_list("error", flat=True))
    assert "HTTP 503" in errors[0] and "HTTP 429" in errors[1]
    assert "timed out" in errors[2] and "connection failed" in errors[3]
    assert all(API_KEY not in error for error in errors)
    config.refresh_from_db()
    assert config.status == ConfigStatus.ACTIVE


def test_a_rejected_key_stops_the_config_and_keeps_the_item_for_after_the_fix(family, config, vendor_sandbox):
    item = outbox.enqueue(config, operation="series", payload={"n": 0})
    vendor_sandbox.fault("/testvendor", kind="status", status=403)
    drain(family, config)
    config.refresh_from_db()
    item.refresh_from_db()
    assert config.status == ConfigStatus.STOPPED and "HTTP 403" in config.status_reason
    assert item.state == RetryState.PENDING
    outbox.resume_config(config)
    assert drain(family, config)["succeeded"] == 1
    assert delivered_payloads(vendor_sandbox) == [{"operation": "series", "n": 0}]


def test_the_circuit_opens_after_repeated_failures_and_no_request_reaches_the_vendor_while_open(
    family, config, vendor_sandbox, settings
):
    settings.CIRCUIT_FAILURE_THRESHOLD = 3
    settings.CIRCUIT_RESET_SECONDS = 1
    outbox.enqueue(config, operation="series", payload={"n": 0})
    vendor_sandbox.fault("/testvendor", kind="status", status=502, times=0)
    for hour in range(3):
        drain(family, config, later(hour))
    assert len(vendor_sandbox.requests(ITEMS)) == 3
    breaker = CircuitBreaker("monitoring", config.organisation_id, "sandboxed")
    assert breaker.state() == CircuitState.OPEN

    for hour in range(3, 6):
        assert drain(family, config, later(hour))["pending"] == 1
    assert len(vendor_sandbox.requests(ITEMS)) == 3  # nothing sent while open
    log = family.sync_log_model.objects.order_by("-id").first()
    assert "circuit open" in log.error

    # The vendor recovers; after the reset period one probe goes through and closes the circuit.
    vendor_sandbox.clear_faults()
    time.sleep(1.1)
    assert breaker.state() == CircuitState.HALF_OPEN
    assert drain(family, config, later(6))["succeeded"] == 1
    assert breaker.state() == CircuitState.CLOSED
    assert delivered_payloads(vendor_sandbox) == [{"operation": "series", "n": 0}]


def test_a_slow_vendor_within_the_read_timeout_is_a_success(family, config, vendor_sandbox):
    outbox.enqueue(config, operation="series", payload={"n": 0})
    vendor_sandbox.fault("/testvendor", kind="slow", delay=0.4)
    assert drain(family, config)["succeeded"] == 1
    log = family.sync_log_model.objects.get()
    assert log.outcome == SyncOutcome.SUCCESS and log.duration_ms >= 400


def test_health_check_goes_through_the_same_client(config, vendor_sandbox):
    result = config.get_provider().check_health()
    assert (result.ok, result.message, result.http_status) == (True, "pong", 200)
    assert vendor_sandbox.requests()[0].path == "/testvendor/api/v1/ping"
