"""Usage that arrives after its hour was exported (e.g. the AI platform retrying after an ingest
outage) is corrected at the vendor while it still accepts the hour, without counting anything twice:
Datadog keeps the last value per series and timestamp, so the hour is sent again in full; New
Relic adds count points up, so only the difference is sent."""

from datetime import timedelta

import pytest
import responses
from freezegun import freeze_time

from monitoring.models import MonitoringCursor
from monitoring.providers.datadog import SITES
from monitoring.sync import sync_monitoring
from wedsync_integrations.usage.models import RollupDirtyHour, UsageRollup

from .conftest import HOUR, NOW, gunzip_json

pytestmark = pytest.mark.django_db
DD_URL = SITES["US1"] + "/api/v2/series"
NR_URL = "https://metric-api.newrelic.com/metric/v1"


def late_records_arrive(at, **figures):
    """What the rollup engine does when late records for HOUR are ingested and rolled up."""
    UsageRollup.objects.filter(hour=HOUR).update(computed_at=at, **figures)


@pytest.fixture
def hour_exported(organisation, make_rollup):
    with freeze_time(HOUR + timedelta(minutes=59)):
        make_rollup(organisation, HOUR)  # rolled up before the hour was exported


@responses.activate
def test_datadog_gets_the_corrected_hour_in_full_at_the_same_timestamp(datadog_config, hour_exported):
    config = datadog_config()
    responses.add(responses.POST, DD_URL, status=202, json={"errors": []})
    with freeze_time(NOW):
        sync_monitoring(config)
    with freeze_time(NOW + timedelta(minutes=1)):
        sync_monitoring(config)  # nothing changed: nothing sent
    assert len(responses.calls) == 1
    late_records_arrive(NOW + timedelta(minutes=10), requests=45, errors=3)
    with freeze_time(NOW + timedelta(minutes=11)):
        result = sync_monitoring(config)
    assert result.detail["restated_hours"] == [HOUR.isoformat()]
    first, second = (gunzip_json(call.request.body)["series"] for call in responses.calls)
    values = {s["metric"]: s["points"][0] for s in second}
    assert values["wedsync.ai.requests"] == {"timestamp": int(HOUR.timestamp()) + 3599, "value": 45}
    assert values["wedsync.ai.errors"]["value"] == 3
    assert {s["metric"] for s in second} == {s["metric"] for s in first if "integrations" not in s["metric"]}
    with freeze_time(NOW + timedelta(minutes=12)):
        sync_monitoring(config)
    assert len(responses.calls) == 2  # the correction goes out once


@responses.activate
def test_new_relic_gets_only_the_difference_in_counts_and_summaries(newrelic_config, hour_exported):
    config = newrelic_config()
    responses.add(responses.POST, NR_URL, status=202, json={"requestId": "x"})
    with freeze_time(NOW):
        sync_monitoring(config)
    # five late requests (4,000 ms in all, the fastest 90 ms) for an hour of 40 (36,000 ms)
    late_records_arrive(NOW + timedelta(minutes=10), requests=45, errors=2, latency_sum_ms=40_000, latency_min_ms=90)
    with freeze_time(NOW + timedelta(minutes=11)):
        sync_monitoring(config)
        sync_monitoring(config)
    assert len(responses.calls) == 2
    (correction,) = gunzip_json(responses.calls[1].request.body)
    assert correction["common"]["timestamp"] == int(HOUR.timestamp() * 1000)
    assert [(m["name"], m["type"], m["value"]) for m in correction["metrics"]] == [
        ("wedsync.ai.requests", "count", 5),
        ("wedsync.ai.response_time", "summary", {"count": 5, "sum": 4000.0, "min": 90.0, "max": 4100.0}),
    ]
    hour_points = [
        m
        for call in responses.calls
        for block in gunzip_json(call.request.body)
        for m in block["metrics"]
        if block["common"]["timestamp"] == int(HOUR.timestamp() * 1000)
    ]
    # what New Relic adds up for the hour is the corrected figure, nothing counted twice
    assert sum(m["value"] for m in hour_points if m["name"] == "wedsync.ai.requests") == 45
    summaries = [m["value"] for m in hour_points if m["name"] == "wedsync.ai.response_time"]
    assert sum(v["count"] for v in summaries) == 45 and sum(v["sum"] for v in summaries) == 40_000
    assert (min(v["min"] for v in summaries), max(v["max"] for v in summaries)) == (90.0, 4100.0)

    # a second late batch is measured against everything sent so far, corrections included
    late_records_arrive(NOW + timedelta(minutes=20), requests=47, errors=2, latency_sum_ms=41_000, latency_min_ms=90)
    with freeze_time(NOW + timedelta(minutes=21)):
        sync_monitoring(config)
    (second,) = gunzip_json(responses.calls[2].request.body)
    assert [(m["name"], m["value"]) for m in second["metrics"]] == [
        ("wedsync.ai.requests", 2),
        ("wedsync.ai.response_time", {"count": 2, "sum": 1000.0, "min": 90.0, "max": 4100.0}),
    ]


@responses.activate
def test_a_recompute_with_the_same_figures_sends_nothing(datadog_config, hour_exported):
    config = datadog_config()
    responses.add(responses.POST, DD_URL, status=202, json={"errors": []})
    with freeze_time(NOW):
        sync_monitoring(config)
    late_records_arrive(NOW + timedelta(minutes=10))
    with freeze_time(NOW + timedelta(minutes=11)):
        assert sync_monitoring(config).detail["restated_hours"] == []
    assert len(responses.calls) == 1
    assert MonitoringCursor.objects.get(config=config).restated_up_to == NOW + timedelta(minutes=10)


@responses.activate
def test_an_hour_being_recomputed_waits_and_one_too_old_is_left_alone(
    organisation, datadog_config, hour_exported, monkeypatch
):
    from wedsync_integrations.usage import rollup

    config = datadog_config()
    responses.add(responses.POST, DD_URL, status=202, json={"errors": []})
    with freeze_time(NOW):
        sync_monitoring(config)
    late_records_arrive(NOW + timedelta(minutes=10), requests=45)
    marker = RollupDirtyHour.objects.create(organisation=organisation, hour=HOUR)
    monkeypatch.setattr(rollup, "update_rollups", lambda now=None: None)  # the rollup engine is busy elsewhere
    with freeze_time(NOW + timedelta(minutes=11)):
        sync_monitoring(config)
    assert len(responses.calls) == 1  # not while the hour is being recomputed
    marker.delete()
    with freeze_time(HOUR + timedelta(hours=2, minutes=30)):  # Datadog no longer takes 14:59:59
        sync_monitoring(config)
    later = [s["metric"] for call in responses.calls[1:] for s in gunzip_json(call.request.body)["series"]]
    assert "wedsync.ai.requests" not in later
