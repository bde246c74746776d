"""Failure handling: a dead channel is retried without losing the alert, one channel failing never
blocks another, and each vendor's failure answers are handled as its contract says."""

import json
from datetime import timedelta
from urllib.parse import parse_qs

import pytest
import requests
import responses
from django.utils import timezone
from freezegun import freeze_time

from alerts.lifecycle import raise_alert
from alerts.models import Alert, AlertConfig, Delivery, DeliveryStatus
from tests.alerts.conftest import PD_ROUTING_KEY, SLACK_WEBHOOK, TWILIO_SID, WEBHOOK_URL, calls_to
from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.models import ConfigStatus, RetryState
from wedsync_integrations.integrations.registry import get_family, validate_config_data

pytestmark = pytest.mark.django_db
FAMILY = get_family("alerts")
TWILIO_MESSAGES = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}/Messages.json"


def item(provider):
    return FAMILY.retry_model.objects.get(provider=provider)


def test_slack_outage_does_not_delay_other_channels_and_is_retried_without_loss(
    organisation, channels, vendors, deliver_all, mailoutbox
):
    vendors.replace(responses.POST, SLACK_WEBHOOK, status=503, body="rollup_error")
    with freeze_time("2026-06-13 12:00:00") as clock:
        alert = raise_alert(organisation=organisation, title="Gallery AI down", severity="critical").alert
        deliver_all()
        # everyone else was told at once
        assert len(mailoutbox) == 1
        assert calls_to(vendors, TWILIO_MESSAGES) and calls_to(vendors, "https://events.pagerduty.com/")
        slack_item = item("slack")
        assert slack_item.state == RetryState.PENDING and slack_item.attempts == 1
        assert "HTTP 503" in slack_item.last_error
        # the failure is visible: a delivery row and the config's status
        assert Delivery.objects.get(alert=alert, channel="slack").status == DeliveryStatus.RETRYING
        assert AlertConfig.objects.get(provider="slack").status == ConfigStatus.FAILING
        # Slack comes back; the URGENT policy retries within seconds, not half an hour
        assert slack_item.next_attempt_at <= timezone.now() + timedelta(seconds=5)
        vendors.replace(responses.POST, SLACK_WEBHOOK, body="ok")
        clock.move_to(slack_item.next_attempt_at + timedelta(seconds=1))
        deliver_all()
    slack_item.refresh_from_db()
    assert slack_item.state == RetryState.SUCCEEDED
    assert [d.status for d in Delivery.objects.filter(channel="slack").order_by("attempt")] == ["retrying", "sent"]
    assert len(calls_to(vendors, SLACK_WEBHOOK)) == 2
    assert AlertConfig.objects.get(provider="slack").status == ConfigStatus.ACTIVE


def test_a_dead_channel_keeps_the_alert_for_replay_and_reports_it_elsewhere(
    organisation, channels, vendors, deliver_all, mailoutbox
):
    vendors.replace(responses.POST, SLACK_WEBHOOK, status=500, body="rollup_error")
    with freeze_time("2026-06-16 10:00:00") as clock:
        alert = raise_alert(organisation=organisation, title="Contract AI down", severity="medium").alert
        for _ in range(12):  # URGENT: 12 attempts
            deliver_all()
            clock.tick(timedelta(minutes=6))
        deliver_all()  # the alert about the dead channel goes out on the others
    slack_item = item("slack")
    assert slack_item.state == RetryState.DEAD and "gave up after 12 attempts" in slack_item.last_error
    assert Delivery.objects.filter(alert=alert, channel="slack").latest("attempt").status == DeliveryStatus.DEAD
    # the failure itself raised an alert on the other channels, never on Slack
    meta = Alert.objects.get(kind="delivery_dead")
    assert "slack" not in meta.routing["channels"] and "email" in meta.routing["channels"]
    assert any("slack delivery failed for good" in m.subject for m in mailoutbox)
    # staff replay once Slack is back: the original alert goes out
    vendors.replace(responses.POST, SLACK_WEBHOOK, body="ok")
    outbox.replay([slack_item])
    slack_item.refresh_from_db()
    assert slack_item.state == RetryState.SUCCEEDED
    delivered = json.loads(calls_to(vendors, SLACK_WEBHOOK)[-1].request.body)
    assert delivered["blocks"][0]["text"]["text"] == "MEDIUM: Contract AI down"


