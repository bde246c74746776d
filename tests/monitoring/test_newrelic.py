"""New Relic Metric API contract: endpoints by region, headers, common block, types, limits."""

import gzip
import json
from datetime import timedelta

import pytest
import responses
from freezegun import freeze_time

from monitoring.models import MonitoringCursor
from monitoring.providers.newrelic import MAX_BODY_BYTES, NewRelicSettings, attributes, split_blocks
from monitoring.sync import sync_monitoring
from wedsync_integrations.integrations import health
from wedsync_integrations.integrations.models import SyncOutcome
from wedsync_integrations.integrations.registry import get_family

from .conftest import HOUR, NOW, NR_EU_KEY, NR_KEY, gunzip_json

pytestmark = pytest.mark.django_db
family = get_family("monitoring")
US = "https://metric-api.newrelic.com/metric/v1"
EU = "https://metric-api.eu.newrelic.com/metric/v1"


@responses.activate
def test_one_hour_reaches_the_metric_api_with_a_common_block(settings, organisation, newrelic_config, make_rollup):
    settings.ENVIRONMENT_NAME = "prod"
    config = newrelic_config()
    make_rollup(organisation, HOUR)
    responses.add(responses.POST, US, status=202, json={"requestId": "6b1e5a2c-0000-4000-8000-000000000001"})
    with freeze_time(NOW):
        result = sync_monitoring(config)
    assert result.delivered == 1
    (call,) = responses.calls
    assert call.request.headers["Api-Key"] == NR_KEY
    assert call.request.headers["Content-Encoding"] == "GZIP"
    assert call.request.headers["Content-Type"] == "application/json"
    assert int(call.request.headers["Content-Length"]) == len(call.request.body)
    body = gunzip_json(call.request.body)
    usage, snapshot = body
    assert usage["common"] == {
        "timestamp": int(HOUR.timestamp() * 1000),  # start of the hour, in ms
        "attributes": {
            "service": "ai_architecture",
            "env": "prod",
            "region": "unknown",
            "season": "peak",
            "context": "wedding_industry",
            "org": "acme",
        },
    }
    metrics = {m["name"]: m for m in usage["metrics"]}
    dims = {"provider": "openai", "feature": "email_template", "model": "gpt-4o-mini"}
    assert metrics["wedsync.ai.requests"] == {
        "name": "wedsync.ai.requests", "type": "count", "value": 40, "interval.ms": 3_600_000, "attributes": dims,
    }  # fmt: skip
    assert metrics["wedsync.ai.cost"]["value"] == 0.9875
    # response time as a summary of the hour's 40 requests: New Relic's average() is 36,000 / 40 ms
    assert metrics["wedsync.ai.response_time"] == {
        "name": "wedsync.ai.response_time", "type": "summary",
        "value": {"count": 40, "sum": 36000.0, "min": 120.0, "max": 4100.0}, "interval.ms": 3_600_000,
        "attributes": dims,
    }  # fmt: skip
    assert metrics["wedsync.ai.response_time.p95"] == {
        "name": "wedsync.ai.response_time.p95", "type": "gauge", "value": 2300.5, "attributes": dims,
    }  # fmt: skip
    assert snapshot["common"]["timestamp"] == int(NOW.timestamp() * 1000)
    assert {m["name"] for m in snapshot["metrics"]} == {
        "wedsync.integrations.queue_depth",
        "wedsync.integrations.circuit_state",
    }
    log = family.sync_log_model.objects.get(outcome=SyncOutcome.SUCCESS)
    assert log.detail["request_ids"] == ["6b1e5a2c-0000-4000-8000-000000000001"]


@responses.activate
def test_a_rollup_without_its_fastest_request_sends_the_mean_as_a_gauge(organisation, newrelic_config, make_rollup):
    make_rollup(organisation, HOUR, latency_min_ms=None)  # rolled up before the minimum was kept
    responses.add(responses.POST, US, status=202, json={"requestId": "x"})
    with freeze_time(NOW):
        sync_monitoring(newrelic_config())
    usage, _ = gunzip_json(responses.calls[0].request.body)
    (response_time,) = [m for m in usage["metrics"] if m["name"] == "wedsync.ai.response_time"]
    assert (response_time["type"], response_time["value"]) == ("gauge", 900.0)  # no invented minimum
    assert "interval.ms" not in response_time


@responses.activate
def test_region_comes_from_settings_or_an_eu_licence_key(organisation, make_config, make_rollup):
    make_rollup(organisation, HOUR)
    config = make_config("monitoring", organisation, "newrelic", secrets={"license_key": NR_EU_KEY})
    responses.add(responses.POST, EU, status=202, json={"requestId": "x"})
    with freeze_time(NOW):
        assert sync_monitoring(config).delivered == 1
    assert responses.calls[0].request.url == EU
    ser = NewRelicSettings(data={"region": "eu"})
    assert ser.is_valid() and ser.validated_data["region"] == "EU"
    assert not NewRelicSettings(data={"region": "JP"}).is_valid()
    # a region in the settings wins over the key's prefix, either way
    config.settings = {"region": "US"}
    assert config.get_provider().base_url() + "/metric/v1" == US
    config.settings, config.secrets = {"region": "EU"}, {"license_key": NR_KEY}
    assert config.get_provider().base_url() + "/metric/v1" == EU


