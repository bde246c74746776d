"""Issue 13, item 1: the dashboard's charts count what happened, in the hour or London day it
happened, and their numbers are on the page as a table too."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from alerts.models import Alert
from wedsync_integrations.console import trends
from wedsync_integrations.integrations.registry import get_family
from wedsync_integrations.integrations.states import RetryState, SyncOutcome
from wedsync_integrations.usage.models import UsageRollup

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 6, 16, 10, 30, tzinfo=UTC)  # Tuesday 11:30 BST


def row(chart, label: str) -> dict[str, float]:
    """One row of the chart's table: {series label: value}."""
    values = dict(chart.rows)[label]
    return {series.label: value for series, value in zip(chart.series, values, strict=True)}


def log(family: str, organisation, at: datetime, outcome: str = SyncOutcome.SUCCESS):
    get_family(family).sync_log_model.objects.create(organisation=organisation, provider="x", operation="send",
                                                     started_at=at, outcome=outcome)  # fmt: skip


def test_deliveries_per_hour_are_counted_per_family_in_the_london_hour(organisation):
    log("monitoring", organisation, NOW - timedelta(minutes=20))  # 11:10 BST
    log("monitoring", organisation, NOW - timedelta(minutes=25))
    log("alerts", organisation, NOW - timedelta(minutes=29))
    log("monitoring", organisation, NOW - timedelta(minutes=40), SyncOutcome.FAILED)  # 10:50 BST
    log("accounting", organisation, NOW - timedelta(minutes=40), SyncOutcome.RETRYING)
    log("monitoring", organisation, NOW - timedelta(minutes=40), SyncOutcome.SKIPPED)  # neither
    log("monitoring", organisation, NOW - timedelta(hours=49))  # outside the 48 hours

    succeeded, failed = trends.deliveries_per_hour(NOW)

    assert len(succeeded.labels) == 48 and succeeded.labels[-1] == "11:00"
    assert row(succeeded, "11:00")["Monitoring"] == 2 and row(succeeded, "11:00")["Alerts"] == 1
    assert row(failed, "10:00")["Monitoring"] == 1 and row(failed, "10:00")["Accounting"] == 1
    assert sum(sum(series.values) for series in succeeded.series) == 3
    assert "Webhooks" not in [series.label for series in succeeded.series]  # inbound only: nothing to deliver


def test_the_retry_queue_depth_counts_what_waited_at_the_end_of_each_hour(organisation):
    items = get_family("crm").retry_model.objects
    base = dict(organisation=organisation, provider="tave", operation="push", payload={})
    # waited from 08:05 to 10:10 UTC, then delivered
    items.create(**base, created_at=NOW - timedelta(minutes=145), state=RetryState.SUCCEEDED,
                 succeeded_at=NOW - timedelta(minutes=20))  # fmt: skip
    # waited from 08:01 UTC, given up on at 09:30 UTC
    items.create(**base, created_at=NOW - timedelta(minutes=149), state=RetryState.DEAD,
                 last_attempt_at=NOW - timedelta(minutes=60))  # fmt: skip
    # still waiting, since 09:45 UTC
    items.create(**base, created_at=NOW - timedelta(minutes=45), state=RetryState.PENDING)

    depth = trends.retry_queue_depth(NOW)

    crm = {label: values[[s.label for s in depth.series].index("CRM")] for label, values in depth.rows}
    # hours are labelled in London time and measured at their end: "09:00" (BST) is 08:00-09:00 UTC
    assert crm["08:00"] == 0  # ends 08:00 UTC, before any
    assert crm["09:00"] == 2  # ends 09:00 UTC: the delivered one and the dead one were waiting
    assert crm["10:00"] == 2  # ends 10:00 UTC: the dead one gave up at 09:30, the pending one came
    assert crm["11:00"] == 1  # now (10:30 UTC): the first was delivered at 10:10


def test_webhook_intake_per_source_and_the_rejections(organisation):
    from webhooks.models import InboundEvent, RejectedAttempt

    for n, source in enumerate(["pagerduty", "pagerduty", "slack"]):
        InboundEvent.objects.create(
            source=source,
            organisation=organisation,
            event_type="e",
            external_id=str(n),
            dedupe_key=str(n) * 64,
            payload={},
            received_at=NOW - timedelta(minutes=5),
        )
    for _ in range(3):
        RejectedAttempt.objects.create(source="slack", reason="bad_signature", at=NOW - timedelta(minutes=70))

    chart = trends.webhook_intake(NOW)

    now_row, before = row(chart, "11:00"), row(chart, "10:00")
    assert now_row["PagerDuty"] == 2 and now_row["Slack"] == 1
    assert before["rejected (signature, replay, size…)"] == 3 and now_row["rejected (signature, replay, size…)"] == 0


