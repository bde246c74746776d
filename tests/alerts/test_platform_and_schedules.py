"""Platform-wide alerts go out through the platform organisation's channels; the beat schedules
the alerts family depends on are installed by its data migration."""

import json

import pytest
from django_celery_beat.models import PeriodicTask

from alerts.lifecycle import raise_alert
from alerts.webhook_handlers import slack_button
from tests.alerts.conftest import SLACK_WEBHOOK, calls_to

pytestmark = pytest.mark.django_db


def test_platform_alert_uses_the_platform_organisations_channels_and_platform_weddings(
    make_organisation, make_channels, make_wedding, vendors, deliver_all, inbound_event
):
    from datetime import UTC, date, datetime

    from freezegun import freeze_time

    platform = make_organisation(slug="wedsync", name="WedSync")
    make_channels(platform, only={"slack"})
    for n in range(3):
        make_wedding(make_organisation(), date(2026, 6, 16), venue=f"Venue {n}")
    with freeze_time(datetime(2026, 6, 16, 9, 0, tzinfo=UTC)):
        alert = raise_alert(title="OpenAI outage", severity="medium").alert
        deliver_all()
    assert alert.organisation is None and alert.scope == "platform"
    assert alert.context["weddings_today"] == 3 and alert.context["vendor_types"] == ["photographer"]
    assert alert.effective_severity == "medium"  # own-wedding rule is per organisation, not platform
    body = json.loads(calls_to(vendors, SLACK_WEBHOOK)[0].request.body)
    assert "3 weddings today platform-wide" in body["text"]
    # the platform's Slack app may acknowledge platform alerts; another tenant's endpoint may not
    other = make_organisation(slug="bloom")
    slack_button(
        inbound_event(
            "slack", "block_actions", {"actions": [{"action_id": "alert_ack", "value": alert.ref}]}, organisation=other
        )
    )
    alert.refresh_from_db()
    assert alert.status == "triggered"
    slack_button(
        inbound_event(
            "slack",
            "block_actions",
            {"actions": [{"action_id": "alert_ack", "value": alert.ref}]},
            organisation=platform,
        )
    )
    alert.refresh_from_db()
    assert alert.status == "acknowledged" and alert.acknowledged_by == "slack:unknown"


def test_beat_schedules_are_installed_by_migration():
    tasks = {task.task: task for task in PeriodicTask.objects.filter(name__startswith="alerts:")}
    assert tasks["alerts.escalate_due"].interval.every == 10
    assert tasks["alerts.check_error_rates"].interval.every == 300
    drain = tasks["integrations.drain_family"]
    assert json.loads(drain.args) == ["alerts"] and drain.interval.every == 15
    assert all(task.enabled for task in tasks.values())
