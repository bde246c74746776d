"""The value report: the product's figures with each organisation's parameters, and the figures
derived from its real usage, as every CRM and the admin preview receive them."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from crm import render, value
from crm.models import MonthlyUsage
from wedsync_integrations.calendar import Month
from wedsync_integrations.usage.models import RollupDirtyHour, RollupWedding, UsageRollup

from .conftest import JUNE, NOW, london_hour

pytestmark = pytest.mark.django_db


def test_the_product_example_100_requests(organisation, usage):
    usage(organisation, JUNE, requests=100)
    report = value.build_report(organisation, JUNE)
    assert report.requests == 100
    assert report.time_saved_hours == Decimal("25.00")
    assert report.cost_savings_gbp == Decimal("250.00")
    assert report.revenue_opportunity_gbp == Decimal("1000.00")
    assert report.client_retention_improvement_pct == Decimal("15")
    figures = report.figures()
    assert (figures["time_saved_hours"], figures["cost_savings_gbp"], figures["revenue_opportunity_gbp"]) == (
        "25", "250.00", "1000.00",
    )  # fmt: skip
    assert figures["client_retention_improvement_pct"] == "15"
    assert figures["report_id"] == "wedsync:acme:2026-06"


def test_each_organisation_uses_its_own_parameters_rounded_half_up(make_organisation, usage):
    studio = make_organisation(
        slug="kew", minutes_saved_per_request=Decimal("20"), value_per_request_gbp=Decimal("3.10"),
        revenue_multiplier=Decimal("2.5"), retention_uplift_percent=Decimal("10"),
    )  # fmt: skip
    usage(studio, JUNE, requests=40, errors=3)
    report = value.build_report(studio, JUNE)
    assert report.successful_requests == 37
    assert report.time_saved_hours == Decimal("12.33")  # 37 × 20 ÷ 60 = 12.333…
    assert report.cost_savings_gbp == Decimal("114.70")
    assert report.revenue_opportunity_gbp == Decimal("286.75")
    assert report.client_retention_improvement_pct == Decimal("10")


def test_failed_requests_save_nobody_any_time(organisation, usage):
    usage(organisation, JUNE, requests=100, errors=4)
    report = value.build_report(organisation, JUNE)
    assert (report.requests, report.successful_requests) == (100, 96)
    assert (report.time_saved_hours, report.cost_savings_gbp) == (Decimal("24.00"), Decimal("240.00"))


def test_a_month_without_usage_claims_nothing(organisation):
    report = value.build_report(organisation, JUNE)
    assert report.requests == 0
    assert report.client_retention_improvement_pct == 0
    for name in ("efficiency_improvement_pct", "faster_response_pct", "peak_usage_share_pct", "mean_response_ms",
                 "season_performance_pct"):  # fmt: skip
        assert getattr(report, name) is None, name
    assert report.projection.requests == 0


def test_derived_figures_come_from_this_month_and_the_last(organisation, usage):
    usage(organisation, JUNE.previous, requests=60, latency_ms=1250)  # May: 31 days
    usage(organisation, JUNE, requests=100, in_window=40, latency_ms=1000, weddings=("7", "2026-06-20"))
    report = value.build_report(organisation, JUNE)
    # (100 ÷ 30) ÷ (60 ÷ 31) − 1 = 72.2 %
    assert report.efficiency_improvement_pct == Decimal("72.2")
    assert report.mean_response_ms == Decimal("1000")
    assert report.faster_response_pct == Decimal("20.0")  # (1250 − 1000) ÷ 1250
    assert report.peak_usage_share_pct == Decimal("40.0")
    assert str(report.season) == "peak"
    assert report.season_performance_pct == Decimal("72.2")  # May is the only earlier month with usage
    assert report.weddings_assisted == 2
    projection = report.projection
    assert projection.month == Month(2026, 7) and projection.season_factor is None  # July is peak too
    assert projection.requests == 103  # 100 ÷ 30 × 31 = 103.3
    assert (projection.time_saved_hours, projection.cost_savings_gbp) == (Decimal("25.75"), Decimal("257.50"))


def test_a_slower_month_is_reported_as_slower(organisation, usage):
    usage(organisation, JUNE.previous, requests=10, latency_ms=800)
    usage(organisation, JUNE, requests=10, latency_ms=1000)
    report = value.build_report(organisation, JUNE)
    assert report.faster_response_pct == Decimal("-25.0")
    assert "25% slower than May 2026" in render.report_document(report).as_text()


def test_the_projection_follows_the_organisations_own_seasonal_ratio(organisation, usage):
    september = Month(2026, 9)
    usage(organisation, Month(2025, 10), requests=45)  # shoulder: 45 ÷ 31 a day
    usage(organisation, Month(2026, 8), requests=93)  # peak: 3 a day
    usage(organisation, september, requests=90)  # peak: 3 a day
    report = value.build_report(organisation, september)
    projection = report.projection
    # October is shoulder season: (45 ÷ 31) ÷ ((93 + 90) ÷ (31 + 30)) = 0.48
    assert projection.season_factor == Decimal("0.48")
    assert projection.requests == 45  # 3 × 31 × 0.48 = 44.6
    assert "ratio (0.48)" in render.report_document(report).as_text()


def test_the_month_is_the_london_month_across_british_summer_time(organisation, make_rollup_row):
    make_rollup_row(organisation, datetime(2026, 5, 31, 22, tzinfo=UTC), requests=1)  # 23:00 BST 31 May
    make_rollup_row(organisation, datetime(2026, 5, 31, 23, tzinfo=UTC), requests=10)  # 00:00 BST 1 June
    make_rollup_row(organisation, datetime(2026, 6, 30, 22, tzinfo=UTC), requests=100)  # 23:00 BST 30 June
    make_rollup_row(organisation, datetime(2026, 6, 30, 23, tzinfo=UTC), requests=1000)  # 00:00 BST 1 July
    make_rollup_row(organisation, datetime(2026, 1, 31, 23, tzinfo=UTC), requests=7)  # GMT: still January
    assert value.build_report(organisation, JUNE).requests == 110
    assert value.build_report(organisation, Month(2026, 1)).requests == 7
    assert value.build_report(organisation, Month(2026, 5)).requests == 1


def test_peak_usage_counts_whole_hours_inside_the_wedding_day_window(organisation, make_rollup_row):
    friday = datetime(2026, 6, 12).date()
    make_rollup_row(organisation, london_hour(friday, 17), requests=30)  # 17:00–18:00: before the window
    make_rollup_row(organisation, london_hour(friday, 18), requests=10)  # the window opens
    sunday = datetime(2026, 6, 14).date()
    make_rollup_row(organisation, london_hour(sunday, 22), requests=20)  # last hour of the window
    make_rollup_row(organisation, london_hour(sunday, 23), requests=40)  # closed
    report = value.build_report(organisation, JUNE)
    assert report.peak_usage_share_pct == Decimal("30.0")  # (10 + 20) ÷ 100


def test_weddings_are_counted_once_however_many_hours_helped_them(organisation, make_rollup_row):
    for hour in (9, 10, 11):
        at = london_hour(datetime(2026, 6, 2).date(), hour)
        make_rollup_row(organisation, at, requests=1)
        RollupWedding.objects.create(organisation=organisation, hour=at, wedding_key="41")
    RollupWedding.objects.create(organisation=organisation, hour=at, wedding_key="2026-06-27")
    assert value.build_report(organisation, JUNE).weddings_assisted == 2


def test_a_months_usage_is_summed_from_rollups_once_then_read_as_one_row(make_organisation, usage,
                                                                           django_assert_num_queries):  # fmt: skip
    organisations = [make_organisation() for _ in range(12)]
    for index, org in enumerate(organisations):
        usage(org, JUNE, requests=10 + index)
    with django_assert_num_queries(1 + 13 * 4):  # what is kept; per month: sums, weddings, dirty hours, insert
        reports = value.build_reports(JUNE, organisations, now=NOW)
    assert [reports[org.pk].requests for org in organisations] == list(range(10, 22))
    assert MonthlyUsage.objects.count() == 12 * 13  # zeros included: summed, and there was nothing
    with django_assert_num_queries(2):  # a year of history for every organisation: two small queries
        assert value.build_reports(JUNE, organisations, now=NOW)[organisations[3].pk].requests == 13


def test_an_open_month_is_summed_live_and_never_stored(organisation, usage, make_rollup_row):
    usage(organisation, JUNE, requests=5)
    before_june_closes = datetime(2026, 7, 2, 12, tzinfo=UTC)
    assert value.build_report(organisation, JUNE, now=before_june_closes).requests == 5
    assert not MonthlyUsage.objects.filter(month=JUNE.first_day).exists()
    make_rollup_row(organisation, datetime(2026, 6, 29, 9, tzinfo=UTC), requests=1)  # late usage: counted
    assert value.build_report(organisation, JUNE, now=before_june_closes).requests == 6


def test_a_month_whose_rollups_are_not_final_is_not_stored(organisation, usage):
    usage(organisation, JUNE, requests=5)
    RollupDirtyHour.objects.create(organisation=organisation, hour=datetime(2026, 6, 20, 10, tzinfo=UTC))
    assert value.build_report(organisation, JUNE, now=NOW).requests == 5
    assert not MonthlyUsage.objects.filter(month=JUNE.first_day).exists()


def test_every_crm_gets_the_same_words(organisation, usage):
    usage(organisation, JUNE, requests=100)
    document = render.report_document(value.build_report(organisation, JUNE))
    text, html = document.as_text(), document.as_html()
    for line in ("AI requests: 100 (100 completed)", "Time saved: 25 hours", "Cost savings: £250.00",
                 "Revenue opportunity: £1,000.00", "Client retention improvement: 15%"):  # fmt: skip
        assert line in text and line.replace("&", "&amp;") in html
    footer = "WedSync AI value report for Acme Photography, June 2026 (ref wedsync:acme:2026-06)"
    assert text.endswith(footer) and footer in html


def test_html_escapes_what_staff_typed(make_organisation, usage):
    studio = make_organisation(slug="evil", name="<script>alert(1)</script> & Co")
    usage(studio, JUNE, requests=1)
    html = render.report_document(value.build_report(studio, JUNE)).as_html()
    assert "<script>" not in html and "&lt;script&gt;" in html


@pytest.fixture
def make_rollup_row(db):
    def make(organisation, hour, *, requests, errors=0, latency_sum_ms=None):
        return UsageRollup.objects.create(
            organisation=organisation, hour=hour, feature="email_template", provider="openai", model="gpt-4o-mini",
            requests=requests, errors=errors, prompt_tokens=0, completion_tokens=0, cost_usd=0, cost_gbp=0,
            latency_sum_ms=latency_sum_ms if latency_sum_ms is not None else 900 * requests, latency_max_ms=2000,
            latency_p50_ms=900.0, latency_p95_ms=1500.0, weddings_assisted=0, wedding_requests=0,
        )  # fmt: skip

    return make
