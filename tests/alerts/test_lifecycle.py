"""Deduplication and repeat interval; escalation timing, repetition and its stop on
acknowledgement; convergence of acknowledgements from admin, Slack and PagerDuty."""

import json
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import pytest
from freezegun import freeze_time

from alerts.lifecycle import AlertInputError, acknowledge, escalate_due, raise_alert, resolve
from alerts.models import ActionSource, Alert, AlertStatus, Delivery, DeliveryStatus
from alerts.webhook_handlers import pagerduty_incident, slack_button
from tests.alerts.conftest import SLACK_WEBHOOK, WEBHOOK_URL, calls_to
from wedsync_integrations.integrations.registry import get_family

pytestmark = pytest.mark.django_db

TUESDAY = datetime(2026, 6, 16, 10, 0, tzinfo=UTC)  # 11:00 BST
SATURDAY = datetime(2026, 6, 13, 10, 0, tzinfo=UTC)


def sms_bodies(vendors):
    return [parse_qs(c.request.body)["Body"][0] for c in calls_to(vendors, "https://api.twilio.com/")]


# -- deduplication ---------------------------------------------------------------------------------------
def test_same_key_while_open_counts_occurrences_and_repeats_only_after_the_interval(
    organisation, channels, vendors, deliver_all
):
    with freeze_time(TUESDAY):
        first = raise_alert(organisation=organisation, title="AI slow", severity="low", dedup_key="ai-slow")
        deliver_all()
    with freeze_time(TUESDAY + timedelta(minutes=10)):
        second = raise_alert(organisation=organisation, title="AI slow", severity="low", dedup_key="ai-slow")
        deliver_all()
    assert second.alert.pk == first.alert.pk and not second.created and not second.notified
    assert len(calls_to(vendors, SLACK_WEBHOOK)) == 1
    with freeze_time(TUESDAY + timedelta(minutes=61)):
        third = raise_alert(organisation=organisation, title="AI slow", severity="low", dedup_key="ai-slow")
        deliver_all()
    assert third.notified
    alert = Alert.objects.get()
    assert alert.occurrence_count == 3
    slack = calls_to(vendors, SLACK_WEBHOOK)
    assert len(slack) == 2
    assert json.loads(slack[1].request.body)["blocks"][0]["text"]["text"] == "Still firing: LOW: AI slow"


def test_a_resolved_key_opens_a_new_alert(organisation, channels, vendors, deliver_all):
    first = raise_alert(organisation=organisation, title="AI slow", severity="low", dedup_key="k").alert
    resolve(first.pk, by="system", via=ActionSource.AUTO)
    second = raise_alert(organisation=organisation, title="AI slow", severity="low", dedup_key="k")
    assert second.created and second.alert.pk != first.pk


def test_the_same_key_at_a_higher_severity_gets_worse_reroutes_and_notifies_at_once(
    organisation, channels, vendors, deliver_all
):
    with freeze_time(TUESDAY):
        raise_alert(organisation=organisation, title="AI errors", severity="medium", dedup_key="ai-errors")
        deliver_all()
    assert calls_to(vendors, "https://events.pagerduty.com/") == []  # medium: Slack and email only
    with freeze_time(TUESDAY + timedelta(minutes=3)):  # well inside the hour's repeat interval
        worse = raise_alert(organisation=organisation, title="AI errors", severity="critical", dedup_key="ai-errors")
        deliver_all()
    alert = Alert.objects.get()
    assert worse.notified and not worse.created and worse.alert.pk == alert.pk
    assert (alert.severity, alert.effective_severity, alert.occurrence_count) == ("critical", "critical", 2)
    assert alert.routing["reasons"][0] == "got worse on occurrence 2: medium → critical"
    assert alert.next_escalation_at == TUESDAY + timedelta(minutes=3 + 15)  # now it escalates (weekday delay)
    # on-call hears it got worse on every channel a critical alert reaches, PagerDuty included
    slack = calls_to(vendors, SLACK_WEBHOOK)
    assert json.loads(slack[-1].request.body)["blocks"][0]["text"]["text"] == "Worse: CRITICAL: AI errors"
    assert sms_bodies(vendors)[-1].startswith("WORSE WedSync CRITICAL ")
    pd = [json.loads(c.request.body) for c in calls_to(vendors, "https://events.pagerduty.com/")]
    assert [(e["event_action"], e["payload"]["severity"]) for e in pd] == [("trigger", "critical")]
    hooks = [json.loads(c.request.body) for c in calls_to(vendors, WEBHOOK_URL)]
    assert hooks[-1]["type"] == "alert.severity_raised" and hooks[-1]["data"]["severity"] == "critical"
    entry = get_family("alerts").audit_model.objects.get(action="severity_raised")
    assert entry.changes["severity"] == ["medium", "critical"]
    # PagerDuty was first told when it got worse: acknowledging still reaches it
    acknowledge(alert.pk, by="admin:alice", via=ActionSource.ADMIN)
    deliver_all()
    pd = [json.loads(c.request.body) for c in calls_to(vendors, "https://events.pagerduty.com/")]
    assert (pd[-1]["event_action"], pd[-1]["dedup_key"]) == ("acknowledge", alert.pagerduty_dedup_key)


