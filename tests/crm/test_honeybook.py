"""HoneyBook through the studio's Zapier catch hook: flat JSON, money as two-decimal strings, a
report_id stable per organisation and month, Standard Webhooks signatures a zap can verify."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
import requests
import responses
from freezegun import freeze_time

from crm.sync import sync_crm
from tests.fixtures import load
from wedsync_integrations.integrations import health, outbox
from wedsync_integrations.integrations.models import ConfigStatus, RetryState
from wedsync_integrations.integrations.registry import get_family, validate_config_data

from .conftest import HOOK_URL, JUNE, NOW, WHSEC

pytestmark = pytest.mark.django_db
FAMILY = get_family("crm")


@pytest.fixture
def honeybook(organisation, usage, honeybook_config):
    usage(organisation, JUNE, requests=100)
    return honeybook_config()


def expected_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """Standard Webhooks v1, written from the spec (www.standardwebhooks.com), not with our signing module."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_the_100_request_example_reaches_the_zap_as_flat_json(honeybook):
    with responses.RequestsMock() as zapier, freeze_time(NOW):
        zapier.post(HOOK_URL, json=load("crm", "honeybook", "zapier_catch_hook_reply"))
        result = sync_crm(honeybook, now=NOW)
        (call,) = zapier.calls
    assert (result.queued, result.delivered) == (1, 1)
    assert call.request.url == HOOK_URL
    assert call.request.headers["Content-Type"] == "application/json"
    body = json.loads(call.request.body)
    assert {key: body[key] for key in ("organisation", "period", "requests", "time_saved_hours", "cost_savings_gbp",
                                       "revenue_opportunity_gbp", "client_retention_improvement_pct", "report_id")} == {
        "organisation": "acme",
        "period": "2026-06",
        "requests": 100,
        "time_saved_hours": "25",
        "cost_savings_gbp": "250.00",
        "revenue_opportunity_gbp": "1000.00",
        "client_retention_improvement_pct": "15",
        "report_id": "wedsync:acme:2026-06",
    }  # fmt: skip
    for derived in ("efficiency_improvement_pct", "faster_response_pct", "peak_usage_share_pct", "season",
                    "season_performance_pct", "projected_requests", "weddings_assisted"):  # fmt: skip
        assert derived in body
    assert all(not isinstance(value, (dict, list)) for value in body.values())  # flat, as a zap maps fields
    assert body["summary"].startswith("WedSync AI value report: June 2026\n")
    item = FAMILY.retry_model.objects.get()
    assert item.result["request_id"] == "5f6de14c-5bd5-4c98-8e58-309c5dc66da0"  # Zapier's reply, kept


def test_the_request_is_signed_with_standard_webhooks_headers(honeybook):
    with responses.RequestsMock() as zapier, freeze_time(NOW):
        zapier.post(HOOK_URL, json=load("crm", "honeybook", "zapier_catch_hook_reply"))
        sync_crm(honeybook, now=NOW)
        headers, body = zapier.calls[0].request.headers, zapier.calls[0].request.body
    assert headers["webhook-id"] == "wedsync:acme:2026-06"
    assert headers["webhook-timestamp"] == str(int(NOW.timestamp()))
    assert headers["webhook-signature"] == expected_signature(WHSEC, "wedsync:acme:2026-06",
                                                              headers["webhook-timestamp"], body)  # fmt: skip


def test_without_a_signing_secret_nothing_is_signed(organisation, usage, honeybook_config):
    usage(organisation, JUNE, requests=1)
    config = honeybook_config(signing_secret=None)
    with responses.RequestsMock() as zapier, freeze_time(NOW):
        zapier.post(HOOK_URL, json=load("crm", "honeybook", "zapier_catch_hook_reply"))
        sync_crm(config, now=NOW)
        assert "webhook-signature" not in zapier.calls[0].request.headers


def test_a_resend_after_a_dropped_connection_carries_the_same_report_id(honeybook):
    with responses.RequestsMock() as zapier, freeze_time(NOW) as clock:
        zapier.post(HOOK_URL, body=requests.ConnectionError("Connection aborted"))
        sync_crm(honeybook, now=NOW)
        clock.tick(300)
        zapier.replace(responses.POST, HOOK_URL, json=load("crm", "honeybook", "zapier_catch_hook_reply"))
        outbox.replay([FAMILY.retry_model.objects.get()])
        first, second = zapier.calls[0].request, zapier.calls[1].request
    assert first.body == second.body  # the stored payload: same report_id, same figures
    assert json.loads(second.body)["report_id"] == "wedsync:acme:2026-06"
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == "wedsync:acme:2026-06"
    assert int(second.headers["webhook-timestamp"]) == int(first.headers["webhook-timestamp"]) + 300  # per attempt
    assert FAMILY.retry_model.objects.get().state == RetryState.SUCCEEDED


def test_a_deleted_zap_stops_the_configuration_and_keeps_the_report(honeybook):
    with responses.RequestsMock() as zapier, freeze_time(NOW):
        zapier.post(HOOK_URL, status=410, body="Gone")
        sync_crm(honeybook, now=NOW)
    honeybook.refresh_from_db()
    assert honeybook.status == ConfigStatus.STOPPED and "set the new hook_url and resume" in honeybook.status_reason
    assert FAMILY.retry_model.objects.get().state == RetryState.PENDING
    assert "abcdef" not in honeybook.status_reason  # the hook URL is the credential: never shown


def test_the_hook_url_must_pass_the_outbound_guard_and_the_secret_must_be_whsec():
    provider = FAMILY.provider("honeybook")
    errors = validate_config_data(provider, {}, {"hook_url": "http://10.0.0.5/hook", "signing_secret": "nope"},
                                  partial_secrets=False)  # fmt: skip
    assert "must use https" in errors["secrets.hook_url"]
    assert "whsec_" in errors["secrets.signing_secret"]
    assert validate_config_data(provider, {"first_month": "June"}, {"hook_url": HOOK_URL}, partial_secrets=False) == {
        "settings.first_month": "'June' is not a month written YYYY-MM (e.g. 2026-06)"
    }


def test_health_sends_nothing_and_reports_the_last_delivery(honeybook):
    with responses.RequestsMock():  # a test post would run the studio's zap: none is made
        result = health.check(honeybook, refresh=True)
    assert result["ok"] and "no report delivered yet" in result["message"]
    with responses.RequestsMock() as zapier, freeze_time(NOW):
        zapier.post(HOOK_URL, status=500, body=f"echo {HOOK_URL}")
        sync_crm(honeybook, now=NOW)
    honeybook.refresh_from_db()
    result = health.check(honeybook, refresh=True)
    assert not result["ok"] and "the last delivery failed" in result["message"]
    assert "abcdef" not in result["message"]
