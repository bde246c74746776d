"""Inbound handlers: Slack buttons, PagerDuty incidents, Twilio status callbacks, Datadog and
New Relic monitors. Each is idempotent and only touches its own tenant's alerts."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.lifecycle import raise_alert
from alerts.models import Alert, AlertStatus, Delivery
from alerts.webhook_handlers import datadog_alert, newrelic_alert, pagerduty_incident, slack_button, twilio_status
from tests.alerts.conftest import SLACK_WEBHOOK, calls_to
from webhooks.registry import handlers_for

pytestmark = pytest.mark.django_db


def button(alert_ref, action_id="alert_ack", response_url="https://hooks.slack.com/actions/T1/1/abc"):
    return {
        "type": "block_actions",
        "user": {"id": "U2CERLKJA", "username": "roadrunner"},
        "container": {"type": "message", "message_ts": "1531420618.000100"},
        "response_url": response_url,
        "actions": [{"type": "button", "action_id": action_id, "value": alert_ref, "action_ts": "1531420619.1"}],
    }


def test_handlers_are_registered_with_the_webhooks_app():
    assert slack_button in handlers_for("slack", "block_actions")
    assert pagerduty_incident in handlers_for("pagerduty", "incident.acknowledged")
    assert pagerduty_incident in handlers_for("pagerduty", "incident.resolved")
    assert twilio_status in handlers_for("twilio", "message.status")
    assert datadog_alert in handlers_for("datadog", "alert")
    assert newrelic_alert in handlers_for("newrelic", "alert")


def test_slack_acknowledge_button_replaces_the_original_message(
    organisation, channels, vendors, deliver_all, inbound_event
):
    vendors.post("https://hooks.slack.com/actions/T1/1/abc", json={"ok": True})
    alert = raise_alert(organisation=organisation, title="Timeline AI down", severity="high").alert
    deliver_all()
    slack_button(inbound_event("slack", "block_actions", button(alert.ref)))
    deliver_all()
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by, alert.acknowledged_via) == (
        "acknowledged",
        "slack:roadrunner (U2CERLKJA)",
        "slack",
    )
    (update,) = calls_to(vendors, "https://hooks.slack.com/actions/T1/1/abc")
    body = json.loads(update.request.body)
    assert body["replace_original"] is True
    assert body["text"].startswith("Acknowledged by slack:roadrunner (U2CERLKJA) via Slack button at ")
    actions = body["blocks"][-1]["elements"]
    assert [a["action_id"] for a in actions] == ["alert_resolve", "alert_open"]  # no second Acknowledge
    assert all(block["block_id"].startswith(f"{alert.ref}:v2:acknowledge") for block in body["blocks"])
    assert len(calls_to(vendors, SLACK_WEBHOOK)) == 1  # no follow-up post: the message was replaced


def test_without_a_response_url_state_changes_are_posted_as_a_follow_up(organisation, channels, vendors, deliver_all):
    from alerts.lifecycle import resolve

    alert = raise_alert(organisation=organisation, title="x", severity="low").alert
    deliver_all()
    resolve(alert.pk, by="admin:alice", via="admin")
    deliver_all()
    follow_up = json.loads(calls_to(vendors, SLACK_WEBHOOK)[1].request.body)
    assert "replace_original" not in follow_up
    assert follow_up["text"].startswith("Resolved by admin:alice via Django admin")
    assert [a["action_id"] for a in follow_up["blocks"][-1]["elements"]] == ["alert_open"]


def test_an_expired_response_url_falls_back_to_a_follow_up(organisation, channels, vendors, deliver_all, inbound_event):
    alert = raise_alert(organisation=organisation, title="x", severity="low").alert
    deliver_all()
    old = timezone.now() - timedelta(minutes=31)
    slack_button(inbound_event("slack", "block_actions", button(alert.ref), received_at=old))
    deliver_all()
    assert calls_to(vendors, "https://hooks.slack.com/actions/") == []
    assert len(calls_to(vendors, SLACK_WEBHOOK)) == 2


def test_a_forged_response_url_is_never_called(organisation, channels, vendors, deliver_all, inbound_event):
    alert = raise_alert(organisation=organisation, title="x", severity="low").alert
    deliver_all()
    slack_button(inbound_event("slack", "block_actions", button(alert.ref, response_url="https://evil.example/x")))
    deliver_all()
    assert not [c for c in vendors.calls if "evil.example" in c.request.url]
    assert len(calls_to(vendors, SLACK_WEBHOOK)) == 2  # the update went out as a follow-up instead


def test_slack_button_for_another_tenants_alert_is_ignored(make_organisation, organisation, inbound_event):
    other = make_organisation(slug="bloom", name="Bloom")
    alert = raise_alert(organisation=other, title="theirs", severity="low").alert
    outcome = slack_button(inbound_event("slack", "block_actions", button(alert.ref), organisation=organisation))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.TRIGGERED and outcome == [f"unknown alert '{alert.ref}'"]


def _from_workspace(payload: dict, team: str) -> dict:
    return {**payload, "team": {"id": team, "domain": team.lower()}, "user": {**payload["user"], "team_id": team}}


def test_global_slack_path_acts_only_on_alerts_of_the_clicking_workspace(
    make_organisation, organisation, make_config, inbound_event
):
    """The platform Slack app signs every workspace's clicks with one secret, and anyone holding
    an incoming webhook of that app can post a button with any alert ref (refs are sequential):
    at the global path the clicking workspace must be one the alert's organisation posts to."""
    make_config("alerts", organisation, "slack", secrets={"webhook_url": SLACK_WEBHOOK})  # workspace T0001
    bloom = make_organisation(slug="bloom", name="Bloom")
    make_config(
        "alerts", bloom, "slack", secrets={"webhook_url": "https://hooks.slack.com/services/T0BL00M/B1/bloomsecret"}
    )
    theirs = raise_alert(organisation=bloom, title="theirs", severity="critical").alert
    forged = _from_workspace(
        button(theirs.ref, response_url="https://hooks.slack.com/actions/T0001/9/attacker"), "T0001"
    )
    outcome = slack_button(inbound_event("slack", "block_actions", forged, organisation=None))
    theirs.refresh_from_db()
    assert theirs.status == AlertStatus.TRIGGERED
    assert theirs.slack_response_url == ""  # their later updates never go to the other workspace
    assert outcome == [f"alert {theirs.ref!r} is not from this Slack workspace: ignored"]
    genuine = _from_workspace(button(theirs.ref), "T0BL00M")
    slack_button(inbound_event("slack", "block_actions", genuine, organisation=None))
    theirs.refresh_from_db()
    assert theirs.status == AlertStatus.ACKNOWLEDGED


