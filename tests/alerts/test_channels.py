"""Every channel's request matches its vendor's contract (docs/vendors/slack.md, email.md, twilio.md,
pagerduty.md, standard-webhooks.md):
exact URL, headers and body; and no credential is ever stored with the message."""

import base64
import json
from datetime import UTC, datetime
from urllib.parse import parse_qs

import pytest
from freezegun import freeze_time

from alerts import sms_text
from alerts.lifecycle import raise_alert
from alerts.models import Alert, Delivery, DeliveryStatus
from alerts.render import pagerduty_event
from tests.alerts.conftest import (
    PD_ROUTING_KEY,
    SECRET_VALUES,
    SLACK_WEBHOOK,
    TWILIO_SID,
    TWILIO_TOKEN,
    WEBHOOK_URL,
    calls_to,
)
from wedsync_integrations.integrations.registry import get_family
from wedsync_integrations.integrations.signing import standard_webhooks_signature

pytestmark = pytest.mark.django_db

SATURDAY_AFTERNOON = datetime(2026, 6, 13, 13, 2, tzinfo=UTC)  # 14:02 BST, peak season


@pytest.fixture
def saturday_alert(organisation, make_wedding, channels, vendors, deliver_all):
    make_wedding(organisation, SATURDAY_AFTERNOON.date(), venue="Kew Gardens")
    with freeze_time(SATURDAY_AFTERNOON):
        alert = raise_alert(
            organisation=organisation,
            title="AI photo-culling failing",
            description="Error rate 31% on the culling model since 13:40.",
            severity="high",
            affected_vendors=["photographers"],
            impact="Galleries for today's weddings are delayed",
        ).alert
        deliver_all()
    alert.refresh_from_db()
    return alert


def test_slack_incoming_webhook_gets_block_kit_with_context_and_buttons(saturday_alert, vendors):
    (call,) = calls_to(vendors, SLACK_WEBHOOK)
    assert call.request.method == "POST"
    assert call.request.headers["Content-Type"] == "application/json"
    body = json.loads(call.request.body)
    alert = saturday_alert
    assert body["text"].startswith("CRITICAL: AI photo-culling failing — 1 wedding today")
    header, fields, description, recovery, context, actions = body["blocks"]
    assert header == {
        "type": "header",
        "block_id": f"{alert.ref}:v1:notify:header",
        "text": {"type": "plain_text", "text": "CRITICAL: AI photo-culling failing", "emoji": True},
    }
    texts = [field["text"] for field in fields["fields"]]
    assert texts[0].startswith("*Severity*\n") and "Critical (raised as high)" in texts[0]
    assert texts[1] == "*Affected vendors*\nphotographers"
    assert texts[2] == "*Wedding-day mode*\nON · Saturday"
    assert texts[3] == "*Impact*\nGalleries for today's weddings are delayed"
    assert description["text"]["text"] == "Error rate 31% on the culling model since 13:40."
    assert recovery["text"]["text"].startswith("*Recovery actions*\n1. ")
    assert "Kew Gardens" in context["elements"][0]["text"]
    ack, resolve, view = actions["elements"]
    assert (ack["action_id"], ack["value"], ack["style"]) == ("alert_ack", alert.ref, "primary")
    assert (resolve["action_id"], resolve["value"]) == ("alert_resolve", alert.ref)
    assert view["url"] == f"http://127.0.0.1:8000/admin/alerts/alert/{alert.pk}/change/"
    assert all(block["block_id"].startswith(f"{alert.ref}:v1") for block in body["blocks"])


def test_slack_message_respects_block_kit_limits(organisation, channels, vendors, deliver_all):
    raise_alert(organisation=organisation, title="x" * 500, description="d" * 5000, severity="low", impact="i" * 3000)
    deliver_all()
    body = json.loads(calls_to(vendors, SLACK_WEBHOOK)[0].request.body)
    assert len(body["blocks"]) <= 50
    assert len(body["blocks"][0]["text"]["text"]) <= 150
    assert all(len(field["text"]) <= 2000 for field in body["blocks"][1]["fields"])
    assert len(body["blocks"][2]["text"]["text"]) <= 3000
    assert len(body["text"]) <= 4000


