"""Executive metrics from rollups: every documented formula on known figures, per organisation and
platform, per London day and month; only finished, clean hours; incremental refresh."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from bi import metrics
from bi.models import ExecutiveMetrics, FeatureUsage, Period
from wedsync_integrations.usage.models import RollupDirtyHour, UsageRollup

from .conftest import NOW, utc

pytestmark = pytest.mark.django_db


def row(scope, period, start) -> ExecutiveMetrics:
    key = "platform" if scope == "platform" else f"org:{scope.pk}"
    return ExecutiveMetrics.objects.get(scope_key=key, period=period, period_start=start)


def test_a_day_follows_the_documented_formulas(june):
    acme, _ = june
    metrics.refresh(NOW)
    friday = row(acme, Period.DAY, date(2026, 6, 12))
    assert (friday.requests, friday.errors, friday.tokens) == (70, 14, 114_000)
    assert friday.cost_gbp == Decimal("1.7375") and friday.cost_usd == Decimal("3.75")
    assert friday.weddings_ai_assisted == 3  # w1, w2, w3: w2 helped in two hours counts once
    assert friday.cost_per_wedding_gbp == Decimal("0.5792")  # 1.7375 / 3
    assert friday.value_generated_gbp == Decimal("175.0000")  # 70 × £2.50
    assert friday.roi_percent == pytest.approx(9971.9424)  # (175 − 1.7375) / 1.7375 × 100
    assert friday.efficiency_gain_hours == Decimal("17.5000")  # 70 × 15 min
    assert friday.client_satisfaction_percent == pytest.approx(78.2609)  # 36 / 46
    assert friday.peak_season_readiness_percent == pytest.approx(40.0)  # Friday 19:00 BST: 8 of 20 succeeded
    assert (friday.active_hours, friday.down_hours, friday.uptime_percent) == (2, 1, 50.0)  # 18:00 had 60 % errors
    assert friday.capacity_utilisation_percent == pytest.approx(70.0)  # 35 per active hour / busiest hour 50
    assert friday.avg_response_ms == pytest.approx(928.5714)
    assert friday.error_rate_percent == pytest.approx(20.0)
    assert friday.adoption_rate_percent == 100.0 and friday.is_complete
    assert friday.season == "peak" and friday.gate_passed, friday.gate_failures
    features = {f.feature: (f.requests, f.cost_gbp) for f in friday.features.all()}
    assert features == {"email_template": (60, Decimal("1.2375")), "content_writing": (10, Decimal("0.5"))}


def test_trailing_figures_look_back_over_stored_days(june):
    acme, _ = june
    metrics.refresh(NOW)
    saturday = row(acme, Period.DAY, date(2026, 6, 13))
    assert saturday.cost_trend_30d_percent is None  # nothing in the 30 days before: no trend, not 0 %
    assert saturday.seasonal_cost_variation_percent == pytest.approx(-48.6631)  # 0.6 vs 2.3375 / 2 per day
    assert saturday.capacity_utilisation_percent == pytest.approx(60.0)  # 30 / busiest hour of 90 days (50)
    assert saturday.peak_season_readiness_percent == 100.0  # Saturday: the whole day is wedding-day window
    assert not saturday.is_complete and saturday.as_of == utc(2026, 6, 13, 15)


def test_the_cost_trend_compares_two_thirty_day_windows(organisation, make_rollup):
    make_rollup(organisation, utc(2026, 5, 1, 10), cost_gbp=Decimal("2.00"))  # 43 days before 13 June
    make_rollup(organisation, utc(2026, 6, 13, 10), cost_gbp=Decimal("3.00"))
    metrics.refresh(NOW)
    assert row(organisation, Period.DAY, date(2026, 6, 13)).cost_trend_30d_percent == pytest.approx(50.0)


def test_a_month_adds_up_its_days_and_counts_each_wedding_once(june):
    acme, _ = june
    metrics.refresh(NOW)
    month = row(acme, Period.MONTH, date(2026, 6, 1))
    assert month.period_end == date(2026, 7, 1) and not month.is_complete
    assert (month.requests, month.errors, month.cost_gbp) == (100, 14, Decimal("2.3375"))
    assert month.weddings_ai_assisted == 3 and month.cost_per_wedding_gbp == Decimal("0.7792")
    assert month.adoption_rate_percent == pytest.approx(100 * 2 / 13)  # used AI on 2 of June's 13 days so far
    assert month.uptime_percent == pytest.approx(66.6667)
    total = FeatureUsage.objects.filter(metrics=month)
    assert sum(f.requests for f in total) == 100


def test_the_platform_adds_up_organisations(june):
    metrics.refresh(NOW)
    friday = row("platform", Period.DAY, date(2026, 6, 12))
    saturday = row("platform", Period.DAY, date(2026, 6, 13))
    assert (friday.active_vendors, friday.vendors_total, friday.adoption_rate_percent) == (1, 2, 50.0)
    assert (saturday.requests, saturday.active_vendors, saturday.adoption_rate_percent) == (40, 2, 100.0)
    month = row("platform", Period.MONTH, date(2026, 6, 1))
    assert (month.requests, month.active_vendors, month.weddings_ai_assisted) == (110, 2, 3)
    assert month.value_generated_gbp == Decimal("275.0000")


def test_only_finished_clean_hours_count(june, make_rollup):
    acme, other = june
    make_rollup(acme, utc(2026, 6, 13, 15), requests=999)  # the hour in progress at 15:05
    RollupDirtyHour.objects.create(organisation=acme, hour=utc(2026, 6, 13, 11))  # still being rolled up
    metrics.refresh(NOW)
    saturday = row("platform", Period.DAY, date(2026, 6, 13))
    assert saturday.as_of == utc(2026, 6, 13, 11)  # everything before the first dirty hour, nothing after
    assert saturday.requests == 40


def test_a_refresh_rewrites_only_what_changed(june):
    acme, _ = june
    metrics.refresh(NOW)
    friday_before = row(acme, Period.DAY, date(2026, 6, 12)).changed_at
    saturday_before = row(acme, Period.DAY, date(2026, 6, 13)).changed_at
    assert metrics.refresh(NOW + timedelta(minutes=1)).rows_changed == 0
    rollup = UsageRollup.objects.get(organisation=acme, hour=utc(2026, 6, 13, 9))
    rollup.requests = 31
    rollup.save()  # late usage recomputed the hour
    later = NOW + timedelta(minutes=2)
    result = metrics.refresh(later)
    assert result.rows_changed == 4  # acme's Saturday and June, the platform's Saturday and June
    assert row(acme, Period.DAY, date(2026, 6, 12)).changed_at == friday_before
    assert row(acme, Period.DAY, date(2026, 6, 13)).changed_at > saturday_before
    assert row(acme, Period.DAY, date(2026, 6, 13)).requests == 31


def test_a_day_becomes_complete_once_it_has_ended(organisation, make_rollup):
    make_rollup(organisation, utc(2026, 6, 13, 20))
    metrics.refresh(utc(2026, 6, 13, 22, 5))
    assert not row(organisation, Period.DAY, date(2026, 6, 13)).is_complete
    metrics.refresh(utc(2026, 6, 13, 23, 5))  # midnight in London (BST)
    assert row(organisation, Period.DAY, date(2026, 6, 13)).is_complete


def test_london_days_not_utc_days(organisation, make_rollup):
    make_rollup(organisation, utc(2026, 6, 12, 23), requests=5)  # 00:00 BST on Saturday 13th
    metrics.refresh(NOW)
    assert row(organisation, Period.DAY, date(2026, 6, 13)).requests == 5
    assert not ExecutiveMetrics.objects.filter(period="day", period_start=date(2026, 6, 12)).exists()