def test_a_lower_or_equal_severity_never_makes_an_open_alert_better(organisation, channels, vendors, deliver_all):
    with freeze_time(TUESDAY):
        raise_alert(organisation=organisation, title="AI errors", severity="high", dedup_key="ai-errors")
        again = raise_alert(organisation=organisation, title="AI errors", severity="low", dedup_key="ai-errors")
    alert = Alert.objects.get()
    assert not again.notified and (alert.severity, alert.occurrence_count) == ("high", 2)


def test_an_acknowledged_alert_that_gets_worse_is_rerouted_but_not_re_paged(
    organisation, channels, vendors, deliver_all
):
    with freeze_time(TUESDAY):
        alert = raise_alert(organisation=organisation, title="AI errors", severity="high", dedup_key="k").alert
        deliver_all()
        acknowledge(alert.pk, by="admin:alice", via=ActionSource.ADMIN)
        deliver_all()
        slack_before = len(calls_to(vendors, SLACK_WEBHOOK))
        worse = raise_alert(organisation=organisation, title="AI errors", severity="critical", dedup_key="k")
        deliver_all()
    alert.refresh_from_db()
    assert not worse.notified and alert.status == AlertStatus.ACKNOWLEDGED and alert.severity == "critical"
    assert alert.next_escalation_at is None
    assert len(calls_to(vendors, SLACK_WEBHOOK)) == slack_before


def test_same_key_in_two_organisations_is_two_alerts(make_organisation, organisation):
    other = make_organisation(slug="bloom", name="Bloom Florists")
    a = raise_alert(organisation=organisation, title="t", severity="low", dedup_key="k").alert
    b = raise_alert(organisation=other, title="t", severity="low", dedup_key="k").alert
    platform = raise_alert(title="t", severity="low", dedup_key="k").alert
    assert len({a.pk, b.pk, platform.pk}) == 3


def test_bad_input_is_refused_and_nothing_is_stored(organisation):
    with pytest.raises(AlertInputError, match="unknown severity 'urgent'"):
        raise_alert(organisation=organisation, title="t", severity="urgent")
    with pytest.raises(AlertInputError, match="needs a title"):
        raise_alert(organisation=organisation, title="   ", severity="low")
    assert not Alert.objects.exists()


# -- escalation --------------------------------------------------------------------------------------------
def test_escalation_waits_15_minutes_on_a_weekday_and_5_in_the_wedding_window(organisation, channels, vendors):
    with freeze_time(TUESDAY):
        weekday = raise_alert(organisation=organisation, title="a", severity="high").alert
    with freeze_time(SATURDAY):
        saturday = raise_alert(organisation=organisation, title="b", severity="high").alert
    assert weekday.next_escalation_at == TUESDAY + timedelta(minutes=15)
    assert saturday.next_escalation_at == SATURDAY + timedelta(minutes=5)
    low = raise_alert(organisation=organisation, title="c", severity="low", at=TUESDAY).alert
    assert low.next_escalation_at is None  # only high and critical alerts escalate


