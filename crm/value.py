"""The monthly AI value report: one object per organisation and London month, computed from its
AI usage (monthly.py: each month summed once from the hourly rollups), feeding every CRM (Tave
note, HoneyBook via Zapier, Light Blue Inbox) and the admin preview alike.

    report = build_report(organisation, Month.parse("2026-06"))
    report.time_saved_hours, report.cost_savings_gbp, report.figures()

Every figure is a property whose docstring states its formula. The four product figures follow
the product rules with the organisation's own parameters (Organisation.minutes_saved_per_request,
value_per_request_gbp, revenue_multiplier, retention_uplift_percent; defaults 15 min, £2.50, 4×,
15 %): 100 requests → 25 hours, £250.00, £1,000.00, 15 %. The derived figures are measured from
the organisation's own usage (this month, the month before, the twelve before it); where the
usage cannot support one (no earlier month to compare with), it is None and every CRM says "not
enough history" rather than showing a number.

Decision: value figures count the requests that *succeeded*. A failed AI request saved nobody
fifteen minutes; with no errors the figures are exactly the product rule's.

Money has two decimals, hours up to two, percentages one; all rounded half up, explicitly.
Reports for many organisations are built together, with a fixed number of queries
(bench/bench_crm.py measures 5,000).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import ClassVar

from django.utils import timezone

from wedsync_integrations.calendar import Month, Season
from wedsync_integrations.tenants.models import Organisation

from .monthly import MonthUsage, monthly_usage

MONEY = Decimal("0.01")
HOURS = Decimal("0.01")
PERCENT = Decimal("0.1")
HUNDRED = Decimal(100)
HISTORY_MONTHS = 12  # how far back "your usual level" looks (season performance, projection)


def money(value: Decimal) -> Decimal:
    return value.quantize(MONEY, rounding=ROUND_HALF_UP)


def percent(numerator: Decimal, denominator: Decimal) -> Decimal:
    return (numerator * HUNDRED / denominator).quantize(PERCENT, rounding=ROUND_HALF_UP)


def change_percent(now: Decimal, before: Decimal) -> Decimal:
    """(now ÷ before − 1) × 100, to one decimal."""
    return percent(now - before, before)


def report_id(organisation_slug: str, period: str) -> str:
    """Stable per organisation and period: the same on every resend (HoneyBook's report_id, Light
    Blue's ID, the reference in Tave's footer)."""
    return f"wedsync:{organisation_slug}:{period}"


@dataclass(frozen=True)
class Parameters:
    """An organisation's value parameters (Organisation fields; product defaults 15, 2.50, 4, 15)."""

    minutes_saved_per_request: Decimal
    value_per_request_gbp: Decimal
    revenue_multiplier: Decimal
    retention_uplift_percent: Decimal

    FIELDS: ClassVar[tuple[str, ...]] = (
        "minutes_saved_per_request", "value_per_request_gbp", "revenue_multiplier", "retention_uplift_percent",
    )  # fmt: skip

    @classmethod
    def of(cls, organisation: Organisation) -> Parameters:
        return cls(*(Decimal(getattr(organisation, name)) for name in cls.FIELDS))

    def time_saved_hours(self, successful: int | Decimal) -> Decimal:
        return (Decimal(successful) * self.minutes_saved_per_request / 60).quantize(HOURS, rounding=ROUND_HALF_UP)

    def cost_savings_gbp(self, successful: int | Decimal) -> Decimal:
        return money(Decimal(successful) * self.value_per_request_gbp)

    def revenue_opportunity_gbp(self, successful: int | Decimal) -> Decimal:
        return money(self.cost_savings_gbp(successful) * self.revenue_multiplier)


@dataclass(frozen=True)
class Projection:
    """Next month, projected from this month's daily rate (see ValueReport.projection)."""

    month: Month
    requests: int
    time_saved_hours: Decimal
    cost_savings_gbp: Decimal
    season_factor: Decimal | None  # None: no seasonal adjustment (same season, or no history for it)