def test_slack_webhook_gone_stops_the_config_and_holds_the_message(organisation, channels, vendors, deliver_all):
    vendors.replace(responses.POST, SLACK_WEBHOOK, status=404, body="no_service")
    raise_alert(organisation=organisation, title="x", severity="low")
    deliver_all()
    config = AlertConfig.objects.get(provider="slack")
    assert config.status == ConfigStatus.STOPPED and "install a new one" in config.status_reason
    assert "sEcReTsLaCkToKeN" not in config.status_reason
    assert item("slack").state == RetryState.PENDING
    vendors.replace(responses.POST, SLACK_WEBHOOK, body="ok")
    outbox.resume_config(config)
    deliver_all()
    assert item("slack").state == RetryState.SUCCEEDED


def test_webhook_410_gone_disables_the_endpoint(organisation, channels, vendors, deliver_all):
    vendors.replace(responses.POST, WEBHOOK_URL, status=410)
    raise_alert(organisation=organisation, title="x", severity="critical")
    deliver_all()
    config = AlertConfig.objects.get(provider="webhook")
    assert config.enabled is False and config.status == ConfigStatus.STOPPED
    assert item("webhook").state == RetryState.DEAD


def test_webhook_redirect_is_a_failed_attempt_never_followed_and_retried_until_dead(
    organisation, channels, vendors, deliver_all
):
    vendors.replace(responses.POST, WEBHOOK_URL, status=307, headers={"Location": "http://169.254.169.254/latest"})
    with freeze_time("2026-06-16 10:00:00") as clock:
        raise_alert(organisation=organisation, title="x", severity="critical")
        deliver_all()
        # Standard Webhooks: a 3xx is a failure to retry, not a reason to drop the alert at once
        assert item("webhook").state == RetryState.PENDING
        assert "redirects are not followed" in item("webhook").last_error
        assert not Alert.objects.filter(kind="delivery_dead").exists()
        for _ in range(11):  # URGENT: 12 attempts in all
            clock.tick(timedelta(minutes=6))
            deliver_all()
    assert item("webhook").state == RetryState.DEAD
    assert len(calls_to(vendors, WEBHOOK_URL)) == 12
    assert Alert.objects.get(kind="delivery_dead").routing["excluded_channels"] == ["webhook"]
    assert not [c for c in vendors.calls if "169.254" in c.request.url]


@pytest.mark.parametrize("status", [400, 404, 422])
def test_webhook_client_errors_are_retried_as_the_spec_asks_and_then_delivered(
    status, organisation, channels, vendors, deliver_all
):
    vendors.replace(responses.POST, WEBHOOK_URL, status=status, body="receiver is being redeployed")
    with freeze_time("2026-06-16 10:00:00") as clock:
        alert = raise_alert(organisation=organisation, title="x", severity="critical").alert
        deliver_all()
        webhook_item = item("webhook")
        assert webhook_item.state == RetryState.PENDING and f"HTTP {status}" in webhook_item.last_error
        assert Delivery.objects.get(alert=alert, channel="webhook").status == DeliveryStatus.RETRYING
        vendors.replace(responses.POST, WEBHOOK_URL, status=200)
        clock.move_to(webhook_item.next_attempt_at + timedelta(seconds=1))
        deliver_all()
    assert item("webhook").state == RetryState.SUCCEEDED
    first, second = calls_to(vendors, WEBHOOK_URL)
    assert first.request.body == second.request.body
    assert AlertConfig.objects.get(provider="webhook").enabled is True


def test_webhook_receiver_refusing_our_signature_stops_the_config_and_keeps_the_event(
    organisation, channels, vendors, deliver_all
):
    vendors.replace(responses.POST, WEBHOOK_URL, status=401, body="bad signature")
    raise_alert(organisation=organisation, title="x", severity="critical")
    deliver_all()
    config = AlertConfig.objects.get(provider="webhook")
    assert config.status == ConfigStatus.STOPPED and "HTTP 401" in config.status_reason
    assert item("webhook").state == RetryState.PENDING


def test_webhook_keeps_its_id_across_retries_and_re_signs_each_attempt(organisation, channels, vendors, deliver_all):
    vendors.replace(responses.POST, WEBHOOK_URL, status=503)
    with freeze_time("2026-06-16 10:00:00") as clock:
        raise_alert(organisation=organisation, title="x", severity="critical")
        deliver_all()
        vendors.replace(responses.POST, WEBHOOK_URL, status=200)
        clock.move_to(item("webhook").next_attempt_at + timedelta(seconds=1))
        deliver_all()
    first, second = calls_to(vendors, WEBHOOK_URL)
    assert first.request.headers["webhook-id"] == second.request.headers["webhook-id"]
    assert first.request.headers["webhook-timestamp"] != second.request.headers["webhook-timestamp"]
    assert first.request.headers["webhook-signature"] != second.request.headers["webhook-signature"]
    assert first.request.body == second.request.body