def test_twilio_messages_api_form_with_basic_auth_and_status_callback(saturday_alert, vendors):
    (call,) = calls_to(vendors, "https://api.twilio.com/")
    assert call.request.url == f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    assert call.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    expected_auth = base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
    assert call.request.headers["Authorization"] == f"Basic {expected_auth}"
    form = {key: values[0] for key, values in parse_qs(call.request.body).items()}
    assert form["To"] == "+447700900123"
    assert form["From"] == "+447700900001"
    assert form["StatusCallback"] == "http://127.0.0.1:8000/api/webhooks/ai-integrations/twilio/acme/"
    assert form["Body"] == (
        f"WedSync CRITICAL {saturday_alert.ref}: AI photo-culling failing. 1 wedding today, wedding-day mode. "
        "Galleries for today's weddings are delayed"
    )
    assert set(form) == {"To", "From", "Body", "StatusCallback"}
    delivery = Delivery.objects.get(alert=saturday_alert, channel="sms")
    assert (delivery.status, delivery.vendor_ref, delivery.vendor_status) == ("sent", "SM" + "1" * 32, "queued")
    assert delivery.recipient == "+447700900123" and delivery.http_status == 201


def test_pagerduty_events_v2_trigger_with_routing_key_added_at_send_time(saturday_alert, vendors):
    (call,) = calls_to(vendors, "https://events.pagerduty.com/")
    assert call.request.url == "https://events.pagerduty.com/v2/enqueue"
    event = json.loads(call.request.body)
    assert call.request.headers["Content-Type"] == "application/json"
    assert "Authorization" not in call.request.headers  # the credential is the body's routing_key
    assert set(event) == {"routing_key", "event_action", "dedup_key", "payload", "client", "client_url", "links"}
    assert event["routing_key"] == PD_ROUTING_KEY
    assert event["event_action"] == "trigger"
    assert event["dedup_key"] == f"wedsync:acme:{saturday_alert.ref}"
    payload = event["payload"]
    assert set(payload) == {
        "summary",
        "source",
        "severity",
        "timestamp",
        "component",
        "group",
        "class",
        "custom_details",
    }
    assert (payload["component"], payload["class"]) == ("code", "generic")
    assert payload["summary"] == "AI photo-culling failing (1 wedding today, wedding-day mode)"
    assert payload["source"] == "wedsync-ai-platform"
    assert payload["severity"] == "critical"
    assert payload["timestamp"] == "2026-06-13T13:02:00+00:00"
    assert payload["group"] == "acme"
    details = payload["custom_details"]
    assert details["weddings_today"] == 1 and details["venues"] == ["Kew Gardens"]
    assert details["wedding_day_mode"] is True and details["saturday"] is True and details["season"] == "peak"
    assert details["peak_ceremony_hours"] is True and details["vendor_types"] == ["photographer"]
    assert details["affected_vendors"] == ["photographers"] and details["severity_raised"] == "high"
    assert details["impact"] == "Galleries for today's weddings are delayed" and details["recovery_actions"]
    assert event["links"][0]["href"].endswith(f"/admin/alerts/alert/{saturday_alert.pk}/change/")
    # the stored outbox item never held the key
    item = get_family("alerts").retry_model.objects.get(provider="pagerduty")
    assert "routing_key" not in json.dumps(item.payload)


@pytest.mark.parametrize(
    ("severity", "expected"), [("low", "info"), ("medium", "warning"), ("high", "error"), ("critical", "critical")]
)
def test_pagerduty_severity_mapping(organisation, severity, expected):
    alert = Alert(
        pk=7, organisation=organisation, title="t", severity=severity, effective_severity=severity, context={}
    )
    assert pagerduty_event(alert, "notify")["payload"]["severity"] == expected
    assert pagerduty_event(alert, "acknowledge") == {"event_action": "acknowledge", "dedup_key": "wedsync:acme:al_7"}
    assert pagerduty_event(alert, "resolve") == {"event_action": "resolve", "dedup_key": "wedsync:acme:al_7"}


