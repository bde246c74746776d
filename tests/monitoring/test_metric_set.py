"""The metric set: figures from rollups to the penny, tags per product rules, bounded queries."""

from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from monitoring.metrics import build_intervals, integration_snapshot
from wedsync_integrations.integrations.breaker import CircuitBreaker
from wedsync_integrations.integrations.models import SyncOutcome
from wedsync_integrations.integrations.registry import get_family

from .conftest import HOUR, utc

pytestmark = pytest.mark.django_db


def _by_name(interval, **tags):
    return {s.metric.name: s.value for s in interval.samples if all(s.tags.get(k) == v for k, v in tags.items())}


def test_an_hour_of_rollups_becomes_the_product_metrics(settings, organisation, make_rollup, make_wedding, assisted):
    settings.ENVIRONMENT_NAME = "prod"
    make_rollup(organisation, HOUR)
    wedding = make_wedding(organisation, date(2026, 6, 13), region="South West")
    assisted(organisation, HOUR, wedding.pk, "2026-06-20")
    (interval,) = build_intervals(organisation, [HOUR])
    assert interval.common == {
        "service": "ai_architecture",
        "env": "prod",
        "region": "South West",
        "season": "peak",
        "context": "wedding_industry",
        "org": "acme",
    }
    values = _by_name(interval, provider="openai", feature="email_template", model="gpt-4o-mini")
    assert values == {
        "wedsync.ai.requests": 40,
        "wedsync.ai.errors": 2,
        "wedsync.ai.tokens": 38_000,
        "wedsync.ai.cost": 0.9875,  # GBP
        "wedsync.ai.wedding_requests_per_hour": 12,
        "wedsync.ai.response_time": 900.0,  # 36,000 ms over 40 requests
        "wedsync.ai.response_time.p50": 750.0,
        "wedsync.ai.response_time.p95": 2300.5,
        "wedsync.ai.response_time.max": 4100.0,
        "wedsync.ai.cost_per_request": 0.024688,  # £0.9875 / 40, to the micro-penny
        "wedsync.ai.success_rate": 95.0,
    }
    (response_time,) = [s for s in interval.samples if s.metric.name == "wedsync.ai.response_time"]
    assert response_time.summary == (40, 36_000.0, 120.0, 4_100.0)  # count, sum, min, max (ms)
    # distinct weddings (a wedding id and a date-only wedding), counted once per organisation
    weddings = [s for s in interval.samples if s.metric.name == "wedsync.ai.weddings_assisted"]
    assert [(s.value, s.tags) for s in weddings] == [(2, {})]


def test_season_is_that_of_the_hour_in_london(organisation, make_rollup):
    # 23:30 UTC on 30 April is 00:30 BST on 1 May: already peak season in London
    make_rollup(organisation, utc(2026, 4, 30, 23))
    make_rollup(organisation, utc(2026, 4, 30, 22))
    late, early = sorted(build_intervals(organisation, [utc(2026, 4, 30, 22), utc(2026, 4, 30, 23)]),
                         key=lambda i: i.hour, reverse=True)  # fmt: skip
    assert late.common["season"] == "peak"
    assert early.common["season"] == "shoulder"
    assert early.common["region"] == "unknown"


def test_hours_without_usage_or_exports_are_left_out(organisation, make_rollup):
    make_rollup(organisation, HOUR)
    assert [i.hour for i in build_intervals(organisation, [utc(2026, 6, 13, 13), HOUR])] == [HOUR]


def test_integration_exports_by_outcome_and_the_health_snapshot(organisation, make_rollup, make_config):
    family = get_family("monitoring")
    make_config("monitoring", organisation, "datadog", secrets={"api_key": "x" * 32})
    for outcome in (SyncOutcome.SUCCESS, SyncOutcome.SUCCESS, SyncOutcome.RETRYING):
        family.sync_log_model.objects.create(
            organisation=organisation, provider="datadog", operation="series", outcome=outcome,
            started_at=utc(2026, 6, 13, 14, 30),
        )  # fmt: skip
    family.sync_log_model.objects.create(
        organisation=organisation, provider="datadog", operation="series", outcome="success",
        started_at=utc(2026, 6, 13, 15, 1),  # next hour: not counted in 14:00
    )  # fmt: skip
    (interval,) = build_intervals(organisation, [HOUR])
    exports = {
        s.tags["outcome"]: s.value
        for s in interval.samples
        if s.metric.name == "wedsync.integrations.exports" and s.tags["family"] == "monitoring"
    }
    assert exports == {"success": 2, "retrying": 1}

    breaker = CircuitBreaker("monitoring", organisation.pk, "datadog")
    for _ in range(10):
        breaker.record_failure()
    snapshot = integration_snapshot(organisation)
    assert {(s.metric.name, s.value) for s in snapshot.samples if s.tags["integration"] == "datadog"} == {
        ("wedsync.integrations.queue_depth", 0),
        ("wedsync.integrations.circuit_state", 2),
    }


def test_building_many_hours_and_series_costs_a_fixed_number_of_queries(organisation, make_rollup):
    hours = [utc(2026, 6, 13, h) for h in range(24)]
    for hour in hours:
        for feature in ("email_template", "form_generation", "content_writing"):
            make_rollup(organisation, hour, feature=feature)
    with CaptureQueriesContext(connection) as queries:
        intervals = build_intervals(organisation, hours)
    assert len(intervals) == 24 and sum(len(i.samples) for i in intervals) == 24 * 3 * 11
    assert len(queries) <= 8
