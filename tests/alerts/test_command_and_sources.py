"""`manage.py alerts test`, error-rate alerts from usage rollups (lower thresholds in peak
season and on wedding days), and alerts raised by other families' failing integrations."""

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from freezegun import freeze_time

from alerts.models import Alert, AlertStatus
from alerts.monitors import check_error_rates, error_rate_threshold
from wedsync_integrations.integrations import signals
from wedsync_integrations.integrations.registry import get_family
from wedsync_integrations.usage.models import UsageRollup

pytestmark = pytest.mark.django_db


# -- manage.py alerts test ---------------------------------------------------------------------------
def test_alerts_test_command_delivers_in_process_and_prints_each_outcome(organisation, channels, vendors, mailoutbox):
    out = StringIO()
    with freeze_time("2026-06-16 10:00:00"):  # a Tuesday: critical stays critical
        call_command("alerts", "test", "--org", "acme", "--severity", "critical", stdout=out)
    text = out.getvalue()
    alert = Alert.objects.get()
    assert alert.is_test and alert.next_escalation_at is None  # a test never pages management
    assert f"{alert.ref} for acme: severity critical → critical; routed to slack, email, sms, pagerduty" in text
    for channel in ("slack", "email", "sms", "pagerduty", "webhook"):
        assert f"  {channel:<10} sent" in text
    assert "SM" + "1" * 32 in text  # Twilio's SID
    assert len(mailoutbox) == 1


def test_alerts_test_command_reports_a_failing_channel(organisation, channels, vendors):
    import responses

    vendors.replace(
        responses.POST,
        "https://events.pagerduty.com/v2/enqueue",
        status=400,
        json={"status": "invalid event", "message": "Event object is invalid", "errors": ["bad"]},
    )
    out = StringIO()
    with pytest.raises(CommandError, match="1 channel"):
        call_command("alerts", "test", "--org", "acme", "--severity", "critical", stdout=out)
    assert "pagerduty  dead" in out.getvalue() and "HTTP 400" in out.getvalue()


def test_alerts_test_command_refuses_unknown_organisation(db):
    with pytest.raises(CommandError, match="no organisation with slug 'nope'"):
        call_command("alerts", "test", "--org", "nope", "--severity", "low")


def test_alerts_test_command_names_unconfigured_channels(organisation, make_channels, vendors):
    make_channels(organisation, only={"slack"})
    out = StringIO()
    call_command("alerts", "test", "--org", "acme", "--severity", "medium", stdout=out)
    assert "email      not configured for this organisation" in out.getvalue()


def test_alerts_test_command_says_why_a_configured_channel_was_not_attempted(organisation, channels, vendors):
    import responses

    from alerts.models import AlertConfig
    from wedsync_integrations.integrations.models import ConfigStatus

    AlertConfig.objects.filter(provider="pagerduty").update(
        status=ConfigStatus.STOPPED, status_reason="pagerduty: HTTP 403 from events.pagerduty.com"
    )
    vendors.replace(
        responses.POST, "https://hooks.slack.com/services/T0001/B0001/sEcReTsLaCkToKeN0123456789", status=503
    )
    out = StringIO()
    with freeze_time("2026-06-16 10:00:00") as clock:  # a Tuesday
        with pytest.raises(CommandError, match="1 channel"):  # Slack answers 503: now backing off
            call_command("alerts", "test", "--org", "acme", "--severity", "low", stdout=StringIO())
        clock.tick(1)
        with pytest.raises(CommandError, match="2 channel"):
            call_command("alerts", "test", "--org", "acme", "--severity", "critical", stdout=out)
    text = out.getvalue()
    assert "pagerduty  not attempted: its configuration is stopped (pagerduty: HTTP 403" in text
    assert "slack      not attempted: it is queued behind an earlier delivery that is retrying (next attempt at" in text
    assert "sEcReTsLaCkToKeN" not in text


# -- error rate ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("instant", "threshold"),
    [
        (datetime(2026, 1, 13, 12, tzinfo=UTC), 0.10),  # Tuesday, off season
        (datetime(2026, 6, 16, 12, tzinfo=UTC), 0.05),  # Tuesday, peak season
        (datetime(2026, 6, 13, 12, tzinfo=UTC), 0.02),  # Saturday, peak season
        (datetime(2026, 1, 10, 12, tzinfo=UTC), 0.02),  # Saturday, off season
    ],
)
def test_error_rate_threshold_is_lower_in_peak_season_and_on_wedding_days(instant, threshold):
    assert error_rate_threshold(instant)[0] == threshold


