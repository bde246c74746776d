"""The monthly cost report: an organisation's AI usage for one London month, in GBP.

Read from the hourly rollups (usage/models.py), whose GBP cost is the exact sum of the records'
six-decimal costs, so the report's total is the records' total to the last decimal; a test sums
the records independently. Figures: the net GBP cost and the USD it came from, requests, a
breakdown by AI provider and by use case (feature), usage hours (hours with any request), cost
per usage hour, the organisation's vendor type, and the USD→GBP rates in force during the month
(each record is priced at the rate of its London day, the latest on or before it: ingest and the
pricing of pending records apply the same rule, usage/pricing.py). The rates are read from the
rate table, not from every record of the month: the records are summed through their rollups,
and a report never reads raw usage.

A report is *final* only when no request of the month still waits for an exchange rate (its GBP
cost would be incomplete: never exported as zero) and no hour of the month is being rolled up.

`build_reports` reads many organisations in four queries whatever their number (the daily
month-end run); `build_report` is the one-organisation form.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count

from wedsync_integrations.tenants.models import Organisation
from wedsync_integrations.usage.models import ExchangeRate, RollupDirtyHour, UsageRollup

from .months import Month
from .vat import half_up

ZERO = Decimal(0)
MICRO = Decimal("0.000001")
# From this many organisations on, the month's rollups are read for all organisations (month-end)
# rather than through a list of ids in the query.
ALL_AT_ONCE = 1000


@dataclass
class Figures:
    requests: int = 0
    unpriced_requests: int = 0
    cost_usd: Decimal = ZERO
    cost_gbp: Decimal = ZERO

    def add(self, requests: int, unpriced: int, usd: Decimal, gbp: Decimal) -> None:
        self.requests += requests
        self.unpriced_requests += unpriced
        self.cost_usd += usd
        self.cost_gbp += gbp

    def as_json(self) -> dict:
        return {
            "requests": self.requests,
            "unpriced_requests": self.unpriced_requests,
            "cost_usd": str(self.cost_usd),
            "cost_gbp": str(self.cost_gbp),
            "cost_gbp_rounded": str(half_up(self.cost_gbp)),
        }


@dataclass
class MonthlyCostReport:
    organisation_id: int
    organisation_name: str
    vendor_type: str
    month: Month
    total: Figures = field(default_factory=Figures)
    by_provider: dict[str, Figures] = field(default_factory=lambda: defaultdict(Figures))
    by_use_case: dict[str, Figures] = field(default_factory=lambda: defaultdict(Figures))
    usage_hours: int = 0
    dirty_hours: int = 0
    exchange_rates: list[dict] = field(default_factory=list)

    # -- what the exports ask ---------------------------------------------------------------------
    @property
    def has_usage(self) -> bool:
        return self.total.requests > 0

    @property
    def is_final(self) -> bool:
        return not self.total.unpriced_requests and not self.dirty_hours

    @property
    def cost_gbp(self) -> Decimal:
        """The exact (unrounded) GBP cost: the sum of the records' costs."""
        return self.total.cost_gbp

    @property
    def cost_per_hour(self) -> Decimal:
        return half_up(self.total.cost_gbp / self.usage_hours) if self.usage_hours else ZERO

    def exact_by_provider(self) -> dict[str, Decimal]:
        return {name: figures.cost_gbp for name, figures in sorted(self.by_provider.items())}

    def not_final_reason(self) -> str:
        reasons = []
        if self.total.unpriced_requests:
            reasons.append(
                f"{self.total.unpriced_requests} request(s) of {self.month.title} still wait for a USD→GBP "
                "exchange rate, so the month's GBP cost is incomplete (a pending cost is never exported as 0)"
            )
        if self.dirty_hours:
            reasons.append(f"{self.dirty_hours} hour(s) of {self.month.title} are still being rolled up")
        return "; ".join(reasons)

    def as_json(self) -> dict:
        return {
            "organisation": self.organisation_name,
            "vendor_type": self.vendor_type,
            "month": self.month.label,
            "requests": self.total.requests,
            "unpriced_requests": self.total.unpriced_requests,
            "cost_usd": str(self.total.cost_usd),
            "cost_gbp": str(self.total.cost_gbp),
            "cost_gbp_rounded": str(half_up(self.total.cost_gbp)),
            "usage_hours": self.usage_hours,
            "cost_per_hour_gbp": str(self.cost_per_hour),
            "by_provider": {name: f.as_json() for name, f in sorted(self.by_provider.items())},
            "by_use_case": {name: f.as_json() for name, f in sorted(self.by_use_case.items())},
            "exchange_rates": self.exchange_rates,
            "dirty_hours": self.dirty_hours,
        }


def _read_passes(month: Month, organisation_ids: list[int] | None) -> tuple[list, list]:
    """The sums and the usage hours. For every organisation at once on PostgreSQL, the two passes
    run side by side, each on its own connection (as the rollup engine splits a backlog), the sums
    in a transaction of their own with the memory to group thousands of organisations without
    spilling to disk (ACCOUNTING_REPORT_WORK_MEM): month-end then waits for the longer one only. A caller's
    open transaction must see its own rows, and SQLite serves one reader well, so otherwise they
    run one after the other, as they are."""
    if organisation_ids is not None or connection.vendor != "postgresql" or connection.in_atomic_block:
        return _sums(month, organisation_ids), _usage_hours(month, organisation_ids)

    def in_own_connection():
        try:
            return _usage_hours(month, None)  # more memory would trade its index-only pass for a hash
        finally:
            connection.close()  # this thread's connection, not the caller's

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="report") as pool:
        hours = pool.submit(in_own_connection)
        return _sums(month, None, tuned=True), hours.result()


