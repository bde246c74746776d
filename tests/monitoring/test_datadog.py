"""Datadog contract: exact URL per site, headers, gzip body, types, timestamps, limits, 413, staleness."""

import gzip
import json
from datetime import date

import pytest
import responses
from freezegun import freeze_time

from monitoring.models import MonitoringCursor
from monitoring.providers.datadog import BATCH_BUDGET_BYTES, MAX_COMPRESSED_BYTES, SITES, tag
from monitoring.sync import sync_monitoring
from wedsync_integrations.integrations.models import ConfigStatus, RetryState, SyncOutcome
from wedsync_integrations.integrations.registry import get_family
from wedsync_integrations.integrations.secrets import MASK
from wedsync_integrations.usage.models import RollupDirtyHour

from .conftest import DD_KEY, HOUR, NOW, gunzip_json, utc

pytestmark = pytest.mark.django_db
family = get_family("monitoring")
EU_SERIES = "https://api.datadoghq.eu/api/v2/series"


def _series(calls):
    return [entry for call in calls for entry in gunzip_json(call.request.body)["series"]]


@responses.activate
def test_one_finished_hour_reaches_the_eu_site_exactly_as_the_contract_says(
    settings, organisation, datadog_config, make_rollup, make_wedding, assisted
):
    settings.ENVIRONMENT_NAME = "prod"
    config = datadog_config(site="EU1")
    make_rollup(organisation, HOUR, model="GPT-4o Mini")
    assisted(organisation, HOUR, make_wedding(organisation, date(2026, 6, 13), region="South West").pk)
    responses.add(responses.POST, EU_SERIES, status=202, json={"errors": []})

    with freeze_time(NOW):
        result = sync_monitoring(config)

    assert (result.queued, result.delivered, result.failed) == (1, 1, 0)
    (call,) = responses.calls
    assert call.request.url == EU_SERIES
    assert call.request.headers["DD-API-KEY"] == DD_KEY
    assert call.request.headers["Content-Type"] == "application/json"
    assert call.request.headers["Content-Encoding"] == "gzip"
    assert "api_key" not in call.request.url
    series = {entry["metric"]: entry for entry in _series(responses.calls)}
    tags = [
        "service:ai_architecture", "env:prod", "region:south_west", "season:peak", "context:wedding_industry",
        "org:acme", "provider:openai", "feature:email_template", "model:gpt-4o_mini",
    ]  # fmt: skip
    last_second = int(HOUR.timestamp()) + 3599  # 14:59:59Z: inside the hour, within Datadog's 1 h
    assert series["wedsync.ai.requests"] == {
        "metric": "wedsync.ai.requests",
        "type": 1,
        "interval": 3600,
        "points": [{"timestamp": last_second, "value": 40}],
        "tags": tags,
    }
    assert series["wedsync.ai.cost"]["points"][0]["value"] == 0.9875
    assert series["wedsync.ai.response_time.p95"] == {
        "metric": "wedsync.ai.response_time.p95",
        "type": 3,
        "points": [{"timestamp": last_second, "value": 2300.5}],
        "tags": tags,
        "unit": "millisecond",
    }
    assert series["wedsync.ai.success_rate"]["points"][0]["value"] == 95.0
    assert series["wedsync.ai.weddings_assisted"]["tags"] == tags[:6]
    # the integrations' own health rides along, stamped when it was measured
    assert series["wedsync.integrations.queue_depth"]["points"][0]["timestamp"] == int(NOW.timestamp())
    log = family.sync_log_model.objects.get(outcome=SyncOutcome.SUCCESS)
    assert log.http_status == 202 and log.items == len(series)
    assert MonitoringCursor.objects.get(config=config).last_exported_hour == HOUR


@pytest.mark.parametrize("site", sorted(SITES))
@responses.activate
def test_every_documented_site_has_its_api_host(organisation, datadog_config, make_rollup, site):
    config = datadog_config(site=site)
    make_rollup(organisation, HOUR)
    responses.add(responses.POST, SITES[site] + "/api/v2/series", status=202, json={"errors": []})
    with freeze_time(NOW):
        assert sync_monitoring(config).delivered == 1