def rollup(organisation, hour, requests, errors):
    return UsageRollup.objects.create(
        organisation=organisation,
        hour=hour,
        feature="timeline",
        provider="openai",
        model="gpt-4o",
        requests=requests,
        errors=errors,
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=Decimal("0"),
        cost_gbp=Decimal("0"),
        latency_sum_ms=0,
        latency_max_ms=0,
        latency_p50_ms=0,
        latency_p95_ms=0,
        weddings_assisted=0,
        wedding_requests=0,
    )


def test_the_same_error_rate_alerts_on_saturday_but_not_on_tuesday(organisation, make_organisation):
    quiet = make_organisation(slug="quiet")
    tuesday, saturday = datetime(2026, 6, 16, 12, 30, tzinfo=UTC), datetime(2026, 6, 13, 12, 30, tzinfo=UTC)
    for day in (tuesday, saturday):
        rollup(organisation, day.replace(minute=0), requests=200, errors=6)  # 3 %
        rollup(quiet, day.replace(minute=0), requests=5, errors=5)  # too few requests to mean anything
    assert check_error_rates(tuesday)["raised"] == 0
    result = check_error_rates(saturday)
    assert result == {"threshold": 0.02, "raised": 1, "resolved": 0}
    alert = Alert.objects.get()
    assert alert.organisation == organisation and alert.kind == "error_rate"
    assert alert.details == {"error_rate": 0.03, "threshold": 0.02, "requests": 200, "errors": 6}
    assert alert.severity == "medium" and alert.effective_severity == "high"  # Saturday raises it


def test_error_rate_alert_auto_resolves_when_the_rate_recovers(organisation):
    at = datetime(2026, 1, 13, 12, 30, tzinfo=UTC)
    row = rollup(organisation, at.replace(minute=0), requests=100, errors=30)
    check_error_rates(at)
    alert = Alert.objects.get()
    assert alert.severity == "high"  # 30 % is over twice the 10 % threshold
    UsageRollup.objects.filter(pk=row.pk).update(errors=2)
    assert check_error_rates(at)["resolved"] == 1
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED and alert.resolved_via == "auto"


# -- other families' integrations ----------------------------------------------------------------------
def test_a_stopped_integration_raises_a_high_alert(organisation, make_config):
    monitoring = get_family("monitoring")
    config = make_config("alerts", organisation, "email", settings={"recipients": ["a@b.example"]})
    config.provider = "datadog"  # stand-in for a monitoring config: only its names are read
    signals.config_stopped.send(sender=monitoring, config=config, reason="HTTP 403 from api.datadoghq.eu")
    alert = Alert.objects.get()
    assert alert.severity == "high" and alert.kind == "config_stopped"
    assert alert.dedup_key == "integration:monitoring:datadog:stopped"
    assert "HTTP 403" in alert.description
    assert alert.details == {"family": "monitoring", "provider": "datadog", "component": "monitoring.datadog"}
    assert alert.source == "integrations" and alert.routing["excluded_channels"] == []


def test_repeated_failures_raise_once_per_item_threshold(organisation):
    monitoring = get_family("monitoring")
    item = monitoring.retry_model.objects.create(
        organisation=organisation, provider="datadog", operation="series", payload={}
    )
    for attempts in (1, 2, 3, 4):
        signals.delivery_failed.send(sender=monitoring, item=item, error="HTTP 503", attempts=attempts)
    alert = Alert.objects.get()
    assert alert.severity == "medium" and alert.occurrence_count == 1
    signals.delivery_dead.send(sender=monitoring, item=item, error="gave up after 10 attempts")
    assert alert.details == {
        "family": "monitoring",
        "provider": "datadog",
        "component": "monitoring.datadog",
        "attempts": 3,
    }
    dead = Alert.objects.get(kind="delivery_dead")
    assert dead.severity == "high" and dead.routing["excluded_channels"] == []
    assert dead.dedup_key == "integration:monitoring:datadog:dead" and dead.details["item"] == item.pk
