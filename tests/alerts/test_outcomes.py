"""What acknowledging and resolving say about each channel: told, waiting in its queue and why,
not told and why, nothing to tell and why. Every sentence is checked against what was really
queued (the outbox) and then really sent (the vendors' recorded requests)."""

import json
from datetime import UTC, datetime, timedelta

import pytest

from alerts.lifecycle import acknowledge, raise_alert, resolve
from alerts.models import ActionSource, Alert
from alerts.outcomes import ChannelOutcome, Outcome
from tests.alerts.conftest import SLACK_WEBHOOK, calls_to
from wedsync_integrations.integrations.breaker import CircuitBreaker
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.registry import get_family

pytestmark = pytest.mark.django_db

TUESDAY = datetime(2026, 6, 16, 10, 0, tzinfo=UTC)  # 11:00 BST, outside the wedding-day window
PAGERDUTY = "https://events.pagerduty.com/v2/enqueue"


def by_channel(result) -> dict[str, tuple[str, str]]:
    return {outcome.channel: (outcome.outcome, outcome.reason) for outcome in result.channels}


def queued_items(alert: Alert, purpose: str) -> dict[str, str]:
    """The outbox items the change queued, by channel, with their state."""
    items = get_family("alerts").retry_model.objects.filter(dedupe_key__startswith=f"alert:{alert.pk}:{purpose}:")
    return {item.provider: item.state for item in items}


@pytest.fixture
def critical(organisation, channels, vendors, deliver_all) -> Alert:
    """A critical alert every channel was told of (the webhook subscribes to high and critical)."""
    alert = raise_alert(organisation=organisation, title="Payments AI down", severity="critical", at=TUESDAY).alert
    deliver_all()
    return alert


def test_each_channel_says_what_really_happened_and_the_told_ones_are_then_told(critical, vendors, deliver_all):
    result = acknowledge(critical.pk, by="admin:olivia", via=ActionSource.ADMIN)

    assert by_channel(result) == {
        "slack": (Outcome.TOLD, ""),
        "email": (Outcome.NOTHING_TO_TELL, "Email is not told of acknowledgements"),
        "sms": (Outcome.NOTHING_TO_TELL, "SMS is not told of acknowledgements"),
        "pagerduty": (Outcome.TOLD, ""),
        "webhook": (Outcome.TOLD, ""),
    }
    assert result.message == (
        "acknowledged by admin:olivia via Django admin. Slack told. "
        "Email: nothing to tell (Email is not told of acknowledgements). "
        "SMS: nothing to tell (SMS is not told of acknowledgements). PagerDuty told. Webhook told."
    )
    # the told ones have an item, the others none; and the vendors then hear it
    assert queued_items(critical, "acknowledge") == dict.fromkeys(["slack", "pagerduty", "webhook"], "pending")
    deliver_all()
    assert json.loads(calls_to(vendors, PAGERDUTY)[-1].request.body)["event_action"] == "acknowledge"
    assert json.loads(calls_to(vendors, SLACK_WEBHOOK)[-1].request.body)["text"].startswith("Acknowledged by")


def test_a_stopped_configuration_is_named_with_its_reason_and_its_item_waits(critical, vendors, deliver_all):
    config = get_family("alerts").config_model.objects.get(provider="pagerduty")
    config.stop("pagerduty: HTTP 401 from events.pagerduty.com: invalid routing key")

    result = acknowledge(critical.pk, by="admin:olivia", via=ActionSource.ADMIN)

    outcome, reason = by_channel(result)["pagerduty"]
    assert outcome == Outcome.WAITING
    assert reason.startswith("its configuration is stopped (pagerduty: HTTP 401 from events.pagerduty.com")
    assert "PagerDuty not told: its configuration is stopped (pagerduty: HTTP 401" in result.message
    assert by_channel(result)["slack"] == (Outcome.TOLD, "")
    deliver_all()
    assert [json.loads(c.request.body)["event_action"] for c in calls_to(vendors, PAGERDUTY)] == ["trigger"]
    assert queued_items(critical, "acknowledge")["pagerduty"] == RetryState.PENDING  # kept for the resume