def test_site_aliases_and_unknown_sites(organisation, make_config):
    from monitoring.providers.datadog import DatadogSettings

    assert DatadogSettings(data={"site": "datadoghq.eu"}).is_valid()
    ser = DatadogSettings(data={"site": "eu"})
    assert ser.is_valid() and ser.validated_data["site"] == "EU1"
    bad = DatadogSettings(data={"site": "mars1"})
    assert not bad.is_valid() and "unknown Datadog site" in str(bad.errors["site"])


def test_tags_follow_datadog_rules():
    assert tag("model", "Claude 3.5 Sonnet") == "model:claude_3.5_sonnet"
    assert tag("region", "Île-de-France__") == "region:_le-de-france"
    assert tag("feature", "x" * 300) == "feature:" + "x" * 192
    assert tag("9lives", "a")[0].isalpha()


@responses.activate
def test_big_hours_are_split_into_bodies_within_both_limits(organisation, datadog_config, make_rollup):
    config = datadog_config(site="US1")
    for n in range(400):  # 400 series x 11 metrics: ~1.3 MB of JSON in one hour
        make_rollup(organisation, HOUR, feature=f"feature_{n:03d}_" + "x" * 40)
    responses.add(responses.POST, SITES["US1"] + "/api/v2/series", status=202, json={"errors": []})
    with freeze_time(NOW):
        result = sync_monitoring(config)
    assert result.queued >= 3 and result.delivered == result.queued
    for call in responses.calls:
        assert len(call.request.body) <= MAX_COMPRESSED_BYTES
        assert len(gzip.decompress(call.request.body)) <= BATCH_BUDGET_BYTES
    sent = _series(responses.calls)
    assert len(sent) == 400 * 11 + 2  # + the health snapshot (queue depth, circuit state)
    assert len({(s["metric"], tuple(s["tags"])) for s in sent}) == len(sent)  # nothing twice


@responses.activate
def test_413_splits_and_resends_without_losing_or_duplicating(organisation, datadog_config, make_rollup):
    config = datadog_config()
    for n in range(4):
        make_rollup(organisation, HOUR, feature=f"f{n}")
    url = SITES["US1"] + "/api/v2/series"
    responses.add(responses.POST, url, status=413, json={"errors": ["Payload too large"]})
    responses.add(responses.POST, url, status=202, json={"errors": []})
    with freeze_time(NOW):
        result = sync_monitoring(config)
    assert result.delivered == 1
    first, *halves = responses.calls
    assert len(halves) == 2
    everything = gunzip_json(first.request.body)["series"]
    assert _series(halves) == everything  # the same series, once each, in order


@responses.activate
def test_a_failure_after_a_split_keeps_only_the_unsent_half(organisation, datadog_config, make_rollup):
    config = datadog_config()
    for n in range(4):
        make_rollup(organisation, HOUR, feature=f"f{n}")
    url = SITES["US1"] + "/api/v2/series"
    responses.add(responses.POST, url, status=413)
    responses.add(responses.POST, url, status=202, json={"errors": []})
    responses.add(responses.POST, url, status=503)
    with freeze_time(NOW):
        sync_monitoring(config)
    everything = gunzip_json(responses.calls[0].request.body)["series"]
    first_half = gunzip_json(responses.calls[1].request.body)["series"]
    item, delivered = family.retry_model.objects.order_by("id")
    assert item.state == RetryState.PENDING and item.attempts == 1
    assert item.payload["series"] == everything[len(first_half) :]  # the retry resends only the rest
    # the half Datadog has stays on record as a succeeded row of its own
    assert (delivered.state, delivered.payload["series"]) == (RetryState.SUCCEEDED, first_half)
    assert delivered.dedupe_key == f"{item.dedupe_key}~part1"
    responses.replace(responses.POST, url, status=202, json={"errors": []})
    with freeze_time("2026-06-13 15:20:00"):
        assert family.retry_model.objects.filter(state=RetryState.PENDING).count() == 1
        from wedsync_integrations.integrations import outbox

        outbox.drain_pair(family, organisation.pk, "datadog")
    assert _series(responses.calls[1:2]) + _series(responses.calls[3:]) == everything