@responses.activate
def test_a_new_config_backfills_the_last_48_hours(organisation, newrelic_config, make_rollup):
    config = newrelic_config()
    for hours_ago in (1, 30, 47, 49):
        make_rollup(organisation, HOUR - timedelta(hours=hours_ago - 1))
    responses.add(responses.POST, US, status=202, json={"requestId": "x"})
    with freeze_time(NOW):
        result = sync_monitoring(config)
    stamps = sorted(gunzip_json(c.request.body)[0]["common"]["timestamp"] for c in responses.calls)
    assert len(stamps) == 3 and result.delivered == 3  # 49 h ago is beyond what New Relic accepts
    assert stamps[-1] == int(HOUR.timestamp() * 1000)
    assert MonitoringCursor.objects.get(config=config).last_exported_hour == HOUR


def test_bodies_stay_under_the_uncompressed_limit_and_keep_their_common_block():
    common = {"timestamp": 1, "attributes": {"org": "acme"}}
    metric = {"name": "wedsync.ai.requests", "type": "count", "value": 1, "interval.ms": 3_600_000,
              "attributes": {"feature": "f" * 200}}  # fmt: skip
    blocks = [
        {"common": common, "metrics": [metric] * 6000},
        {"common": {**common, "timestamp": 2}, "metrics": [metric]},
    ]
    bodies = split_blocks(blocks, MAX_BODY_BYTES - 1000)
    assert len(bodies) == 2
    for body in bodies:
        assert len(json.dumps(body, separators=(",", ":"))) <= MAX_BODY_BYTES
        assert all(block["common"]["attributes"] == {"org": "acme"} for block in body)
    assert sum(len(block["metrics"]) for body in bodies for block in body) == 6001


def test_attribute_limits():
    many = {f"a{i}": "v" for i in range(150)}
    merged = attributes({"org": "acme"}, many, {"long": "x" * 5000})
    assert len(merged) == 100 and merged["org"] == "acme"
    assert len(attributes({"k" * 300: "y" * 5000})["k" * 255]) == 4096


@responses.activate
def test_413_splits_and_resends_each_metric_once(organisation, newrelic_config, make_rollup):
    config = newrelic_config()
    make_rollup(organisation, HOUR)
    responses.add(responses.POST, US, status=413)
    responses.add(responses.POST, US, status=202, json={"requestId": "x"})
    with freeze_time(NOW):
        assert sync_monitoring(config).delivered == 1
    first, *rest = responses.calls
    sent = [
        (b["common"]["timestamp"], m["name"]) for c in rest for b in gunzip_json(c.request.body) for m in b["metrics"]
    ]
    everything = [(b["common"]["timestamp"], m["name"]) for b in gunzip_json(first.request.body) for m in b["metrics"]]
    assert sent == everything and len(rest) == 2


@responses.activate
def test_health_check_posts_one_gauge_and_needs_202(organisation, newrelic_config):
    config = newrelic_config()
    responses.add(responses.POST, US, status=202, json={"requestId": "r-1"})
    with freeze_time(NOW):
        result = health.check(config)
    assert result["ok"] and "one health-check point" in result["message"]
    (body,) = json.loads(gzip.decompress(responses.calls[0].request.body))
    assert body["metrics"] == [
        {"name": "wedsync.integration.health_check", "type": "gauge", "value": 1, "attributes": {"org": "acme"}}
    ]
    responses.replace(responses.POST, US, status=403, json={})
    assert not health.check(config, refresh=True)["ok"]


@pytest.mark.parametrize(
    "metric",
    [
        {"name": "wedsync.ai.requests", "type": "count", "value": 40, "interval.ms": 3_600_000,
         "attributes": {"provider": "openai", "feature": 'é"quoted\\', "model": "m"}},
        {"name": "x", "type": "gauge", "value": 0.1 + 0.2},
        {"name": "x", "type": "gauge", "value": 1, "attributes": {}},
        {"name": "x", "type": "gauge", "value": 1, "attributes": {"a": 1, "b": True, "c": "\n"}},
        {"name": "wedsync.ai.response_time", "type": "summary", "interval.ms": 3_600_000,
         "value": {"count": 3, "sum": 1234.5, "min": 0.1, "max": 1e16}, "attributes": {"model": "m"}},
    ],
)  # fmt: skip
def test_metric_sizes_are_computed_exactly(metric):
    from monitoring.providers.newrelic import json_size, metric_size

    assert metric_size(metric) == json_size(metric)


def test_built_blocks_carry_exact_metric_sizes(organisation, make_rollup, newrelic_config):
    from monitoring.metrics import build_intervals, integration_snapshot
    from monitoring.providers.newrelic import json_size

    make_rollup(organisation, HOUR, model="Odd Model/ü", cost_gbp="0.333333")
    provider = newrelic_config().get_provider()
    for part in [*build_intervals(organisation, [HOUR]), integration_snapshot(organisation)]:
        block, sizes = provider.block_of(part)
        assert sizes == [json_size(metric) for metric in block["metrics"]]


@responses.activate
def test_a_month_long_gap_is_reported_once_and_the_recent_hours_still_go_out(
    organisation, newrelic_config, make_rollup
):
    config = newrelic_config()
    MonitoringCursor.objects.create(config=config, last_exported_hour=HOUR - timedelta(days=30))
    make_rollup(organisation, HOUR - timedelta(days=10))
    make_rollup(organisation, HOUR - timedelta(days=3))
    make_rollup(organisation, HOUR)
    responses.add(responses.POST, US, status=202, json={"requestId": "x"})
    with freeze_time(NOW):
        result = sync_monitoring(config)
    (stale,) = family.sync_log_model.objects.filter(outcome=SyncOutcome.SKIPPED)
    assert result.skipped == 2 and stale.detail["hours_with_usage"] == 2
    # everything before the 47 whole hours New Relic still takes (48 h less the 5 min sending margin)
    assert stale.detail["hours_skipped"] == 30 * 24 - 47
    assert result.delivered == 1 and MonitoringCursor.objects.get(config=config).last_exported_hour == HOUR
