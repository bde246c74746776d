"""The acceptance test: one beat cycle against the sandbox matches each vendor's contract, and an
outage (5xx, 429 + Retry-After, timeout) is survived with no hour lost or counted twice."""

from collections import Counter
from datetime import timedelta

import pytest
import responses
from freezegun import freeze_time

from monitoring.models import MonitoringCursor
from monitoring.sync import sync_monitoring
from wedsync_integrations.celery import app as celery_app
from wedsync_integrations.integrations import outbox, tasks
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.registry import get_family
from wedsync_integrations.usage.models import RollupDirtyHour

from .conftest import DD_KEY, HOUR, NOW, NR_KEY, utc

pytestmark = pytest.mark.django_db
family = get_family("monitoring")


@pytest.fixture
def eager_celery():
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def vendors(sandbox, datadog_config, newrelic_config, prometheus_config):
    return {
        "datadog": datadog_config(base_url=sandbox.vendor_url("datadog")),
        "newrelic": newrelic_config(base_url=sandbox.vendor_url("newrelic")),
        "prometheus": prometheus_config(pushgateway_url=sandbox.vendor_url("pushgateway")),
    }


def delivered(sandbox, prefix):
    """Bodies the vendor accepted (faulted requests never reached it)."""
    return [r.json() for r in sandbox.requests(prefix) if r.fault is None]


def datadog_requests_per_hour(sandbox) -> Counter:
    counted = Counter()
    for body in delivered(sandbox, "/datadog/api/v2/series"):
        for series in body["series"]:
            if series["metric"] == "wedsync.ai.requests":
                counted[series["points"][0]["timestamp"]] += series["points"][0]["value"]
    return counted


def newrelic_requests_per_hour(sandbox) -> Counter:
    counted = Counter()
    for body in delivered(sandbox, "/newrelic/metric/v1"):
        for block in body:
            for metric in block["metrics"]:
                if metric["name"] == "wedsync.ai.requests":
                    counted[block["common"]["timestamp"]] += metric["value"]
    return counted


def test_one_beat_cycle_reaches_every_vendor_by_contract(sandbox, vendors, organisation, make_rollup, eager_celery):
    make_rollup(organisation, HOUR)
    with freeze_time(NOW):
        assert tasks.sync_family("monitoring") == 3

    (dd,) = sandbox.requests("/datadog")
    assert (dd.method, dd.path) == ("POST", "/datadog/api/v2/series")
    assert dd.headers["DD-API-KEY"] == DD_KEY and dd.headers["Content-Encoding"] == "gzip"
    assert dd.body[:2] == b"\x1f\x8b"  # really gzip on the wire
    assert {s["metric"] for s in dd.json()["series"]} >= {"wedsync.ai.requests", "wedsync.ai.response_time.p95"}

    (nr,) = sandbox.requests("/newrelic")
    assert (nr.method, nr.path) == ("POST", "/newrelic/metric/v1")
    assert nr.headers["Api-Key"] == NR_KEY and nr.headers["Content-Encoding"] == "GZIP"
    assert int(nr.headers["Content-Length"]) == len(nr.body)
    assert nr.json()[0]["common"]["attributes"]["org"] == "acme"

    (push,) = sandbox.requests("/pushgateway")
    assert (push.method, push.path) == ("PUT", "/pushgateway/metrics/job/wedsync_ai/org/acme")
    assert push.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    text = push.text()
    assert (
        'wedsync_ai_requests_total{context="wedding_industry",env="dev",feature="email_template",'
        'model="gpt-4o-mini",org="acme",provider="openai",region="unknown",season="peak",'
        'service="ai_architecture"} 40.0\n'
    ) in text
    samples = [line for line in text.splitlines() if line and not line.startswith("#")]
    values = [line.rsplit("}", 1)[1] if "}" in line else line.split(" ", 1)[1] for line in samples]
    assert samples and all(len(value.split()) == 1 for value in values)  # a value, never a timestamp

    assert family.retry_model.objects.filter(state=RetryState.SUCCEEDED).count() == 3
    assert {c.provider: c.cursor.last_exported_hour for c in family.config_model.objects.all()} == dict.fromkeys(
        ("datadog", "newrelic", "prometheus"), HOUR
    )
    with freeze_time(NOW + timedelta(minutes=1)):  # the next beat: nothing new to export
        tasks.sync_family("monitoring")
        tasks.drain_family("monitoring")
    assert len(sandbox.requests()) == 3