@dataclass(frozen=True)
class ValueReport:
    organisation_slug: str
    organisation_name: str
    month: Month
    parameters: Parameters
    usage: MonthUsage
    # the HISTORY_MONTHS months before `month` that had usage (a month absent had none)
    history: Mapping[Month, MonthUsage] = field(default_factory=dict)

    # -- identity -----------------------------------------------------------------------------------
    @property
    def period(self) -> str:
        return str(self.month)

    @property
    def report_id(self) -> str:
        return report_id(self.organisation_slug, self.period)

    @property
    def previous(self) -> MonthUsage:
        return self.history.get(self.month.previous) or MonthUsage(self.month.previous)

    # -- the product's figures ------------------------------------------------------------------------
    @property
    def requests(self) -> int:
        """AI requests the platform served the organisation in the month (rollups' requests)."""
        return self.usage.requests

    @property
    def successful_requests(self) -> int:
        """requests − errors."""
        return self.usage.successful

    @property
    def time_saved_hours(self) -> Decimal:
        """successful requests × minutes saved per request ÷ 60, to 0.01 h (half up)."""
        return self.parameters.time_saved_hours(self.successful_requests)

    @property
    def cost_savings_gbp(self) -> Decimal:
        """successful requests × £ saved per request, to the penny (half up)."""
        return self.parameters.cost_savings_gbp(self.successful_requests)

    @property
    def revenue_opportunity_gbp(self) -> Decimal:
        """cost savings × revenue multiplier, to the penny (half up)."""
        return money(self.cost_savings_gbp * self.parameters.revenue_multiplier)

    @property
    def client_retention_improvement_pct(self) -> Decimal:
        """The organisation's retention uplift parameter (default 15 %) when it used AI
        successfully in the month, else 0. A product estimate, not a measurement: every CRM
        labels it as WedSync's estimate."""
        return self.parameters.retention_uplift_percent if self.successful_requests else Decimal(0)

    @property
    def weddings_assisted(self) -> int:
        """Distinct weddings the month's requests were about (RollupWedding keys: the wedding's
        id, or its date when the platform named no Wedding), counted once however many hours."""
        return self.usage.weddings_assisted

    # -- derived from real usage -------------------------------------------------------------------
    @property
    def efficiency_improvement_pct(self) -> Decimal | None:
        """AI-completed tasks per day against last month: (successful requests ÷ days this month)
        ÷ (successful requests ÷ days last month) − 1, × 100, to 0.1 (half up). Per day, so a
        31-day month is not "better" than a 30-day one. None when last month had none."""
        before = self.previous.successful_per_day
        return change_percent(self.usage.successful_per_day, before) if before else None

    @property
    def mean_response_ms(self) -> Decimal | None:
        """The month's mean AI response time: latency sum ÷ requests, whole ms."""
        return self.usage.mean_response_ms

    @property
    def faster_response_pct(self) -> Decimal | None:
        """How much faster the AI answered than last month: (last month's mean response time −
        this month's) ÷ last month's × 100, to 0.1; negative when slower. None when either
        month had no requests."""
        now, before = self.mean_response_ms, self.previous.mean_response_ms
        if now is None or not before:
            return None
        return percent(before - now, before)

    @property
    def peak_usage_share_pct(self) -> Decimal | None:
        """Share of the month's requests made in the wedding-day window (Friday 18:00 to Sunday
        23:00, London): window requests ÷ requests × 100, to 0.1. None without requests."""
        if not self.requests:
            return None
        return percent(Decimal(self.usage.wedding_window_requests), Decimal(self.requests))

    @property
    def season(self) -> Season:
        """The month's wedding season (peak May–September, shoulder April and October, off-season
        November–March)."""
        return self.month.season

    @property
    def usual_requests_per_day(self) -> Decimal | None:
        """The organisation's usual level: requests ÷ days over the previous twelve months that
        had usage (months before it used WedSync do not dilute it). None without such months."""
        used = [month for month in self.history.values() if month.requests]
        if not used:
            return None
        return Decimal(sum(month.requests for month in used)) / sum(month.month.days for month in used)

    @property
    def season_performance_pct(self) -> Decimal | None:
        """This month against the organisation's usual level: (requests per day this month ÷
        usual requests per day) − 1, × 100, to 0.1 (+60.0 = 60 % busier than usual, as a peak
        month should be). None without earlier usage."""
        usual = self.usual_requests_per_day
        return change_percent(self.usage.requests_per_day, usual) if usual else None

    def _season_rate(self, season: Season, months: Iterable[MonthUsage]) -> Decimal | None:
        used = [m for m in months if m.requests and m.month.season == season]
        if not used:
            return None
        return Decimal(sum(m.requests for m in used)) / sum(m.month.days for m in used)

    @property
    def projection(self) -> Projection:
        """Next month's requests: requests per day this month × days next month × season factor,
        rounded half up. The season factor is the organisation's own ratio of requests per day in
        next month's season to requests per day in this month's season, over this month and the
        twelve before it; it applies only when the seasons differ and both were seen (else no
        adjustment, and the report says so). Time saved and savings follow from the projected
        requests with this month's success rate and the organisation's parameters."""
        upcoming = self.month.next
        factor = None
        upcoming_season = upcoming.season
        if upcoming_season != self.season:
            months = (*self.history.values(), self.usage)
            before, after = self._season_rate(self.season, months), self._season_rate(upcoming_season, months)
            if before and after:
                factor = (after / before).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        requests = self.usage.requests_per_day * upcoming.days * (factor or 1)
        requests = int(requests.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        success_rate = Decimal(self.successful_requests) / self.requests if self.requests else Decimal(0)
        successful = requests * success_rate
        return Projection(
            month=upcoming,
            requests=requests,
            time_saved_hours=self.parameters.time_saved_hours(successful),
            cost_savings_gbp=self.parameters.cost_savings_gbp(successful),
            season_factor=factor,
        )

    # -- one flat, JSON-safe record (what is stored and what HoneyBook's zap receives) -------------
    def figures(self) -> dict:
        """Every figure, flat: money as strings with two decimals, hours and percentages as
        decimal strings, counts as integers, None where history cannot support a figure."""
        projection, mean_response_ms = self.projection, self.mean_response_ms
        return {
            "report_id": self.report_id,
            "organisation": self.organisation_slug,
            "organisation_name": self.organisation_name,
            "period": self.period,
            "requests": self.requests,
            "successful_requests": self.successful_requests,
            "time_saved_hours": decimal_text(self.time_saved_hours),
            "cost_savings_gbp": f"{self.cost_savings_gbp:.2f}",
            "revenue_opportunity_gbp": f"{self.revenue_opportunity_gbp:.2f}",
            "client_retention_improvement_pct": decimal_text(self.client_retention_improvement_pct),
            "weddings_assisted": self.weddings_assisted,
            "efficiency_improvement_pct": decimal_text(self.efficiency_improvement_pct),
            "mean_response_ms": int(mean_response_ms) if mean_response_ms is not None else None,
            "faster_response_pct": decimal_text(self.faster_response_pct),
            "peak_usage_share_pct": decimal_text(self.peak_usage_share_pct),
            "season": str(self.season),
            "season_performance_pct": decimal_text(self.season_performance_pct),
            "projection_period": str(projection.month),
            "projected_requests": projection.requests,
            "projected_time_saved_hours": decimal_text(projection.time_saved_hours),
            "projected_cost_savings_gbp": f"{projection.cost_savings_gbp:.2f}",
            "projection_season_factor": decimal_text(projection.season_factor),
            "minutes_saved_per_request": decimal_text(self.parameters.minutes_saved_per_request),
            "value_per_request_gbp": f"{money(self.parameters.value_per_request_gbp):.2f}",
            "revenue_multiplier": decimal_text(self.parameters.revenue_multiplier),
        }


def decimal_text(value: Decimal | None) -> str | None:
    """A decimal without trailing zeros ("25", "24.5", "12.75"); None stays None."""
    if value is None:
        return None
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


# -- building reports ----------------------------------------------------------------------------------
def build_report(organisation: Organisation, month: Month, *, now: datetime | None = None) -> ValueReport:
    return build_reports(month, [organisation], now=now)[organisation.pk]


def build_reports(
    month: Month, organisations: Iterable[Organisation] | None = None, *, now: datetime | None = None
) -> dict[int, ValueReport]:
    """A report for `month` per organisation (every organisation when None), keyed by id.

    Input is each organisation's usage per month (`monthly_usage`): `month` and the twelve before
    it, read from the monthly summaries, so a report reads a year of history as thirteen small rows
    per organisation, never a year of hourly rollups; a month not summarised yet is summed from its
    rollups once. Organisations without usage get a report of zeros."""
    everyone = organisations is None
    if everyone:  # plain rows: five thousand model instances cost more than the reports' queries
        rows = list(Organisation.objects.values_list("pk", "slug", "name", *Parameters.FIELDS))
    else:
        rows = [
            (org.pk, org.slug, org.name, *(getattr(org, name) for name in Parameters.FIELDS)) for org in organisations
        ]
    months = month.shifted(-HISTORY_MONTHS).months_until(month)
    usage = monthly_usage(months, [row[0] for row in rows], now=now or timezone.now(), everyone=everyone)
    reports = {}
    for organisation_id, slug, name, *parameters in rows:
        per_month = usage.get(organisation_id, {})
        reports[organisation_id] = ValueReport(
            organisation_slug=slug,
            organisation_name=name,
            month=month,
            parameters=Parameters(*map(Decimal, parameters)),
            usage=per_month.pop(month, None) or MonthUsage(month),
            history=per_month,
        )
    return reports