@responses.activate
def test_hours_older_than_datadog_accepts_are_reported_stale_not_sent(organisation, datadog_config, make_rollup):
    config = datadog_config()
    MonitoringCursor.objects.create(config=config, last_exported_hour=utc(2026, 6, 13, 10))
    for hour in (11, 12, 14):
        make_rollup(organisation, utc(2026, 6, 13, hour))
    responses.add(responses.POST, SITES["US1"] + "/api/v2/series", status=202, json={"errors": []})
    with freeze_time(NOW):
        result = sync_monitoring(config)
    assert result.skipped == 2  # 11:00 and 12:00 had usage; 13:00 had none
    stale = family.sync_log_model.objects.get(outcome=SyncOutcome.SKIPPED)
    assert "3 hour(s) from 2026-06-13 11:00Z to 2026-06-13 13:00Z are older than Datadog accepts" in stale.error
    assert stale.detail["stale_hours"] == ["2026-06-13T11:00:00+00:00", "2026-06-13T12:00:00+00:00"]
    stamps = {s["points"][0]["timestamp"] for s in _series(responses.calls) if s["metric"].startswith("wedsync.ai")}
    assert stamps == {int(HOUR.timestamp()) + 3599}
    assert MonitoringCursor.objects.get(config=config).last_exported_hour == HOUR


@responses.activate
def test_a_stale_hour_still_waiting_for_its_rollup_counts_as_having_usage(
    organisation, datadog_config, make_rollup, monkeypatch
):
    """The first start after seeding: the export runs while another process's rollup run is
    still catching up, so an hour with usage may have a dirty marker and no rollup yet; the log
    must not say it had none."""
    from wedsync_integrations.usage import rollup

    monkeypatch.setattr(rollup, "update_rollups", lambda now=None: rollup.RollupStats(skipped=True))
    config = datadog_config()
    MonitoringCursor.objects.create(config=config, last_exported_hour=utc(2026, 6, 13, 10))
    make_rollup(organisation, utc(2026, 6, 13, 11))
    RollupDirtyHour.objects.create(organisation=organisation, hour=utc(2026, 6, 13, 13))
    responses.add(responses.POST, SITES["US1"] + "/api/v2/series", status=202, json={"errors": []})
    with freeze_time(NOW):
        result = sync_monitoring(config)
    assert result.skipped == 2
    stale = family.sync_log_model.objects.get(outcome=SyncOutcome.SKIPPED)
    assert "; 2 had usage and were not exported" in stale.error
    assert stale.detail["stale_hours"] == ["2026-06-13T11:00:00+00:00", "2026-06-13T13:00:00+00:00"]


@responses.activate
def test_a_due_hour_that_aged_out_joins_the_stale_span_it_follows(organisation, datadog_config, make_rollup):
    # at 15:00:30 the newest finished hour is 13:00 (the grace period hides 14:00), and 13:59:59
    # is already older than Datadog takes with the sending margin
    config = datadog_config()
    MonitoringCursor.objects.create(config=config, last_exported_hour=utc(2026, 6, 13, 10))
    for hour in (12, 13, 14):
        make_rollup(organisation, utc(2026, 6, 13, hour))
    responses.add(responses.POST, SITES["US1"] + "/api/v2/series", status=202, json={"errors": []})
    with freeze_time("2026-06-13 15:00:30"):
        result = sync_monitoring(config)
    assert (result.queued, result.skipped) == (0, 2) and not responses.calls
    (stale,) = family.sync_log_model.objects.filter(outcome=SyncOutcome.SKIPPED)
    assert "3 hour(s) from 2026-06-13 11:00Z to 2026-06-13 13:00Z" in stale.error
    assert MonitoringCursor.objects.get(config=config).last_exported_hour == utc(2026, 6, 13, 13)
    with freeze_time("2026-06-13 15:01:00"):
        assert sync_monitoring(config).delivered == 1  # 14:00 goes out as soon as it is finished
    stamps = {s["points"][0]["timestamp"] for s in _series(responses.calls) if s["metric"] == "wedsync.ai.requests"}
    assert stamps == {int(HOUR.timestamp()) + 3599}