def test_global_slack_path_accepts_a_workspace_claimed_on_the_inbound_slack_source(
    make_organisation, make_config, inbound_event
):
    bloom = make_organisation(slug="bloom", name="Bloom")
    make_config("webhooks", bloom, "slack", settings={"team_id": "T0BL00M"}, secrets={"signing_secret": "s" * 32})
    alert = raise_alert(organisation=bloom, title="x", severity="low").alert
    nameless = button(alert.ref)  # no team named at all: refused, never assumed
    assert slack_button(inbound_event("slack", "block_actions", nameless, organisation=None)) == [
        f"alert {alert.ref!r} is not from this Slack workspace: ignored"
    ]
    slack_button(inbound_event("slack", "block_actions", _from_workspace(nameless, "T0BL00M"), organisation=None))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED


def test_slack_resolve_button_and_unknown_values(organisation, inbound_event):
    alert = raise_alert(organisation=organisation, title="x", severity="low").alert
    assert slack_button(inbound_event("slack", "block_actions", button("al_999999"))) == ["unknown alert 'al_999999'"]
    slack_button(inbound_event("slack", "block_actions", button(alert.ref, "alert_resolve")))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and alert.resolved_via == "slack"


def test_pagerduty_falls_back_to_the_recorded_incident_id(organisation, inbound_event):
    alert = raise_alert(organisation=organisation, title="x", severity="critical").alert
    triggered = {
        "event": {
            "event_type": "incident.triggered",
            "data": {"id": "PINC42", "incident_key": alert.pagerduty_dedup_key},
        }
    }
    pagerduty_incident(inbound_event("pagerduty", "incident.triggered", triggered))
    acked = {
        "event": {"event_type": "incident.acknowledged", "agent": None, "data": {"id": "PINC42", "incident_key": None}}
    }
    pagerduty_incident(inbound_event("pagerduty", "incident.acknowledged", acked))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.acknowledged_by == "pagerduty:PagerDuty"