def test_an_outage_is_survived_with_no_hour_lost_or_counted_twice(
    sandbox, vendors, organisation, make_rollup, settings
):
    settings.OUTBOUND_READ_TIMEOUT = 0.5
    datadog, newrelic = vendors["datadog"], vendors["newrelic"]
    for hour in (13, 14, 15):
        make_rollup(organisation, utc(2026, 6, 13, hour), requests=10 * hour)

    # 14:05 — Datadog answers 503, New Relic 429 with Retry-After: 120
    sandbox.fault("/datadog", kind="status", status=503, times=1)
    sandbox.fault("/newrelic", kind="retry_after", status=429, retry_after=120, times=1)
    with freeze_time("2026-06-13 14:05:00"):
        sync_monitoring(datadog)
        sync_monitoring(newrelic)
    assert outbox.queue_depth(family, organisation.pk) == 2
    item = family.retry_model.objects.get(provider="newrelic")
    assert item.next_attempt_at >= utc(2026, 6, 13, 14, 7)  # Retry-After is a floor

    # 14:06 — the beat drains: Datadog recovers; New Relic is still inside its Retry-After
    with freeze_time("2026-06-13 14:06:00"):
        for org_id, provider in outbox.due_pairs(family):
            outbox.drain_pair(family, org_id, provider)
    assert outbox.queue_depth(family, organisation.pk, "newrelic") == 1
    assert outbox.queue_depth(family, organisation.pk, "datadog") == 0

    # 15:05 — hour 14 is due; both vendors now time out (the vendor never answers)
    sandbox.fault("/datadog", kind="timeout", delay=2.0, times=1)
    sandbox.fault("/newrelic", kind="timeout", delay=2.0, times=1)
    with freeze_time("2026-06-13 15:05:00"):
        sync_monitoring(datadog)  # hour 14 times out
        sync_monitoring(newrelic)  # the old 13:00 item goes first and times out; 14:00 waits behind it
    assert outbox.queue_depth(family, organisation.pk, "newrelic") == 2

    # 15:10 — the beat's drain: both queues empty in order once the backoff has passed
    with freeze_time("2026-06-13 15:10:00"):
        for org_id, provider in outbox.due_pairs(family):
            outbox.drain_pair(family, org_id, provider)
    assert outbox.queue_depth(family, organisation.pk) == 0

    # 16:05 — hour 15 goes out as usual
    with freeze_time("2026-06-13 16:05:00"):
        sync_monitoring(datadog)
        sync_monitoring(newrelic)
    assert outbox.queue_depth(family, organisation.pk) == 0

    hour = {h: int(utc(2026, 6, 13, h).timestamp()) for h in (13, 14, 15)}
    assert datadog_requests_per_hour(sandbox) == {hour[13] + 3599: 130, hour[14] + 3599: 140, hour[15] + 3599: 150}
    assert newrelic_requests_per_hour(sandbox) == {hour[13] * 1000: 130, hour[14] * 1000: 140, hour[15] * 1000: 150}
    # New Relic's accepted bodies came in hour order
    stamps = [body[0]["common"]["timestamp"] for body in delivered(sandbox, "/newrelic")]
    assert stamps == sorted(stamps)
    assert MonitoringCursor.objects.get(config=datadog).last_exported_hour == utc(2026, 6, 13, 15)


def test_rerunning_a_sync_creates_nothing_new(sandbox, vendors, organisation, make_rollup):
    make_rollup(organisation, HOUR)
    with freeze_time(NOW):
        first = sync_monitoring(vendors["datadog"])
        second = sync_monitoring(vendors["datadog"])
    assert (first.queued, second.queued) == (1, 0)
    assert family.retry_model.objects.count() == 1 and len(sandbox.requests("/datadog")) == 1
    cursor = MonitoringCursor.objects.get(config=vendors["datadog"])
    cursor.advance_to(utc(2026, 6, 13, 10))  # never backwards
    cursor.refresh_from_db()
    assert cursor.last_exported_hour == HOUR


