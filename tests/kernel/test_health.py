"""Health per config: the vendor check is cached five minutes, local state is always live."""

from __future__ import annotations

import pytest
import responses
from freezegun import freeze_time

from wedsync_integrations.integrations import health, outbox

from .conftest import API_KEY

pytestmark = pytest.mark.django_db

VALIDATE = "https://api.datadoghq.com/api/v1/validate"


@pytest.fixture
def config(keyed_provider, make_config, organisation):
    return make_config("monitoring", organisation, "keyed", secrets={"api_key": API_KEY})


@responses.activate
def test_the_vendor_check_is_cached_for_five_minutes_and_refresh_bypasses_it(config):
    check = responses.get(VALIDATE, json={"valid": True})
    with freeze_time("2026-06-13 12:00:00"):
        first = health.check(config)
    with freeze_time("2026-06-13 12:04:59"):
        health.check(config)
    assert check.call_count == 1
    assert first["ok"] and first["message"] == "key valid" and first["http_status"] == 200
    assert check.calls[0].request.headers["DD-API-KEY"] == API_KEY
    health.check(config, refresh=True)
    assert check.call_count == 2


@responses.activate
def test_a_failing_check_is_reported_without_the_secret_the_vendor_echoed(config):
    responses.get(VALIDATE, status=403, body=f'{{"errors": ["key {API_KEY} is invalid"]}}')
    result = health.check(config)
    assert result["ok"] is False and result["http_status"] == 403
    assert "key *** is invalid" in result["message"] and API_KEY not in result["message"]


@responses.activate
def test_local_state_is_live_even_when_the_vendor_check_is_cached(config):
    responses.get(VALIDATE, json={"valid": True})
    assert health.check(config)["queue_depth"] == 0
    outbox.enqueue(config, operation="send", payload={})
    config.stop("HTTP 403 invalid key")
    result = health.check(config)
    assert result["queue_depth"] == 1 and result["status"] == "stopped"
    assert result["organisation"] == "acme" and result["circuit_state"] == "closed"
    assert len(responses.calls) == 1


def test_a_crashing_health_check_is_unhealthy_not_an_error(fake_provider, make_config, organisation, monkeypatch):
    config = make_config("monitoring", organisation, "fake")

    def broken(self):
        raise KeyError("bug in the provider")

    monkeypatch.setattr(fake_provider, "check_health", broken)
    result = health.check(config)
    assert result["ok"] is False and "KeyError" in result["message"]


def test_forget_drops_the_cached_result(fake_provider, make_config, organisation):
    config = make_config("monitoring", organisation, "fake")
    fake_provider.script = []
    assert health.check(config)["message"] == "fake is fine"
    fake_provider.script = [RuntimeError("unused")]  # would be consumed by a fresh check
    health.check(config)
    assert fake_provider.script  # cached: the provider was not asked
    health.forget(config)
    result = health.check(config)
    assert not fake_provider.script and result["ok"] is False  # asked again; RuntimeError -> unhealthy