@pytest.mark.parametrize(
    "url",
    [
        "http://receiver.example.com/hook",  # not https
        "https://internal.example.com/hook",  # resolves to 10.0.0.7
        "https://169.254.169.254/latest/meta-data",  # link-local
        "https://user:pw@receiver.example.com/hook",  # credentials in the URL
    ],
)
def test_unsafe_tenant_urls_are_refused_when_saved(url, public_dns):
    provider = FAMILY.provider("webhook")
    errors = validate_config_data(
        provider, {"url": url}, {"signing_secret": "whsec_" + "A" * 32}, partial_secrets=False
    )
    assert "settings.url" in errors
    slack_errors = validate_config_data(FAMILY.provider("slack"), {}, {"webhook_url": url}, partial_secrets=False)
    assert "secrets.webhook_url" in slack_errors


def test_a_url_that_turns_private_after_saving_is_refused_at_send_time(
    organisation, channels, vendors, deliver_all, public_dns
):
    public_dns["receiver.example.com"] = ["127.0.0.53"]  # DNS now points inside
    raise_alert(organisation=organisation, title="x", severity="critical")
    deliver_all()
    config = AlertConfig.objects.get(provider="webhook")
    assert config.status == ConfigStatus.STOPPED and "private, loopback or link-local" in config.status_reason
    assert calls_to(vendors, WEBHOOK_URL) == []


def test_invalid_webhook_secret_is_refused_without_echoing_it():
    errors = validate_config_data(
        FAMILY.provider("webhook"),
        {"url": "https://receiver.example.com/h"},
        {"signing_secret": "whsec_not*base64"},
        partial_secrets=False,
    )
    assert "whsec_" in errors["secrets.signing_secret"] and "not*base64" not in errors["secrets.signing_secret"]


def test_sms_numbers_must_be_e164():
    errors = validate_config_data(
        FAMILY.provider("sms"),
        {"from_number": "07700 900001", "to_numbers": ["+447700900123", "447700900124"]},
        {"account_sid": TWILIO_SID, "auth_token": "secret-token"},
        partial_secrets=False,
    )
    assert "E.164" in errors["settings.from_number"]
    assert "E.164" in errors["settings.to_numbers.1"] and "settings.to_numbers.0" not in errors


def test_twilio_opt_out_is_permanent_and_says_why(organisation, channels, vendors, deliver_all):
    vendors.replace(
        responses.POST,
        TWILIO_MESSAGES,
        status=400,
        json={"code": 21610, "message": "Attempt to send to unsubscribed recipient", "status": 400},
    )
    alert = raise_alert(organisation=organisation, title="x", severity="high").alert
    deliver_all()
    delivery = Delivery.objects.get(alert=alert, channel="sms")
    assert delivery.status == DeliveryStatus.DEAD and delivery.vendor_error_code == "21610"
    assert "replied STOP" in item("sms").last_error


def test_sms_read_timeout_is_checked_at_twilio_before_any_resend(organisation, channels, vendors, deliver_all):
    vendors.replace(responses.POST, TWILIO_MESSAGES, body=requests.ReadTimeout("read timed out"))
    with freeze_time("2026-06-16 10:00:00") as clock:
        alert = raise_alert(organisation=organisation, title="Payments AI down", severity="high").alert
        deliver_all()
        first = Delivery.objects.get(alert=alert, channel="sms")
        assert first.status == DeliveryStatus.AMBIGUOUS
        sent_body = parse_qs(calls_to(vendors, TWILIO_MESSAGES)[0].request.body)["Body"][0]
        # Twilio did get it: the lookup finds it, and nothing is sent twice
        vendors.get(
            TWILIO_MESSAGES,
            json={
                "messages": [
                    {
                        "sid": "SM" + "9" * 32,
                        "status": "sent",
                        "body": sent_body,
                        "date_created": "Tue, 16 Jun 2026 10:00:01 +0000",
                    }
                ]
            },
        )
        clock.move_to(item("sms").next_attempt_at + timedelta(seconds=1))
        deliver_all()
    posts = [c for c in calls_to(vendors, TWILIO_MESSAGES) if c.request.method == "POST"]
    assert len(posts) == 1
    second = Delivery.objects.filter(alert=alert, channel="sms").latest("attempt")
    assert second.status == DeliveryStatus.SENT and second.vendor_ref == "SM" + "9" * 32
    assert item("sms").state == RetryState.SUCCEEDED


