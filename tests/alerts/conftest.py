"""Alerts fixtures: an organisation with every channel configured, and a synchronous "worker"."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.utils import timezone

from alerts.family import FAMILY
from tests.services.conftest import start_worker, worker_queue  # noqa: F401  (real-worker fixtures)
from wedsync_integrations.integrations import outbox

SLACK_WEBHOOK = "https://hooks.slack.com/services/T0001/B0001/sEcReTsLaCkToKeN0123456789"
TWILIO_SID = "AC" + "0123456789abcdef" * 2
TWILIO_TOKEN = "twilio-auth-token-0001"
PD_ROUTING_KEY = "R0UT1NGKEY0000000000000000000000"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
WEBHOOK_URL = "https://receiver.example.com/wedsync/alerts"
SECRET_VALUES = [SLACK_WEBHOOK, "sEcReTsLaCkToKeN0123456789", TWILIO_TOKEN, PD_ROUTING_KEY, WEBHOOK_SECRET]


def channel_settings(base: str | None = None) -> dict:
    """Settings and secrets of the five channels; `base` points the HTTP ones at a sandbox."""
    slack = f"{base}/slack/services/T0001/B0001/sEcReTsLaCkToKeN0123456789" if base else SLACK_WEBHOOK
    return {
        "slack": ({}, {"webhook_url": slack}),
        "email": (
            {"recipients": ["oncall@acme.example"], "management_recipients": ["director@acme.example"]},
            {},
        ),
        "sms": (
            {
                "from_number": "+447700900001",
                "to_numbers": ["+447700900123"],
                "management_numbers": ["+447700900999"],
                **({"base_url": f"{base}/twilio"} if base else {}),
            },
            {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN},
        ),
        "pagerduty": ({"base_url": f"{base}/pagerduty"} if base else {}, {"routing_key": PD_ROUTING_KEY}),
        "webhook": (
            {"url": f"{base}/hooks/acme" if base else WEBHOOK_URL, "severities": ["high", "critical"]},
            {"signing_secret": WEBHOOK_SECRET},
        ),
    }


@pytest.fixture
def make_channels(make_config):
    def make(organisation, *, base: str | None = None, only=None):
        configs = {}
        for provider, (settings, secrets) in channel_settings(base).items():
            if only is None or provider in only:
                configs[provider] = make_config("alerts", organisation, provider, settings=settings, secrets=secrets)
        return configs

    return make


@pytest.fixture
def channels(make_channels, organisation):
    return make_channels(organisation)


@pytest.fixture
def deliver_all():
    """What the worker does: drain every due (organisation, channel) pair, now (or at `now`)."""

    def deliver(now=None) -> dict:
        totals: dict[str, int] = {}
        for organisation_id, provider in outbox.due_pairs(FAMILY, now or timezone.now()):
            for key, value in outbox.drain_pair(FAMILY, organisation_id, provider, now=now).items():
                totals[key] = totals.get(key, 0) + value
        return totals

    return deliver


@pytest.fixture
def inbound_event(organisation):
    """A stand-in for webhooks.models.InboundEvent (what the registry hands a handler)."""

    def make(source, event_type, payload, *, organisation=organisation, external_id="evt-1", received_at=None):
        return SimpleNamespace(
            source=source,
            organisation=organisation,
            event_type=event_type,
            external_id=external_id,
            payload=payload,
            received_at=received_at or timezone.now(),
        )

    return make


PUBLIC_IP = "93.184.216.34"


@pytest.fixture
def public_dns(monkeypatch):
    """Resolve test hostnames to a public address (no DNS in CI); private hosts stay private."""
    from wedsync_integrations.integrations import ssrf

    table = {"receiver.example.com": [PUBLIC_IP], "internal.example.com": ["10.0.0.7"]}

    def resolve(host, port):
        if host not in table:
            raise ssrf.UnsafeURLError(f"outbound host {host!r} cannot be resolved")
        return table[host]

    monkeypatch.setattr(ssrf, "_resolve", resolve)
    return table


@pytest.fixture
def vendors(public_dns):
    """Every HTTP vendor answering as its contract says, recorded by `responses`."""
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(SLACK_WEBHOOK, body="ok")
        mock.post(
            f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages.json",
            status=201,
            json={"sid": "SM" + "1" * 32, "status": "queued", "num_segments": "1"},
        )
        mock.post(
            "https://events.pagerduty.com/v2/enqueue",
            status=202,
            json={"status": "success", "message": "Event processed", "dedup_key": "wedsync:acme:al_1"},
        )
        mock.post(WEBHOOK_URL, status=200, body="")
        yield mock


def calls_to(mock, prefix: str) -> list:
    return [call for call in mock.calls if call.request.url.startswith(prefix)]