def test_an_hour_the_rollups_have_not_finished_waits(sandbox, vendors, organisation, make_rollup, monkeypatch):
    from wedsync_integrations.usage import rollup

    make_rollup(organisation, HOUR)
    marker = RollupDirtyHour.objects.create(organisation=organisation, hour=HOUR)
    monkeypatch.setattr(rollup, "update_rollups", lambda now=None: None)  # the rollup engine is busy elsewhere
    with freeze_time(NOW):
        sync_monitoring(vendors["newrelic"])
    assert newrelic_requests_per_hour(sandbox) == {}
    assert MonitoringCursor.objects.get(config=vendors["newrelic"]).last_exported_hour == HOUR - timedelta(hours=1)
    marker.delete()
    with freeze_time(NOW + timedelta(minutes=1)):
        assert sync_monitoring(vendors["newrelic"]).queued == 1
    assert newrelic_requests_per_hour(sandbox) == {int(HOUR.timestamp() * 1000): 40}


def test_within_the_grace_period_the_hour_is_not_finished(sandbox, vendors, organisation, make_rollup):
    make_rollup(organisation, HOUR)
    with freeze_time("2026-06-13 15:00:30"):
        assert sync_monitoring(vendors["datadog"]).queued == 0
    with freeze_time("2026-06-13 15:01:00"):
        assert sync_monitoring(vendors["datadog"]).queued == 1


def test_sync_brings_the_rollups_up_to_date_before_exporting(sandbox, vendors, organisation):
    from decimal import Decimal

    from wedsync_integrations.usage.models import AIUsageRecord
    from wedsync_integrations.usage.rollup import mark_all_dirty

    for n, latency in enumerate((400, 800, 1200)):
        AIUsageRecord.objects.create(
            organisation=organisation, request_id=f"r-{n}", occurred_at=HOUR + timedelta(minutes=10 * n), hour=HOUR,
            feature="contract_generation", provider="anthropic", model="claude-sonnet", prompt_tokens=100,
            completion_tokens=50, latency_ms=latency, cost_usd=Decimal("0.010000"), cost_gbp=Decimal("0.008000"),
            usd_gbp_rate=Decimal("0.800000"), outcome="error" if n == 2 else "ok",
        )  # fmt: skip
    mark_all_dirty(organisation)  # what ingest does for new records
    with freeze_time(NOW):
        sync_monitoring(vendors["datadog"])
    (body,) = delivered(sandbox, "/datadog/api/v2/series")
    values = {s["metric"]: s["points"][0]["value"] for s in body["series"] if "provider:anthropic" in s["tags"]}
    assert values["wedsync.ai.requests"] == 3 and values["wedsync.ai.errors"] == 1
    assert values["wedsync.ai.cost"] == 0.024 and values["wedsync.ai.response_time"] == 800.0
    assert values["wedsync.ai.success_rate"] == 66.6667


@responses.activate
def test_a_scheduled_sync_runs_the_rollup_only_for_a_finished_hour_still_dirty(
    organisation, make_organisation, newrelic_config, monkeypatch
):
    from wedsync_integrations.usage import rollup

    responses.add(responses.POST, "https://metric-api.newrelic.com/metric/v1", status=202, json={"requestId": "x"})
    runs = []
    monkeypatch.setattr(rollup, "update_rollups", lambda now=None: runs.append(now))
    config = newrelic_config()
    RollupDirtyHour.objects.create(organisation=organisation, hour=utc(2026, 6, 13, 15))  # the hour in progress
    RollupDirtyHour.objects.create(organisation=make_organisation(slug="rival"), hour=HOUR)  # another tenant's
    with freeze_time(NOW):
        sync_monitoring(config)
    assert runs == []  # the rollup's own beat keeps those current
    RollupDirtyHour.objects.create(organisation=organisation, hour=HOUR)  # late usage for 14:00
    with freeze_time(NOW):
        sync_monitoring(config)
    assert runs == [NOW]