@responses.activate
def test_points_that_age_in_the_queue_are_dropped_at_send_time_and_logged(organisation, datadog_config, make_rollup):
    config = datadog_config()
    make_rollup(organisation, HOUR)
    url = SITES["US1"] + "/api/v2/series"
    responses.add(responses.POST, url, status=503)
    with freeze_time(NOW):
        sync_monitoring(config)
    with freeze_time("2026-06-13 16:30:00"):  # 14:59:59 is now more than an hour old
        from wedsync_integrations.integrations import outbox

        family.retry_model.objects.update(next_attempt_at=utc(2026, 6, 13, 16))
        outbox.drain_pair(family, organisation.pk, "datadog")
    assert len(responses.calls) == 1
    log = family.sync_log_model.objects.filter(outcome=SyncOutcome.SKIPPED).get()
    assert "too old for Datadog" in log.error and log.detail["stale_series"] == 11 + 2


@responses.activate
def test_a_bad_key_stops_the_config_and_keeps_the_hour(organisation, datadog_config, make_rollup, caplog):
    caplog.set_level("DEBUG")
    config = datadog_config()
    make_rollup(organisation, HOUR)
    responses.add(
        responses.POST, SITES["US1"] + "/api/v2/series", status=403, json={"errors": [f"Forbidden key {DD_KEY}"]}
    )
    with freeze_time(NOW):
        result = sync_monitoring(config)
    config.refresh_from_db()
    assert config.status == ConfigStatus.STOPPED and "403" in config.status_reason
    assert DD_KEY not in config.status_reason and MASK in config.status_reason
    stored_errors = [*family.sync_log_model.objects.values_list("error", flat=True), config.last_error]
    stored_errors += family.retry_model.objects.values_list("last_error", flat=True)
    assert all(DD_KEY not in error for error in stored_errors) and any(MASK in error for error in stored_errors)
    assert "vendor.call" in caplog.text and DD_KEY not in caplog.text  # nor in any log line
    assert result.failed == 1 and family.retry_model.objects.get().state == RetryState.PENDING
    with freeze_time(NOW):
        sync_monitoring(config)  # a stopped config is not retried
    assert len(responses.calls) == 1


@responses.activate
def test_health_check_validates_the_key(organisation, datadog_config):
    from wedsync_integrations.integrations import health

    config = datadog_config(site="US5")
    responses.add(responses.GET, SITES["US5"] + "/api/v1/validate", json={"valid": True})
    result = health.check(config)
    assert result["ok"] and responses.calls[0].request.headers["DD-API-KEY"] == DD_KEY
    responses.replace(responses.GET, SITES["US5"] + "/api/v1/validate", status=403, json={"errors": ["Forbidden"]})
    assert health.check(config)["ok"]  # cached for five minutes
    assert not health.check(config, refresh=True)["ok"]


def test_built_series_carry_their_exact_size(organisation, make_rollup, datadog_config):
    from monitoring.metrics import build_intervals, integration_snapshot

    make_rollup(organisation, HOUR, model="Odd Model/ü")
    parts = [*build_intervals(organisation, [HOUR]), integration_snapshot(organisation)]
    provider = datadog_config().get_provider()
    for part in parts:
        for entry, size in provider.series_of(part):
            assert size == len(json.dumps(entry, separators=(",", ":")))


@responses.activate
def test_rate_limits_wait_for_x_ratelimit_reset_and_accepted_warnings_are_kept(
    organisation, datadog_config, make_rollup
):
    from datetime import timedelta

    from wedsync_integrations.integrations import outbox

    config = datadog_config()
    make_rollup(organisation, HOUR)
    responses.add(responses.POST, SITES["US1"] + "/api/v2/series", status=429, headers={"X-RateLimit-Reset": "40"})
    with freeze_time(NOW):
        sync_monitoring(config)
    item = family.retry_model.objects.get()
    assert item.next_attempt_at >= NOW + timedelta(seconds=40)
    responses.replace(
        responses.POST, SITES["US1"] + "/api/v2/series", status=202, json={"errors": ["Metric name too long"]}
    )
    with freeze_time(NOW + timedelta(seconds=39)):
        outbox.drain_pair(family, organisation.pk, "datadog")
    assert len(responses.calls) == 1  # not before Datadog said
    with freeze_time(NOW + timedelta(minutes=2)):
        outbox.drain_pair(family, organisation.pk, "datadog")
    log = family.sync_log_model.objects.get(outcome=SyncOutcome.SUCCESS)
    assert log.detail["vendor_errors"] == ["Metric name too long"]
