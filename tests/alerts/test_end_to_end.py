"""End to end: a real sandbox process receives every channel's request; signed inbound requests
from Slack, PagerDuty and Twilio travel through the webhooks app to the alert and back out."""

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest
import requests
from django.test import Client

from alerts.lifecycle import raise_alert
from alerts.models import Alert, AlertStatus, Delivery
from alerts.notify import deliver_now
from tests.alerts.conftest import PD_ROUTING_KEY, TWILIO_SID
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.registry import get_family

pytestmark = pytest.mark.django_db
API = "/api/webhooks/ai-integrations"
SIGNING = "inbound-signing-secret-0001"
SATURDAY = datetime(2026, 6, 13, 13, 0, tzinfo=UTC)


@pytest.fixture
def sandboxed(sandbox, organisation, make_channels, make_config):
    configs = make_channels(organisation, base=sandbox.url)
    for source in ("slack", "pagerduty", "twilio"):
        make_config("webhooks", organisation, source, secrets={"signing_secret": SIGNING})
    return configs


def test_a_critical_saturday_alert_reaches_every_channel_in_the_sandbox(
    sandbox, sandboxed, organisation, eager_celery, django_capture_on_commit_callbacks, mailoutbox
):
    sandbox.fault("/slack", kind="status", status=503, times=1)  # Slack hiccups once
    with django_capture_on_commit_callbacks(execute=True):
        alert = raise_alert(organisation=organisation, title="Payments AI down", severity="low", at=SATURDAY)
    # dispatched on commit, one worker task per channel
    (pd,) = sandbox.requests("/pagerduty/v2/enqueue")
    assert pd.json()["routing_key"] == PD_ROUTING_KEY and pd.json()["payload"]["severity"] == "warning"
    (sms,) = sandbox.requests("/twilio/")
    assert sms.form()["To"] == "+447700900123" and sms.headers["Authorization"].startswith("Basic ")
    assert sandbox.requests("/hooks/acme") == []  # the endpoint subscribes to high and critical only
    assert len(mailoutbox) == 1
    # Slack answered 503: its item waits, the others did not wait for it
    slack_item = get_family("alerts").retry_model.objects.get(provider="slack")
    assert slack_item.state == RetryState.PENDING
    from wedsync_integrations.integrations import outbox

    outbox.replay([slack_item])
    slack_posts = sandbox.requests("/slack/services/")
    assert len(slack_posts) == 2 and slack_posts[-1].json()["blocks"][0]["type"] == "header"
    # Saturday: low → medium (wedding-day mode), and SMS + PagerDuty whatever the severity
    assert alert.alert.effective_severity == "medium"
    assert alert.alert.routing["channels"] == ["slack", "email", "sms", "pagerduty"]