def test_sms_read_timeout_with_nothing_at_twilio_is_sent_again(organisation, channels, vendors, deliver_all):
    vendors.replace(responses.POST, TWILIO_MESSAGES, body=requests.ReadTimeout("read timed out"))
    with freeze_time("2026-06-16 10:00:00") as clock:
        raise_alert(organisation=organisation, title="x", severity="high")
        deliver_all()
        vendors.get(TWILIO_MESSAGES, json={"messages": []})
        vendors.replace(responses.POST, TWILIO_MESSAGES, status=201, json={"sid": "SM" + "2" * 32, "status": "queued"})
        clock.move_to(item("sms").next_attempt_at + timedelta(seconds=1))
        deliver_all()
    assert len([c for c in calls_to(vendors, TWILIO_MESSAGES) if c.request.method == "POST"]) == 2
    assert item("sms").state == RetryState.SUCCEEDED


def test_a_failed_check_at_twilio_is_itself_ambiguous_and_never_leads_to_a_blind_resend(
    organisation, channels, vendors, deliver_all
):
    vendors.replace(responses.POST, TWILIO_MESSAGES, body=requests.ReadTimeout("read timed out"))
    with freeze_time("2026-06-16 10:00:00") as clock:
        alert = raise_alert(organisation=organisation, title="Payments AI down", severity="high").alert
        deliver_all()
        sent_body = parse_qs(calls_to(vendors, TWILIO_MESSAGES)[0].request.body)["Body"][0]
        vendors.get(TWILIO_MESSAGES, status=503, body="Service Unavailable")  # the check fails once...
        clock.move_to("2026-06-16 10:02:00")  # ...two minutes after the send that timed out
        deliver_all()
        checking = Delivery.objects.filter(alert=alert, channel="sms").latest("attempt")
        assert checking.status == DeliveryStatus.AMBIGUOUS and "could not check Twilio" in checking.error
        listing = {
            "sid": "SM" + "9" * 32,
            "status": "delivered",
            "body": sent_body,
            "date_created": "Tue, 16 Jun 2026 10:00:01 +0000",
        }
        vendors.replace(responses.GET, TWILIO_MESSAGES, json={"messages": [listing]})
        clock.move_to(item("sms").next_attempt_at + timedelta(seconds=1))
        deliver_all()
    assert len([c for c in calls_to(vendors, TWILIO_MESSAGES) if c.request.method == "POST"]) == 1
    attempts = Delivery.objects.filter(alert=alert, channel="sms").order_by("attempt")
    assert [d.status for d in attempts] == ["ambiguous", "ambiguous", "sent"]
    assert attempts.last().vendor_ref == "SM" + "9" * 32


@pytest.mark.parametrize(
    ("provider", "url", "echo"),
    [
        # a vendor whose JSON encoder escapes slashes echoes the Slack webhook URL
        ("slack", SLACK_WEBHOOK, json.dumps({"error": "invalid_url", "url": SLACK_WEBHOOK}).replace("/", "\\/")),
        ("slack", SLACK_WEBHOOK, "no_service: " + requests.utils.quote(SLACK_WEBHOOK, safe="")),  # URL-encoded
        ("pagerduty", "https://events.pagerduty.com/v2/enqueue", f"routing key {PD_ROUTING_KEY.lower()} unknown"),
    ],
    ids=["slack-json-escaped", "slack-url-encoded", "pagerduty-lower-cased"],
)
def test_a_secret_echoed_in_another_form_is_stored_and_logged_redacted(
    organisation, channels, vendors, deliver_all, provider, url, echo, caplog
):
    """Issue 14, item 6: a secret the vendor echoed escaped, URL-encoded or in another case was
    stored in clear in last_error, the sync log, the delivery row and the worker's log."""
    vendors.replace(responses.POST, url, status=500, body=echo)
    with caplog.at_level("DEBUG"):
        raise_alert(organisation=organisation, title="Gallery AI down", severity="critical")
        deliver_all()

    failed = item(provider)
    assert failed.state == RetryState.PENDING and "HTTP 500" in failed.last_error
    stored = [
        failed.last_error,
        *FAMILY.sync_log_model.objects.filter(provider=provider).values_list("error", flat=True),
        *Delivery.objects.filter(channel=provider).values_list("response", flat=True),
        *Delivery.objects.filter(channel=provider).values_list("error", flat=True),
        AlertConfig.objects.get(provider=provider).last_error,
        caplog.text,
    ]
    for text in stored:
        lowered = text.lower()
        assert "secretslacktoken0123456789" not in lowered.replace("%2f", "/").replace("\\/", "/"), text
        assert PD_ROUTING_KEY.lower() not in lowered, text
    assert "***" in failed.last_error
