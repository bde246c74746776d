"""The circuit breaker: per (family, organisation, provider), its state shared through the cache."""

from __future__ import annotations

import pytest

from wedsync_integrations.integrations.breaker import CircuitBreaker, CircuitState

T0 = 1_780_000_000.0  # an arbitrary epoch second; every call passes `now` explicitly


def _breaker(org=1, provider="datadog"):
    return CircuitBreaker("monitoring", org, provider, failure_threshold=3, reset_seconds=60)


def _fail(breaker, times, now=T0):
    for _ in range(times):
        breaker.record_failure(now=now)


def test_opens_after_the_threshold_of_consecutive_failures():
    breaker = _breaker()
    _fail(breaker, 2)
    assert breaker.state(T0) is CircuitState.CLOSED and breaker.allow_request(T0)
    _fail(breaker, 1)
    assert breaker.state(T0 + 1) is CircuitState.OPEN
    assert not breaker.allow_request(T0 + 1)
    assert breaker.seconds_until_retry(T0 + 15) == pytest.approx(45)


def test_a_success_resets_the_count_so_only_failures_in_a_row_open_it():
    breaker = _breaker()
    _fail(breaker, 2)
    breaker.record_success()
    _fail(breaker, 2)
    assert breaker.state(T0) is CircuitState.CLOSED and breaker.failures() == 2


def test_the_state_is_shared_through_the_cache_by_separate_breaker_objects():
    worker_a, worker_b = _breaker(), _breaker()
    _fail(worker_a, 2)
    _fail(worker_b, 1)  # the third failure, seen by another process's breaker
    assert worker_a.state(T0) is CircuitState.OPEN
    assert not worker_b.allow_request(T0 + 30)


def test_other_tenants_and_vendors_are_unaffected():
    _fail(_breaker(org=1), 3)
    assert _breaker(org=2).allow_request(T0)
    assert _breaker(org=1, provider="newrelic").allow_request(T0)
    assert CircuitBreaker("alerts", 1, "datadog", failure_threshold=3, reset_seconds=60).allow_request(T0)


def test_half_open_lets_exactly_one_probe_through_across_processes():
    first, second = _breaker(), _breaker()
    _fail(first, 3)
    later = T0 + 60
    assert first.state(later) is CircuitState.HALF_OPEN
    assert first.allow_request(later) is True
    assert second.allow_request(later) is False
    assert first.allow_request(later + 1) is False


def test_a_successful_probe_closes_the_circuit():
    breaker = _breaker()
    _fail(breaker, 3)
    assert breaker.allow_request(T0 + 61)
    breaker.record_success()
    assert breaker.state(T0 + 61) is CircuitState.CLOSED
    assert breaker.failures() == 0
    assert breaker.allow_request(T0 + 61) and _breaker().allow_request(T0 + 61)


def test_a_failed_probe_reopens_it_for_another_full_period():
    breaker = _breaker()
    _fail(breaker, 3)
    probe_time = T0 + 61
    assert breaker.allow_request(probe_time)
    breaker.record_failure(now=probe_time)
    assert breaker.state(probe_time + 59) is CircuitState.OPEN
    assert not breaker.allow_request(probe_time + 59)
    assert breaker.state(probe_time + 60) is CircuitState.HALF_OPEN
    assert breaker.allow_request(probe_time + 60)  # a new probe, once the new period is over


def test_thresholds_default_to_settings(settings):
    settings.CIRCUIT_FAILURE_THRESHOLD, settings.CIRCUIT_RESET_SECONDS = 2, 10
    breaker = CircuitBreaker("monitoring", None, "datadog")
    _fail(breaker, 2)
    assert breaker.state(T0 + 9) is CircuitState.OPEN
    assert breaker.state(T0 + 10) is CircuitState.HALF_OPEN