def _fetch(sql: str, params: list, *, tuned: bool) -> list[tuple]:
    """Run one report query. `tuned` (PostgreSQL, every organisation's sums): in a transaction of its
    own with more work_mem and no JIT (compiling costs more than it saves on a query of a second or two)."""
    if not tuned:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('work_mem', %s, true), set_config('jit', 'off', true)",
            [settings.ACCOUNTING_REPORT_WORK_MEM],
        )
        cursor.execute(sql, params)
        return cursor.fetchall()


def _in_month(month: Month, organisation_ids: list[int] | None) -> tuple[str, list]:
    """The WHERE clause (and its parameters) of a month's rollups, for some organisations or all."""
    adapt = connection.ops.adapt_datetimefield_value  # as the ORM sends datetimes (SQLite: naive UTC text)
    params: list = [adapt(month.start), adapt(month.end)]
    where = "hour >= %s AND hour < %s"
    if organisation_ids is not None:
        where += f" AND organisation_id IN ({', '.join(['%s'] * len(organisation_ids))})"
        params += organisation_ids
    return where, params


def _sums(month: Month, organisation_ids: list[int] | None, *, tuned: bool = False) -> list[tuple]:
    """(organisation, AI provider, use case, requests, unpriced requests, USD, GBP) for the month:
    one pass over its rollups. Plain SQL: the ORM's per-row conversion cost a third of the report."""
    where, params = _in_month(month, organisation_ids)
    sums = "SUM(requests), SUM(unpriced_requests), SUM(cost_usd), SUM(cost_gbp)"
    table = UsageRollup._meta.db_table
    sql = f"SELECT organisation_id, provider, feature, {sums} FROM {table} WHERE {where} GROUP BY 1, 2, 3"  # noqa: S608
    return _fetch(sql, params, tuned=tuned)


def _usage_hours(month: Month, organisation_ids: list[int] | None) -> list[tuple[int, int]]:
    """(organisation, hours with usage): every rollup row has at least one request, so these are
    its distinct hours. Grouped by (hour, organisation) first, the order of the rollups' unique
    index, so PostgreSQL counts them in one index-only pass instead of sorting them by organisation."""
    where, params = _in_month(month, organisation_ids)
    table = UsageRollup._meta.db_table
    pairs = f"SELECT hour, organisation_id FROM {table} WHERE {where} GROUP BY hour, organisation_id"  # noqa: S608
    sql = f"SELECT organisation_id, COUNT(*) FROM ({pairs}) AS hours GROUP BY organisation_id"  # noqa: S608
    return _fetch(sql, params, tuned=False)


def _money(value) -> Decimal:
    """A sum of six-decimal costs as the exact Decimal: PostgreSQL answers one; SQLite, which keeps
    decimals as floating point, answers a float, whose error is far below the sixth decimal."""
    if isinstance(value, Decimal):
        return value
    return Decimal(repr(value or 0)).quantize(MICRO)


def rates_in_force(month: Month) -> list[dict]:
    """The USD→GBP rates that applied on the month's London days: the latest on or before the
    1st, then each one dated within the month, with the days it covered."""
    rates = ExchangeRate.objects.filter(base="USD", quote="GBP")
    within = list(rates.filter(date__gt=month.first_day, date__lte=month.last_day).order_by("date"))
    opening = rates.filter(date__lte=month.first_day).order_by("-date").first()
    chosen = ([opening] if opening else []) + within
    found = []
    for index, rate in enumerate(chosen):
        until = chosen[index + 1].date - timedelta(days=1) if index + 1 < len(chosen) else month.last_day
        found.append({"usd_gbp": str(rate.rate), "from": max(rate.date, month.first_day).isoformat(),
                      "to": until.isoformat(), "source": rate.source})  # fmt: skip
    return found


def build_report(organisation: Organisation, month: Month) -> MonthlyCostReport:
    return build_reports([organisation], month)[organisation.pk]


def build_reports(organisations: list[Organisation], month: Month) -> dict[int, MonthlyCostReport]:
    """The month's report of every organisation given, in five queries whatever their number."""
    # the vendor types' labels once, not per organisation
    vendor_types = {value: str(label) for value, label in Organisation._meta.get_field("vendor_type").flatchoices}
    reports = {
        org.pk: MonthlyCostReport(org.pk, org.name, vendor_types.get(org.vendor_type, org.vendor_type), month)
        for org in organisations
    }
    ids = list(reports)
    span = {"hour__gte": month.start, "hour__lt": month.end}
    in_scope = {"organisation_id__in": ids} if len(ids) < ALL_AT_ONCE else {}
    sums, hours = _read_passes(month, ids if in_scope else None)
    for org_id, provider, feature, requests, unpriced, usd, gbp in sums:
        report = reports.get(org_id)
        if report is None:
            continue
        usd, gbp = _money(usd), _money(gbp)
        report.by_provider[provider].add(requests, unpriced, usd, gbp)
        report.by_use_case[feature].add(requests, unpriced, usd, gbp)
    for report in reports.values():
        for figures in report.by_provider.values():
            report.total.add(figures.requests, figures.unpriced_requests, figures.cost_usd, figures.cost_gbp)
    for org_id, count in hours:
        if org_id in reports:
            reports[org_id].usage_hours = count
    dirty = RollupDirtyHour.objects.filter(**span, **in_scope).values_list("organisation_id").annotate(Count("id"))
    for org_id, count in dirty.order_by():
        if org_id in reports:
            reports[org_id].dirty_hours = count
    rates = rates_in_force(month)
    for report in reports.values():
        report.exchange_rates = rates
    return reports
