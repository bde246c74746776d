"""The vendors' published example payloads (tests/webhooks/fixtures/<source>/), each signed the way
its vendor signs and sent to the endpoint: stored as the event its vendor means."""

from __future__ import annotations

import pytest

from tests.fixtures import raw
from webhooks.models import InboundEvent

from . import vendors
from .cases import (
    FB_VERIFIER,
    PD_SECRET,
    PUBLIC,
    QBO_VERIFIER,
    SHARED_TOKEN,
    SLACK_SECRET,
    TAVE_TOKEN,
    TWILIO_TOKEN,
    WHSEC,
    XERO_KEY,
)

pytestmark = pytest.mark.django_db
FORM = "application/x-www-form-urlencoded"


def _signed(source: str, body: bytes) -> tuple[dict, str, str]:
    """(headers, content type, query) that the vendor would send with `body`."""
    if source == "slack":
        return vendors.slack_headers(SLACK_SECRET, body), FORM, ""
    if source == "pagerduty":
        return vendors.pagerduty_headers(PD_SECRET, body), "application/json", ""
    if source == "twilio":
        url = f"{PUBLIC}{vendors.API}/twilio/acme/"
        params = dict(vendors.parse_form(body))
        return {"X-Twilio-Signature": vendors.twilio_signature(TWILIO_TOKEN, url, params)}, FORM, ""
    if source in ("datadog", "newrelic"):
        return {"Authorization": f"Bearer {SHARED_TOKEN}"}, "application/json", ""
    if source == "tave":
        return {}, "application/json", f"token={TAVE_TOKEN}&event=job.created"
    if source in ("honeybook", "generic"):
        return vendors.standard_headers(WHSEC, "msg_recorded_1", body), "application/json", ""
    if source == "quickbooks":
        return {"intuit-signature": vendors.b64_body_hmac(QBO_VERIFIER, body)}, "application/json", ""
    if source == "xero":
        return {"x-xero-signature": vendors.b64_body_hmac(XERO_KEY, body)}, "application/json", ""
    if source == "freshbooks":
        return {"X-FreshBooks-Hmac-SHA256": vendors.freshbooks_signature(FB_VERIFIER, body.decode())}, FORM, ""
    raise AssertionError(source)


SECRETS = {
    "slack": SLACK_SECRET, "pagerduty": PD_SECRET, "twilio": TWILIO_TOKEN, "datadog": SHARED_TOKEN,
    "newrelic": SHARED_TOKEN, "tave": TAVE_TOKEN, "honeybook": WHSEC, "generic": WHSEC,
    "quickbooks": QBO_VERIFIER, "xero": XERO_KEY, "freshbooks": FB_VERIFIER,
}  # fmt: skip

RECORDED = [
    ("slack", "block_actions_acknowledge", "block_actions"),
    ("pagerduty", "incident_acknowledged", "incident.acknowledged"),
    ("twilio", "message_status_delivered", "message.status"),
    ("datadog", "monitor_triggered", "alert"),
    ("newrelic", "issue_activated", "alert"),
    ("tave", "job_created", "job.created"),
    ("honeybook", "client_created_via_zapier", "client.created"),
    ("generic", "crm_client_created", "crm.client.created"),
    ("quickbooks", "purchase_created_cloudevents", "qbo.purchase.created.v1"),
    ("quickbooks", "bill_created_legacy", "qbo.bill.created.v1"),
    ("xero", "invoice_created", "invoice.create"),
    ("freshbooks", "expense_created", "expense.create"),
]


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.PUBLIC_BASE_URL = PUBLIC


@pytest.mark.parametrize(("source", "fixture", "event_type"), RECORDED, ids=[f"{s}:{f}" for s, f, _ in RECORDED])
def test_a_recorded_vendor_payload_is_stored_as_the_event_it_means(
    post, organisation, webhook_config, no_dispatch, source, fixture, event_type
):
    webhook_config(source, organisation, SECRETS[source])
    body = raw("webhooks", source, fixture)
    headers, content_type, query = _signed(source, body)

    response = post(source, "acme", body, headers, content_type=content_type, query=query)

    assert response.status_code in (200, 202), response.content
    event = InboundEvent.objects.get()
    assert (event.source, event.event_type) == (source, event_type)


def test_xero_intent_to_receive_is_answered_and_stores_nothing(post, organisation, webhook_config):
    webhook_config("xero", organisation, XERO_KEY)
    body = raw("webhooks", "xero", "intent_to_receive")
    response = post("xero", "acme", body, {"x-xero-signature": vendors.b64_body_hmac(XERO_KEY, body)})
    assert response.status_code == 200 and not InboundEvent.objects.exists()