def test_pagerduty_key_of_another_scope_does_not_match(make_organisation, organisation, inbound_event):
    other = make_organisation(slug="bloom", name="Bloom")
    alert = raise_alert(organisation=other, title="x", severity="critical").alert
    forged = {"event": {"event_type": "incident.resolved", "data": {"incident_key": f"wedsync:acme:{alert.ref}"}}}
    assert pagerduty_incident(inbound_event("pagerduty", "incident.resolved", forged)) == "no matching alert"
    alert.refresh_from_db()
    assert alert.status == AlertStatus.TRIGGERED


def test_twilio_status_callbacks_only_move_forward(organisation, channels, vendors, deliver_all, inbound_event):
    alert = raise_alert(organisation=organisation, title="x", severity="high").alert
    deliver_all()
    sid = "SM" + "1" * 32
    for status in ("sent", "delivered", "sent", "queued"):  # out of order, as Twilio warns
        twilio_status(inbound_event("twilio", "message.status", {"MessageSid": sid, "MessageStatus": status}))
    delivery = Delivery.objects.get(alert=alert, channel="sms")
    assert delivery.vendor_status == "delivered"
    twilio_status(inbound_event("twilio", "message.status", {"MessageSid": "SMunknown", "MessageStatus": "failed"}))


def test_twilio_callback_on_another_tenants_endpoint_changes_nothing(
    make_organisation, organisation, channels, vendors, deliver_all, inbound_event
):
    raise_alert(organisation=organisation, title="x", severity="high")
    deliver_all()
    other = make_organisation(slug="bloom", name="Bloom")
    callback = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "failed", "ErrorCode": "30003"}
    outcome = twilio_status(inbound_event("twilio", "message.status", callback, organisation=other))
    delivery = Delivery.objects.get(channel="sms")
    assert outcome == f"no delivery with sid {'SM' + '1' * 32}"
    assert (delivery.vendor_status, delivery.vendor_error_code) == ("queued", "")


def test_twilio_failed_callback_records_the_error_code(organisation, channels, vendors, deliver_all, inbound_event):
    raise_alert(organisation=organisation, title="x", severity="high")
    deliver_all()
    sid = "SM" + "1" * 32
    twilio_status(
        inbound_event(
            "twilio", "message.status", {"MessageSid": sid, "MessageStatus": "undelivered", "ErrorCode": "30003"}
        )
    )
    delivery = Delivery.objects.get(channel="sms")
    assert (delivery.vendor_status, delivery.vendor_error_code) == ("undelivered", "30003")


def test_datadog_monitor_raises_then_recovers(organisation, inbound_event):
    trigger = {
        "id": "evt1",
        "title": "[Triggered] AI latency p95 > 5s",
        "alert_id": "12345",
        "alert_transition": "Triggered",
        "priority": "P2",
        "body": "p95 latency 7.2s",
    }
    datadog_alert(inbound_event("datadog", "alert", trigger))
    datadog_alert(inbound_event("datadog", "alert", {**trigger, "id": "evt2"}))
    alert = Alert.objects.get(source="datadog")
    assert (alert.severity, alert.dedup_key, alert.occurrence_count) == ("high", "datadog:12345", 2)
    assert alert.description == "p95 latency 7.2s" and alert.kind == "vendor_alert"
    datadog_alert(inbound_event("datadog", "alert", {**trigger, "id": "evt3", "alert_transition": "Recovered"}))
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_via, alert.resolved_by) == ("resolved", "auto", "datadog:monitor")


def test_newrelic_issue_raises_then_closes_for_the_platform(inbound_event):
    issue = {
        "issueId": "abc-1",
        "title": "AI error rate high",
        "priority": "CRITICAL",
        "state": "ACTIVATED",
        "issueUrl": "https://one.newrelic.com/issues/abc-1",
    }
    newrelic_alert(inbound_event("newrelic", "alert", issue, organisation=None))
    alert = Alert.objects.get(source="newrelic")
    assert alert.organisation is None and alert.severity == "critical"
    assert alert.details["link"] == "https://one.newrelic.com/issues/abc-1"
    newrelic_alert(inbound_event("newrelic", "alert", {**issue, "state": "CLOSED"}, organisation=None))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED
