"""The monthly cost report: London months, the figures staff and accountants see, and a month that
reconciles to the penny with an independent sum of its usage records."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db.models import Sum

from accounting import report as report_module
from accounting.months import Month, closed_months, rolling_twelve_months
from accounting.report import build_report, build_reports
from wedsync_integrations.usage.models import AIUsageRecord, ExchangeRate

pytestmark = pytest.mark.django_db
D = Decimal


# -- months -------------------------------------------------------------------------------------------------
def test_months_are_named_yyyy_mm_zero_padded_and_nothing_else():
    assert Month.parse("2026-05") == Month(2026, 5) and Month(2026, 5).label == "2026-05"
    for bad in ("2026-5", "26-05", "2026-13", "2026/05", "", "May 2026"):
        with pytest.raises(ValueError, match="use YYYY-MM"):
            Month.parse(bad)


def test_a_month_runs_from_london_midnight_so_summer_months_start_at_2300_utc():
    june = Month(2026, 6)
    assert june.start == datetime(2026, 5, 31, 23, tzinfo=UTC)
    assert june.end == datetime(2026, 6, 30, 23, tzinfo=UTC)
    assert Month(2026, 12).start == datetime(2026, 12, 1, tzinfo=UTC)  # GMT in winter
    assert Month.of(datetime(2026, 5, 31, 23, 30, tzinfo=UTC)) == june  # 00:30 BST on 1 June


def test_a_month_closes_two_days_after_it_ends_in_london(settings):
    november = Month(2026, 11)
    assert november.closes_at == datetime(2026, 12, 3, tzinfo=UTC)
    assert not november.is_closed(datetime(2026, 12, 2, 23, 59, tzinfo=UTC))
    assert november.is_closed(datetime(2026, 12, 3, tzinfo=UTC))
    settings.ACCOUNTING_MONTH_CLOSE_DAYS = 5
    assert not november.is_closed(datetime(2026, 12, 5, tzinfo=UTC))
    assert closed_months(Month(2026, 9), datetime(2026, 12, 5, tzinfo=UTC)) == [Month(2026, 9), Month(2026, 10)]


def test_the_rolling_twelve_months_are_the_last_whole_london_months():
    assert rolling_twelve_months(datetime(2026, 12, 7, tzinfo=UTC)) == (date(2025, 12, 1), date(2026, 11, 30))


# -- the report -----------------------------------------------------------------------------------------------
def test_the_report_has_every_figure_the_product_promises(add_usage, organisation):
    at = datetime(2026, 6, 10, 9, 15, tzinfo=UTC)
    add_usage(organisation, [
        (at, "openai", "email_template", "1.000000", "0.790000"),
        (at + timedelta(minutes=5), "openai", "content_writing", "2.000000", "1.580000"),
        (at + timedelta(hours=3), "anthropic", "email_template", "0.500000", "0.395000"),
        (datetime(2026, 5, 31, 23, 30, tzinfo=UTC), "google", "form_generation", "0.100000", "0.079000"),  # June (BST)
        (datetime(2026, 6, 30, 23, 30, tzinfo=UTC), "google", "form_generation", "9.000000", "7.110000"),  # July
    ])  # fmt: skip
    report = build_report(organisation, Month(2026, 6))

    assert (report.total.requests, report.total.cost_usd, report.cost_gbp) == (4, D("3.6"), D("2.844"))
    assert {name: f.cost_gbp for name, f in report.by_provider.items()} == {
        "openai": D("2.37"),
        "anthropic": D("0.395"),
        "google": D("0.079"),
    }
    assert {name: f.requests for name, f in report.by_use_case.items()} == {
        "email_template": 2,
        "content_writing": 1,
        "form_generation": 1,
    }
    assert report.usage_hours == 3 and report.cost_per_hour == D("0.95")  # 2.844 / 3 = 0.948
    assert report.vendor_type == "Photographer"
    assert report.is_final and report.as_json()["cost_gbp_rounded"] == "2.84"


def test_the_report_lists_the_usd_gbp_rates_in_force_on_the_months_days(organisation):
    for day, rate in ((date(2026, 5, 28), "0.791000"), (date(2026, 6, 1), "0.792000"), (date(2026, 6, 15), "0.788000"),
                      (date(2026, 7, 1), "0.800000")):  # fmt: skip
        ExchangeRate.objects.create(date=day, rate=D(rate), source="BoE XUDLUSS")
    assert build_report(organisation, Month(2026, 6)).exchange_rates == [
        {"usd_gbp": "0.792000", "from": "2026-06-01", "to": "2026-06-14", "source": "BoE XUDLUSS"},
        {"usd_gbp": "0.788000", "from": "2026-06-15", "to": "2026-06-30", "source": "BoE XUDLUSS"},
    ]
    assert build_report(organisation, Month(2026, 5)).exchange_rates == [
        {"usd_gbp": "0.791000", "from": "2026-05-28", "to": "2026-05-31", "source": "BoE XUDLUSS"},
    ]


def test_a_month_with_usage_waiting_for_an_exchange_rate_is_not_final(add_usage, organisation):
    at = datetime(2026, 6, 10, 9, tzinfo=UTC)
    add_usage(organisation, [(at, "openai", "email_template", "1.0", "0.79"), (at, "openai", "email_template", "1.0",
                                                                             None)])  # fmt: skip
    report = build_report(organisation, Month(2026, 6))
    assert report.total.unpriced_requests == 1 and report.cost_gbp == D("0.79")  # the priced part only
    assert not report.is_final
    assert "1 request(s) of June 2026 still wait for a USD→GBP exchange rate" in report.not_final_reason()


def test_a_month_whose_hours_are_still_being_rolled_up_is_not_final(add_usage, organisation):
    add_usage(organisation, [(datetime(2026, 6, 10, 9, tzinfo=UTC), "openai", "email_template", "1.0", "0.79")],
              roll_up=False)  # fmt: skip
    report = build_report(organisation, Month(2026, 6))
    assert report.dirty_hours == 1 and not report.is_final


def test_a_month_reconciles_to_the_penny_with_an_independent_sum_of_its_records(add_usage, organisation,
                                                                                make_organisation):  # fmt: skip
    rng = random.Random(20261130)
    start = datetime(2026, 10, 31, 12, tzinfo=UTC)
    rows = []
    for _ in range(800):
        at = start + timedelta(minutes=rng.randrange(0, 31 * 24 * 60))  # spills over both month ends
        usd = D(rng.randrange(1, 5_000_000)) / D(1_000_000)
        rows.append((at, rng.choice(["openai", "anthropic", "google"]), rng.choice(["email_template", "contract"]),
                     usd, (usd * D("0.7913")).quantize(D("0.000001"))))  # fmt: skip
    add_usage(organisation, rows)
    add_usage(make_organisation(), rows[:50])  # another tenant's usage never counts

    # independently: the records whose London date is in November, summed by the database
    london = ZoneInfo("Europe/London")
    lo, hi = datetime(2026, 11, 1, tzinfo=london), datetime(2026, 12, 1, tzinfo=london)
    mine = AIUsageRecord.objects.filter(organisation=organisation, occurred_at__gte=lo, occurred_at__lt=hi)
    independent = mine.aggregate(total=Sum("cost_gbp"))["total"]
    in_python = sum(gbp for at, _, _, _, gbp in rows if lo <= at < hi)
    assert independent == in_python

    reports = build_reports([organisation], Month(2026, 11))
    report = reports[organisation.pk]
    assert report.cost_gbp == independent  # to the last of six decimals
    assert report.total.requests == mine.count()
    assert D(report.as_json()["cost_gbp_rounded"]) == independent.quantize(D("0.01"), rounding=ROUND_HALF_UP)
    assert sum(f.cost_gbp for f in report.by_provider.values()) == independent
    assert sum(f.cost_gbp for f in report.by_use_case.values()) == independent


@pytest.mark.django_db(transaction=True)
def test_reports_read_for_every_organisation_at_once_equal_each_ones_own(add_usage, make_organisation, monkeypatch):
    """Month-end's form (all organisations' rollups, on PostgreSQL the passes side by side on their
    own connections, reading one exported snapshot) gives each organisation its own report."""
    at = datetime(2026, 11, 20, 15, tzinfo=UTC)
    organisations = [make_organisation(), make_organisation(), make_organisation()]
    for n, organisation in enumerate(organisations):
        add_usage(organisation, [(at + timedelta(hours=h), provider, "email_template", "1.25", f"0.98765{n}")
                                 for h in range(n + 1) for provider in ("openai", "google")])  # fmt: skip
    alone = {org.pk: build_report(org, Month(2026, 11)).as_json() for org in organisations}

    monkeypatch.setattr(report_module, "ALL_AT_ONCE", 1)
    together = build_reports(organisations, Month(2026, 11))

    assert {pk: report.as_json() for pk, report in together.items()} == alone
    assert [alone[org.pk]["usage_hours"] for org in organisations] == [1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_month_end_sums_read_in_parts_of_the_table_equal_each_organisations_own(add_usage, make_organisation,
                                                                               monkeypatch):  # fmt: skip
    """On PostgreSQL month-end sums the rollups in ranges of the table's pages, side by side: an
    organisation's figures spread over several ranges still add up to its own report."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("the table is read in parts on PostgreSQL only")
    start = datetime(2026, 11, 2, tzinfo=UTC)
    organisations = [make_organisation() for _ in range(3)]
    for n, organisation in enumerate(organisations):  # ~150 rollup rows: several pages
        add_usage(organisation, [(start + timedelta(hours=h), ("openai", "google")[h % 2],
                                  ("email_template", "contract")[h % 3 == 0], "0.333333", f"0.26{n}{h % 7}001")
                                 for h in range(50)])  # fmt: skip
    alone = {org.pk: build_report(org, Month(2026, 11)).as_json() for org in organisations}

    monkeypatch.setattr(report_module, "ALL_AT_ONCE", 1)
    monkeypatch.setattr(report_module, "SUMS_PARTS", 3)
    assert len({first for first, _ in report_module._block_ranges()}) == 3  # really split
    together = build_reports(organisations, Month(2026, 11))

    assert {pk: report.as_json() for pk, report in together.items()} == alone