def test_alerts_per_london_day_with_the_median_minutes_to_acknowledge(organisation):
    def alert(raised_at, severity="high", acknowledged_after=None, is_test=False):
        Alert.objects.create(
            organisation=organisation,
            title="t",
            severity=severity,
            effective_severity=severity,
            dedup_key=f"k{Alert.objects.count()}",
            raised_at=raised_at,
            is_test=is_test,
            acknowledged_at=raised_at + acknowledged_after if acknowledged_after else None,
        )

    alert(NOW - timedelta(hours=2), "critical", timedelta(minutes=4))
    alert(NOW - timedelta(hours=3), "high", timedelta(minutes=10))
    alert(NOW - timedelta(hours=4), "high", timedelta(minutes=30))
    alert(NOW - timedelta(hours=5), "low")  # never acknowledged: not in the median
    alert(NOW - timedelta(hours=2), "critical", timedelta(minutes=1), is_test=True)  # a test: left out
    alert(datetime(2026, 6, 14, 23, 30, tzinfo=UTC), "medium")  # 00:30 BST on Monday 15 June

    chart = trends.alerts_per_day(NOW)

    today = row(chart, "Tue 16 Jun")
    assert (today["Critical raised"], today["High raised"], today["Low raised"]) == (1, 2, 1)
    assert today["median minutes to acknowledge"] == 10
    assert row(chart, "Mon 15 Jun")["Medium raised"] == 1 and row(chart, "Sun 14 Jun")["Medium raised"] == 0


def test_ai_requests_and_cost_per_london_day_for_the_platform_and_one_organisation(organisation, make_organisation):
    other = make_organisation(name="Bloom Florists")

    def rollup(org, hour, requests, cost):
        UsageRollup.objects.create(organisation=org, hour=hour, feature="chat", provider="openai", model="gpt",
                                   requests=requests, errors=0, prompt_tokens=0, completion_tokens=0,
                                   cost_usd=Decimal(cost), cost_gbp=Decimal(cost), latency_sum_ms=0,
                                   latency_max_ms=0, latency_p50_ms=0, latency_p95_ms=0, weddings_assisted=0,
                                   wedding_requests=0)  # fmt: skip

    rollup(organisation, datetime(2026, 6, 15, 23, 0, tzinfo=UTC), 10, "1.234")  # 00:00 BST Tuesday
    rollup(organisation, datetime(2026, 6, 15, 22, 0, tzinfo=UTC), 5, "0.50")  # 23:00 BST Monday
    rollup(other, datetime(2026, 6, 16, 9, 0, tzinfo=UTC), 7, "2.00")

    platform = trends.ai_usage_per_day(now=NOW)
    acme = trends.ai_usage_per_day(organisation, now=NOW)

    assert row(platform, "Tue 16 Jun") == {"requests": 17, "cost (GBP)": 3.23}
    assert row(platform, "Mon 15 Jun") == {"requests": 5, "cost (GBP)": 0.5}
    assert row(acme, "Tue 16 Jun") == {"requests": 10, "cost (GBP)": 1.23}
    assert len(acme.labels) == 30


def test_the_charts_come_from_the_cache_until_it_expires(organisation, django_assert_num_queries, settings):
    # real time throughout: the cache (Redis in CI's second pass) expires by its own clock
    settings.CONSOLE_TRENDS_CACHE_SECONDS = 1
    first = trends.dashboard_charts()
    log("monitoring", organisation, datetime.now(UTC))
    with django_assert_num_queries(0):
        again = trends.dashboard_charts()
    assert [chart.key for chart in again] == [chart.key for chart in first]
    assert again[0].is_empty  # the new log waits for the next computation
    time.sleep(1.1)
    assert not trends.dashboard_charts()[0].is_empty


def test_every_chart_is_on_the_dashboard_with_its_numbers_table(admin_client, organisation):
    log("monitoring", organisation, datetime.now(UTC))
    page = admin_client.get("/admin/console/").content.decode()
    for key in ("deliveries-succeeded", "deliveries-failed", "retry-queue", "webhook-intake", "alerts", "ai-usage"):
        assert f'id="chart-{key}"' in page
    assert 'id="chart-data-deliveries-succeeded"' in page and "<summary>Numbers</summary>" in page
    assert "chart-4.6.2.umd.min.js" in page