def test_standard_webhooks_published_test_vector():
    signature = standard_webhooks_signature(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_outbound_webhook_is_signed_over_the_exact_bytes_sent(saturday_alert, vendors):
    (call,) = calls_to(vendors, WEBHOOK_URL)
    headers = call.request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "WedSync-Webhooks/1"
    msg_id, timestamp = headers["webhook-id"], headers["webhook-timestamp"]
    assert msg_id.startswith("msg_") and "." not in msg_id
    assert int(timestamp) == int(SATURDAY_AFTERNOON.timestamp())
    body = call.request.body
    expected = standard_webhooks_signature("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", msg_id, int(timestamp), body)
    assert headers["webhook-signature"] == expected
    event = json.loads(body)
    assert event["type"] == "alert.triggered"
    assert event["timestamp"] == "2026-06-13T13:02:00Z"
    assert event["data"]["id"] == saturday_alert.ref and event["data"]["severity"] == "critical"
    assert event["data"]["wedding_context"] == {
        "weddings_today": 1,
        "venues": ["Kew Gardens"],
        "vendor_types": ["photographer"],
        "season": "peak",
        "wedding_day_mode": True,
        "saturday": True,
        "peak_ceremony_hours": True,
    }
    assert body == json.dumps(event, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


def test_webhook_only_receives_the_severities_it_subscribes_to(organisation, channels, vendors, deliver_all):
    with freeze_time("2026-06-16 10:00:00"):  # a Tuesday: medium stays medium
        raise_alert(organisation=organisation, title="minor", severity="medium")
        deliver_all()
    assert calls_to(vendors, WEBHOOK_URL) == []


def test_no_secret_is_stored_in_outbox_deliveries_or_logs(saturday_alert):
    family = get_family("alerts")
    stored = json.dumps(
        [
            list(family.retry_model.objects.values("payload", "last_error", "result")),
            list(family.sync_log_model.objects.values("error", "detail")),
            list(Delivery.objects.values("response", "error", "recipient", "vendor_ref")),
            list(family.audit_model.objects.values("summary", "changes")),
        ],
        default=str,
    )
    for secret in SECRET_VALUES:
        assert secret not in stored


def test_every_channel_leaves_one_delivery_row_per_attempt(saturday_alert):
    rows = Delivery.objects.filter(alert=saturday_alert).order_by("channel")
    assert [(row.channel, row.purpose, row.attempt, row.status) for row in rows] == [
        ("email", "notify", 1, DeliveryStatus.SENT),
        ("pagerduty", "notify", 1, DeliveryStatus.SENT),
        ("slack", "notify", 1, DeliveryStatus.SENT),
        ("sms", "notify", 1, DeliveryStatus.SENT),
        ("webhook", "notify", 1, DeliveryStatus.SENT),
    ]
    assert get_family("alerts").sync_log_model.objects.filter(outcome="success").count() == 5


def test_slack_text_from_outside_cannot_ping_the_channel_or_disguise_a_link(
    organisation, channels, vendors, deliver_all
):
    raise_alert(
        organisation=organisation,
        title="<!channel> down",
        severity="low",
        description="see <https://evil.example|the runbook> & fix",
        impact="<@U123> paged",
    )
    deliver_all()
    body = json.loads(calls_to(vendors, SLACK_WEBHOOK)[0].request.body)
    assert body["text"].startswith("LOW: &lt;!channel&gt; down")
    assert body["blocks"][0]["text"]["text"] == "LOW: <!channel> down"  # plain_text shows it literally
    assert body["blocks"][2]["text"]["text"] == "see &lt;https://evil.example|the runbook&gt; &amp; fix"
    assert body["blocks"][1]["fields"][3]["text"] == "*Impact*\n&lt;@U123&gt; paged"


@pytest.mark.parametrize(
    ("instant", "segments", "encoding"),
    [
        (datetime(2026, 6, 16, 10, 0, tzinfo=UTC), 2, "UCS-2"),  # a Tuesday, no weddings: the configured 2
        (SATURDAY_AFTERNOON, 1, "GSM-7"),  # wedding-day mode: one GSM-7 segment (docs/vendors/twilio.md)
    ],
    ids=["tuesday", "saturday"],
)
def test_sms_fits_two_segments_normally_and_one_gsm7_segment_on_a_wedding_day(
    instant, segments, encoding, organisation, make_channels, vendors, deliver_all
):
    make_channels(organisation, only={"sms"})
    with freeze_time(instant):
        raise_alert(
            organisation=organisation,
            title="Ślub w Łodzi: AI timeline builder failing",
            severity="high",
            impact="Timelines for couples cannot be regenerated; planners must edit by hand. " * 4,
        )
        deliver_all()
    (call,) = calls_to(vendors, "https://api.twilio.com/")
    body = parse_qs(call.request.body)["Body"][0]
    assert sms_text.count(body).segments == segments and sms_text.count(body).encoding == encoding
    assert body.endswith("...")
    if instant == SATURDAY_AFTERNOON:
        assert len(body) <= 160 and ": Slub w Lodzi: AI timeline builder failing. 0 weddings today" in body
