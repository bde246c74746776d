"""The data-quality gates, one check at a time, on rows as computed (bi/gates.py)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from bi import gates, metrics
from bi.models import ExecutiveMetrics
from wedsync_integrations.usage.models import RollupDirtyHour, UsageRollup

from .conftest import NOW, utc

pytestmark = pytest.mark.django_db


@pytest.fixture
def friday(june):
    metrics.refresh(NOW)
    return ExecutiveMetrics.objects.get(scope_key=f"org:{june[0].pk}", period="day", period_start=date(2026, 6, 12))


def judged(row, features=None) -> list[str]:
    return gates.judge_computed(row, list(row.features.all()) if features is None else features)


def test_a_sound_row_passes_every_check(friday):
    assert judged(friday) == [] and friday.gate_passed


def test_required_fields_must_be_present(friday):
    friday.adoption_rate_percent = None
    assert judged(friday) == ["required: adoption_rate_percent is missing"]


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("roi_percent", float("nan"), "finite: roi_percent is nan"),
        ("avg_response_ms", float("inf"), "finite: avg_response_ms is inf"),
        ("requests", -1, "finite: requests is negative (-1)"),
        ("cost_gbp", Decimal("-0.01"), "finite: ai_cost_gbp is negative (-0.0100)"),
        ("uptime_percent", 100.5, "percent: uptime_percent is 100.5, outside 0-100"),
        ("error_rate_percent", -3.0, "percent: error_rate_percent is -3.0, outside 0-100"),
    ],
)
def test_numbers_finite_non_negative_and_percentages_within_range(friday, field, value, message):
    setattr(friday, field, value)
    failures = judged(friday)
    assert message in failures


def test_a_change_percentage_may_be_negative(friday):
    friday.seasonal_cost_variation_percent = -48.0
    assert judged(friday) == []


def test_breakdowns_add_up_to_totals_within_a_penny(friday):
    features = list(friday.features.all())
    features[0].cost_gbp += Decimal("0.009")
    assert judged(friday, features) == []  # within £0.01
    features[0].cost_gbp += Decimal("0.002")
    assert any(f.startswith("breakdown: feature costs add up to £1.7485") for f in judged(friday, features))
    features = list(friday.features.all())
    features[0].requests -= 1
    assert judged(friday, features) == ["breakdown: feature requests add up to 69, the total is 70"]


def test_the_period_must_be_well_formed(friday):
    friday.period_end = friday.period_start + timedelta(days=2)
    assert judged(friday)[0].startswith("period: day from 2026-06-12 to 2026-06-14")
    friday.period_end = friday.period_start + timedelta(days=1)
    friday.as_of = utc(2026, 6, 20)
    assert judged(friday)[0].startswith("period: counted up to 2026-06-20 00:00Z")
    friday.period, friday.period_start, friday.period_end = "month", date(2026, 6, 2), date(2026, 7, 1)
    assert judged(friday)[0].startswith("period: month from 2026-06-02")


def test_a_cost_still_waiting_for_a_rate_fails(friday):
    friday.unpriced_requests = 4
    assert judged(friday) == ["rates: 4 request(s) still wait for a USD→GBP exchange rate"]


def test_stale_metrics_and_hours_being_recomputed_fail_at_push_time(friday, june):
    rows = [friday]
    assert gates.judge_push(rows, now=NOW, refreshed_as_of=utc(2026, 6, 13, 15)) == []
    assert gates.judge_push(rows, now=NOW, refreshed_as_of=utc(2026, 6, 13, 11))[0].startswith("stale: the metrics")
    assert gates.judge_push(rows, now=NOW, refreshed_as_of=None) == [
        "stale: the metrics count usage up to never, more than 3:00:00 ago"
    ]
    RollupDirtyHour.objects.create(organisation=june[0], hour=utc(2026, 6, 12, 18))  # late usage for Friday
    assert gates.judge_push(rows, now=NOW, refreshed_as_of=utc(2026, 6, 13, 15)) == [
        "stale: the rollup of 2026-06-12 18:00Z is being recomputed (late usage)"
    ]
    RollupDirtyHour.objects.all().delete()
    RollupDirtyHour.objects.create(organisation=june[1], hour=utc(2026, 6, 12, 18))  # another organisation's
    assert gates.judge_push(rows, now=NOW, refreshed_as_of=utc(2026, 6, 13, 15)) == []


def test_the_verdict_is_stored_with_the_row(june):
    UsageRollup.objects.filter(organisation=june[1]).update(unpriced_requests=1)
    metrics.refresh(NOW)
    bloom = ExecutiveMetrics.objects.get(scope_key=f"org:{june[1].pk}", period="day")
    platform = ExecutiveMetrics.objects.get(scope_key="platform", period="day", period_start=date(2026, 6, 13))
    assert not bloom.gate_passed and bloom.gate_failures[0].startswith("rates:")
    assert not platform.gate_passed  # the platform includes bloom's pending cost