def test_escalation_repeats_to_management_until_acknowledged(organisation, channels, vendors, deliver_all):
    with freeze_time(SATURDAY) as clock:
        alert = raise_alert(organisation=organisation, title="Payments AI down", severity="critical").alert
        deliver_all()
        clock.move_to(SATURDAY + timedelta(minutes=4, seconds=59))
        assert escalate_due() == 0
        for step in (1, 2, 3):
            clock.move_to(SATURDAY + timedelta(minutes=5 * step, seconds=1))
            assert escalate_due() == 1
            deliver_all()
        alert.refresh_from_db()
        assert alert.escalation_level == 3
        to_numbers = [parse_qs(c.request.body)["To"][0] for c in calls_to(vendors, "https://api.twilio.com/")]
        assert to_numbers == ["+447700900123", "+447700900999", "+447700900999", "+447700900999"]
        assert all(body.startswith("ESCALATED") for body in sms_bodies(vendors)[1:])
        clock.move_to(SATURDAY + timedelta(minutes=16))
        acknowledge(alert.pk, by="admin:alice", via=ActionSource.ADMIN)
        clock.move_to(SATURDAY + timedelta(hours=2))
        assert escalate_due() == 0
    alert.refresh_from_db()
    assert alert.next_escalation_at is None and alert.escalation_level == 3
    assert get_family("alerts").audit_model.objects.filter(action="escalate").count() == 3


def test_acknowledgement_stops_an_escalation_already_queued(organisation, channels, vendors, deliver_all):
    with freeze_time(SATURDAY) as clock:
        alert = raise_alert(organisation=organisation, title="x", severity="critical").alert
        deliver_all()
        clock.move_to(SATURDAY + timedelta(minutes=5, seconds=1))
        escalate_due()  # queued, not yet sent (say the SMS worker is busy)...
        acknowledge(alert.pk, by="slack:U1", via=ActionSource.SLACK)  # ...when someone acknowledges
        deliver_all()
    escalations = Delivery.objects.filter(alert=alert, purpose="escalate")
    assert escalations.exists()
    assert set(escalations.values_list("status", flat=True)) == {DeliveryStatus.SKIPPED}
    assert len(calls_to(vendors, "https://api.twilio.com/")) == 1  # only the first page


# -- acknowledgement from three places ----------------------------------------------------------------------
def slack_payload(alert, action_id="alert_ack", response_url="https://hooks.slack.com/actions/T1/1/abc"):
    return {
        "type": "block_actions",
        "user": {"id": "U2CERLKJA", "username": "roadrunner", "team_id": "T1"},
        "response_url": response_url,
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": f"{alert.ref}:v1:notify:actions",
                "value": alert.ref,
                "action_ts": "1531420618.1",
            }
        ],
    }


def pagerduty_payload(alert, event_type="incident.acknowledged"):
    return {
        "event": {
            "id": "01DEMO",
            "event_type": event_type,
            "resource_type": "incident",
            "occurred_at": "2026-06-13T14:05:00.000Z",
            "agent": {"id": "PUSER1", "summary": "Jane Planner", "type": "user_reference"},
            "data": {
                "id": "PDEMO01",
                "type": "incident",
                "status": "acknowledged",
                "incident_key": alert.pagerduty_dedup_key,
            },
        }
    }