def test_an_open_circuit_is_named_and_the_item_waits(critical):
    breaker = CircuitBreaker("alerts", critical.organisation_id, "slack")
    for _ in range(breaker.failure_threshold):
        breaker.record_failure()

    result = acknowledge(critical.pk, by="admin:olivia", via=ActionSource.ADMIN)

    outcome, reason = by_channel(result)["slack"]
    assert outcome == Outcome.WAITING and reason.startswith("its circuit is open after repeated failures")
    assert by_channel(result)["pagerduty"] == (Outcome.TOLD, "")


def test_an_earlier_item_backing_off_is_named(critical, vendors, deliver_all):
    vendors.replace("POST", SLACK_WEBHOOK, status=503, body="upstream trouble")
    earlier = raise_alert(organisation=critical.organisation, title="Gallery AI slow", severity="low", at=TUESDAY).alert
    deliver_all()  # Slack answers 503: that item backs off and holds the later ones back
    assert queued_items(earlier, "notify")["slack"] == RetryState.PENDING

    result = acknowledge(critical.pk, by="admin:olivia", via=ActionSource.ADMIN)

    outcome, reason = by_channel(result)["slack"]
    assert outcome == Outcome.WAITING
    assert reason.startswith("it is queued behind an earlier delivery that is retrying (next attempt at ")


def test_a_disabled_or_missing_configuration_is_not_told_and_says_so(critical):
    configs = get_family("alerts").config_model.objects
    configs.filter(provider="slack").update(enabled=False)
    configs.filter(provider="pagerduty").delete()

    result = acknowledge(critical.pk, by="admin:olivia", via=ActionSource.ADMIN)

    assert by_channel(result)["slack"] == (Outcome.NOT_TOLD, "its configuration is disabled")
    assert by_channel(result)["pagerduty"] == (Outcome.NOT_TOLD, "no PagerDuty configuration")
    assert "Slack not told: its configuration is disabled." in result.message
    assert set(queued_items(critical, "acknowledge")) == {"webhook"}
    assert all(o.needs_attention for o in result.channels if o.channel in ("slack", "pagerduty"))


def test_a_change_from_pagerduty_is_not_echoed_back_and_says_why(critical):
    result = acknowledge(critical.pk, by="pagerduty:Jane", via=ActionSource.PAGERDUTY)

    assert by_channel(result)["pagerduty"] == (
        Outcome.NOTHING_TO_TELL,
        "the acknowledgement came from PagerDuty",
    )
    assert "pagerduty" not in queued_items(critical, "acknowledge")


def test_a_channel_never_told_of_the_alert_has_nothing_to_tell(organisation, channels, vendors, deliver_all):
    # a low alert on a Tuesday goes to Slack only; the webhook subscribes to high and critical
    alert = raise_alert(organisation=organisation, title="Gallery AI slow", severity="low", at=TUESDAY).alert
    deliver_all()

    result = resolve(alert.pk, by="admin:olivia", via=ActionSource.ADMIN)

    assert by_channel(result)["webhook"] == (Outcome.NOTHING_TO_TELL, "it was never told of this alert")
    assert by_channel(result)["pagerduty"] == (Outcome.NOTHING_TO_TELL, "it was never told of this alert")
    assert by_channel(result)["email"] == (Outcome.NOTHING_TO_TELL, "Email is not told of resolutions")
    assert by_channel(result)["slack"] == (Outcome.TOLD, "")


def test_a_change_that_changes_nothing_reports_no_channel(critical):
    acknowledge(critical.pk, by="admin:olivia", via=ActionSource.ADMIN)
    again = acknowledge(critical.pk, by="slack:sam", via=ActionSource.SLACK)
    assert not again.changed and again.channels == [] and again.channels_summary == ""
    assert "changed nothing" in again.message


def test_the_audit_entry_keeps_what_each_channel_was_told_and_the_escalation_it_stopped(critical):
    due = Alert.objects.get(pk=critical.pk).next_escalation_at
    result = acknowledge(critical.pk, by="admin:olivia", via=ActionSource.ADMIN, at=TUESDAY + timedelta(minutes=2))

    entry = get_family("alerts").audit_model.objects.get(action="acknowledge")
    assert entry.changes["escalation_stopped"] == {"due_at": due.isoformat(), "level": 1}
    assert result.escalation_stopped == due
    told = [ChannelOutcome.from_dict(item, "acknowledge") for item in entry.changes["told"]]
    assert [o.sentence() for o in told] == [o.sentence() for o in result.channels]
