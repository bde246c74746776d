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


def accepted_hour_points(calls) -> list[dict]:
    """Every metric New Relic accepted (202) for HOUR, as it received them."""
    start = int(HOUR.timestamp() * 1000)
    return [
        metric
        for call in calls
        if call.response.status_code == 202
        for block in gunzip_json(call.request.body)
        if block["common"]["timestamp"] == start
        for metric in block["metrics"]
    ]


def new_relic_totals(calls) -> dict[tuple[str, str], object]:
    """What New Relic adds up for HOUR per (metric, feature): counts summed, summaries' count and sum."""
    totals: dict[tuple[str, str], object] = {}
    for metric in accepted_hour_points(calls):
        key = (metric["name"], metric["attributes"]["feature"])
        if metric["type"] == "count":
            totals[key] = totals.get(key, 0) + metric["value"]
        elif metric["type"] == "summary":
            count, total = totals.get(key, (0, 0))
            totals[key] = (count + metric["value"]["count"], total + metric["value"]["sum"])
    return totals


@pytest.mark.parametrize("rest", ["retried", "dead"])
@responses.activate
def test_a_new_relic_correction_after_a_partial_413_split_counts_nothing_twice(
    organisation, make_rollup, newrelic_config, rest
):
    """New Relic answers 413, the body goes out in two halves, the first is accepted and the second
    fails: the item keeps only the second half. A late correction must still be measured against
    all of it, the half New Relic has and the half the item owes (sent by the retry, or by a
    replay once staff see the dead item), or New Relic would count the first half twice."""
    from wedsync_integrations.integrations import outbox
    from wedsync_integrations.integrations.registry import get_family

    with freeze_time(HOUR + timedelta(minutes=59)):
        make_rollup(organisation, HOUR)  # email_template: 40 requests, 2 errors, 36,000 ms
        make_rollup(organisation, HOUR, feature="content_writing", requests=10, errors=1, latency_sum_ms=9_000)
    config = newrelic_config()
    responses.add(responses.POST, NR_URL, status=413)
    responses.add(responses.POST, NR_URL, status=202, json={"requestId": "first-half"})
    responses.add(responses.POST, NR_URL, status=503 if rest == "retried" else 400)
    responses.add(responses.POST, NR_URL, status=202, json={"requestId": "later"})
    with freeze_time(NOW):
        sync_monitoring(config)
    first_half = [(m["name"], m["attributes"]["feature"]) for m in accepted_hour_points(responses.calls)]
    # content_writing's metrics and email_template's requests reached New Relic; the rest did not
    assert ("wedsync.ai.requests", "email_template") in first_half
    assert ("wedsync.ai.errors", "email_template") not in first_half
    assert len([key for key in first_half if key[1] == "content_writing"]) == 11

    late_records_arrive(NOW + timedelta(minutes=10))  # marks both rows recomputed
    UsageRollup.objects.filter(hour=HOUR, feature="email_template").update(
        requests=45, errors=3, latency_sum_ms=40_000, latency_min_ms=90
    )
    UsageRollup.objects.filter(hour=HOUR, feature="content_writing").update(requests=12, latency_sum_ms=10_600)
    with freeze_time(NOW + timedelta(minutes=11)):
        result = sync_monitoring(config)
    assert result.detail["restated_hours"] == [HOUR.isoformat()]
    (correction,) = gunzip_json(responses.calls[-1].request.body)
    assert correction["common"]["timestamp"] == int(HOUR.timestamp() * 1000)
    assert [(m["name"], m["attributes"]["feature"], m["type"], m["value"]) for m in correction["metrics"]] == [
        ("wedsync.ai.requests", "content_writing", "count", 2),
        ("wedsync.ai.response_time", "content_writing", "summary", {"count": 2, "sum": 1600.0, "min": 120.0, "max": 4100.0}),  # noqa: E501
        ("wedsync.ai.requests", "email_template", "count", 5),
        ("wedsync.ai.errors", "email_template", "count", 1),
        ("wedsync.ai.response_time", "email_template", "summary", {"count": 5, "sum": 4000.0, "min": 90.0, "max": 4100.0}),  # noqa: E501
    ]  # fmt: skip
    if rest == "dead":
        item = get_family("monitoring").retry_model.objects.get(state="dead")
        with freeze_time(NOW + timedelta(minutes=30)):
            outbox.replay([item])  # staff replay the rest: it is not in the correction, so nothing doubles
    assert [call.response.status_code for call in responses.calls] == (
        [413, 202, 503, 202, 202] if rest == "retried" else [413, 202, 400, 202, 202]
    )
    totals = new_relic_totals(responses.calls)
    assert totals[("wedsync.ai.requests", "email_template")] == 45
    assert totals[("wedsync.ai.errors", "email_template")] == 3
    assert totals[("wedsync.ai.response_time", "email_template")] == (45, 40_000)
    assert totals[("wedsync.ai.requests", "content_writing")] == 12
    assert totals[("wedsync.ai.errors", "content_writing")] == 1
    assert totals[("wedsync.ai.response_time", "content_writing")] == (12, 10_600)
    assert totals[("wedsync.ai.tokens", "content_writing")] == totals[("wedsync.ai.tokens", "email_template")] == 38_000