@pytest.mark.parametrize("first", ["admin", "slack", "pagerduty"])
def test_acknowledgements_from_all_three_places_converge_idempotently(
    first, organisation, channels, vendors, deliver_all, inbound_event
):
    vendors.post("https://hooks.slack.com/actions/T1/1/abc", json={"ok": True})
    at = SATURDAY + timedelta(minutes=2)
    with freeze_time(SATURDAY):
        alert = raise_alert(organisation=organisation, title="x", severity="critical").alert
        deliver_all()
    places = {
        "admin": lambda: acknowledge(alert.pk, by="admin:alice", via=ActionSource.ADMIN, at=at),
        "slack": lambda: slack_button(inbound_event("slack", "block_actions", slack_payload(alert), received_at=at)),
        "pagerduty": lambda: pagerduty_incident(
            inbound_event("pagerduty", "incident.acknowledged", pagerduty_payload(alert), received_at=at)
        ),
    }
    order = [first, *[p for p in places if p != first]]
    with freeze_time(at):
        for place in order + order:  # every place, twice
            places[place]()
        deliver_all()
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED
    assert alert.acknowledged_via == first and alert.next_escalation_at is None
    # escalation has stopped: long past its 5-minute Saturday delay, management is never paged
    with freeze_time(SATURDAY + timedelta(hours=1)):
        assert escalate_due() == 0
        deliver_all()
    assert "+447700900999" not in [
        parse_qs(c.request.body)["To"][0] for c in calls_to(vendors, "https://api.twilio.com/")
    ]
    assert not Delivery.objects.filter(alert=alert, purpose="escalate").exists()
    audit = get_family("alerts").audit_model.objects.filter(target_id=str(alert.pk))
    assert audit.filter(action="acknowledge").count() == 1
    assert audit.filter(action="acknowledge_ignored").count() == 5
    # the vendors heard about it exactly once: PagerDuty (unless it told us) and Slack
    pd_acks = [
        c
        for c in calls_to(vendors, "https://events.pagerduty.com/")
        if json.loads(c.request.body)["event_action"] == "acknowledge"
    ]
    assert len(pd_acks) == (0 if first == "pagerduty" else 1)
    slack_updates = calls_to(vendors, "https://hooks.slack.com/actions/") + calls_to(vendors, SLACK_WEBHOOK)[1:]
    assert len(slack_updates) == 1


def test_resolve_after_acknowledge_from_different_places(organisation, channels, vendors, deliver_all, inbound_event):
    with freeze_time(SATURDAY):
        alert = raise_alert(organisation=organisation, title="x", severity="critical").alert
        deliver_all()
    acknowledge(alert.pk, by="admin:alice", via=ActionSource.ADMIN, at=SATURDAY + timedelta(minutes=1))
    pagerduty_incident(inbound_event("pagerduty", "incident.resolved", pagerduty_payload(alert, "incident.resolved")))
    alert.refresh_from_db()
    assert (alert.status, alert.resolved_by, alert.resolved_via) == ("resolved", "pagerduty:Jane Planner", "pagerduty")
    assert alert.acknowledged_by == "admin:alice" and alert.open_key is None
    assert alert.pagerduty_incident_id == "PDEMO01"
    result = acknowledge(alert.pk, by="admin:bob", via=ActionSource.ADMIN)
    assert not result.changed and "already resolved" in result.message


def test_escalation_delay_shortens_once_the_wedding_window_opens_across_the_clock_change(
    organisation, channels, vendors, deliver_all
):
    # Friday 23 October 2026, BST: 17:50 local is 16:50 UTC. Raised outside the window, the first
    # step waits 15 minutes (18:05 BST); from then on the window is open and steps are 5 minutes.
    raised = datetime(2026, 10, 23, 16, 50, tzinfo=UTC)
    with freeze_time(raised) as clock:
        alert = raise_alert(organisation=organisation, title="x", severity="high").alert
        assert alert.next_escalation_at == raised + timedelta(minutes=15)
        clock.move_to(alert.next_escalation_at)
        assert escalate_due() == 1
        alert.refresh_from_db()
        assert alert.next_escalation_at == raised + timedelta(minutes=20)
    # Sunday 25 October, after the clocks went back: 22:58 GMT is still inside the window...
    sunday = datetime(2026, 10, 25, 22, 58, tzinfo=UTC)
    Alert.objects.filter(pk=alert.pk).update(next_escalation_at=sunday)
    with freeze_time(sunday):
        escalate_due()
    alert.refresh_from_db()
    assert alert.next_escalation_at == sunday + timedelta(minutes=5)
    # ...and at 23:00 GMT it has closed: back to 15 minutes
    sunday_late = datetime(2026, 10, 25, 23, 3, tzinfo=UTC)
    with freeze_time(sunday_late):
        escalate_due()
    alert.refresh_from_db()
    assert alert.next_escalation_at == sunday_late + timedelta(minutes=15)