def slack_signed(body: bytes) -> dict:
    ts = str(int(time.time()))
    signature = "v0=" + hmac.new(SIGNING.encode(), b"v0:" + ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": ts}


def test_slack_button_through_the_webhooks_app_acknowledges_and_updates_everywhere(
    sandbox, sandboxed, organisation, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        alert = raise_alert(organisation=organisation, title="Timeline AI down", severity="critical").alert
    payload = {
        "type": "block_actions",
        "user": {"id": "U2CERLKJA", "username": "roadrunner", "team_id": "T1"},
        "team": {"id": "T1", "domain": "acme"},
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C1"},
        "trigger_id": "1.2.3",
        "response_url": f"{sandbox.url}/slack/actions/T1/1/responsetoken",
        "actions": [
            {
                "type": "button",
                "action_id": "alert_ack",
                "block_id": "b",
                "value": alert.ref,
                "action_ts": "1700000001.000200",
            }
        ],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().generic(
            "POST",
            f"{API}/slack/acme/",
            data=body,
            content_type="application/x-www-form-urlencoded",
            headers=slack_signed(body),
        )
    assert response.status_code == 200
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.acknowledged_by.startswith("slack:roadrunner")
    # PagerDuty heard the acknowledgement, and the Slack message was replaced in place
    actions = [r.json()["event_action"] for r in sandbox.requests("/pagerduty/v2/enqueue")]
    assert actions == ["trigger", "acknowledge"]
    (replaced,) = sandbox.requests("/slack/actions/T1/1/responsetoken")
    assert replaced.json()["replace_original"] is True
    assert time.monotonic() - started < 3  # even doing the work inline, well within Slack's deadline


def test_pagerduty_and_twilio_webhooks_close_the_loop(
    sandbox, sandboxed, organisation, eager_celery, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        alert = raise_alert(organisation=organisation, title="x", severity="critical").alert
    body = json.dumps(
        {
            "event": {
                "id": "01EVT",
                "event_type": "incident.resolved",
                "resource_type": "incident",
                "occurred_at": "2026-06-13T14:05:00.000Z",
                "agent": {"summary": "Jane"},
                "data": {
                    "id": "PINC1",
                    "type": "incident",
                    "status": "resolved",
                    "incident_key": alert.pagerduty_dedup_key,
                },
            }
        }
    ).encode()
    signature = "v1=" + hmac.new(SIGNING.encode(), body, hashlib.sha256).hexdigest()
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().generic(
            "POST",
            f"{API}/pagerduty/acme/",
            data=body,
            content_type="application/json",
            headers={"X-PagerDuty-Signature": signature, "X-Webhook-Id": "wh-1"},
        )
    assert response.status_code in (200, 202)
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_by, alert.pagerduty_incident_id) == ("resolved", "pagerduty:Jane", "PINC1")
    # PagerDuty told us, so we do not echo a resolve back to it; Slack got the update
    assert [r.json()["event_action"] for r in sandbox.requests("/pagerduty/v2/enqueue")] == ["trigger"]
    assert len(sandbox.requests("/slack/services/")) == 2

    sid = Delivery.objects.get(alert=alert, channel="sms").vendor_ref
    params = {
        "MessageSid": sid,
        "MessageStatus": "delivered",
        "AccountSid": "AC" + "0" * 32,
        "To": "+447700900123",
        "From": "+447700900001",
    }
    url = f"http://127.0.0.1:8000{API}/twilio/acme/"
    content = url + "".join(k + v for k, v in sorted(params.items()))
    twilio_sig = base64.b64encode(hmac.new(SIGNING.encode(), content.encode(), hashlib.sha1).digest()).decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = Client().generic(
            "POST",
            f"{API}/twilio/acme/",
            data=urlencode(params).encode(),
            content_type="application/x-www-form-urlencoded",
            headers={"X-Twilio-Signature": twilio_sig},
        )
    assert response.status_code == 200
    assert Delivery.objects.get(alert=alert, channel="sms").vendor_status == "delivered"


def test_a_forged_slack_click_changes_nothing(sandbox, sandboxed, organisation, django_capture_on_commit_callbacks):
    alert = raise_alert(organisation=organisation, title="x", severity="low", dispatch=False).alert
    body = urlencode(
        {"payload": json.dumps({"type": "block_actions", "actions": [{"action_id": "alert_ack", "value": alert.ref}]})}
    ).encode()
    headers = slack_signed(body)
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    response = Client().generic(
        "POST", f"{API}/slack/acme/", data=body, content_type="application/x-www-form-urlencoded", headers=headers
    )
    assert response.status_code == 401
    assert Alert.objects.get().status == AlertStatus.TRIGGERED


def test_the_fake_twilio_lists_what_it_was_sent_and_forgets_it_on_reset(sandbox, sandboxed, organisation):
    raise_alert(organisation=organisation, title="x", severity="high", dispatch=False)
    deliver_now([(organisation.pk, "sms")])
    listing = f"{sandbox.url}/twilio/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"
    (message,) = requests.get(listing, params={"To": "+447700900123"}, timeout=5).json()["messages"]
    assert message["sid"] == Delivery.objects.get(channel="sms").vendor_ref
    sandbox.reset()
    assert requests.get(listing, timeout=5).json()["messages"] == []
