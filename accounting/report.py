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

`build_reports` reads many organisations in a few queries whatever their number (the daily
month-end run); `build_report` is the one-organisation form.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

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
# Month-end sums the month's rollups in this many parts side by side, each on its own connection
# and PostgreSQL process (with the usage hours' pass beside them).
SUMS_PARTS = 2


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


@contextmanager
def _passes(month: Month, organisation_ids: list[int] | None):
    """Yield (sums, hours): callables answering the month's passes over its rollups. For every
    organisation at once on PostgreSQL they all start at once, each on its own connection (as the
    rollup engine splits a backlog): the sums in SUMS_PARTS block ranges of the table, the usage
    hours beside them, while the caller builds its reports; month-end waits for the longest only.
    A caller's open transaction must see its own rows, and SQLite serves one reader well, so
    otherwise each pass runs when asked for, on the caller's connection."""
    if organisation_ids is not None or connection.vendor != "postgresql" or connection.in_atomic_block:
        yield (lambda: _sums(month, organisation_ids)), (lambda: _usage_hours(month, organisation_ids))
        return
    # One snapshot for every pass and for the caller's own reads (dirty hours, rates): the parts
    # split the table by pages, so each must see the same row versions. Read at different moments,
    # a rollup rewritten in between could move to the other part's pages and be counted twice, or
    # not at all. The exporting transaction stays open until every part has finished.
    with transaction.atomic():
        snapshot = _export_snapshot()
        with ThreadPoolExecutor(max_workers=SUMS_PARTS + 1, thread_name_prefix="report") as pool:
            parts = [
                pool.submit(_in_own_connection, _sums, month, None, blocks=blocks, snapshot=snapshot)
                for blocks in _block_ranges()
            ]
            hours = pool.submit(_in_own_connection, _usage_hours, month, None, snapshot=snapshot)
            yield (lambda: [row for part in parts for row in part.result()]), hours.result


def _export_snapshot() -> str:
    """Make the caller's transaction REPEATABLE READ and export its snapshot for the passes."""
    with connection.cursor() as cursor:
        cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        cursor.execute("SELECT pg_export_snapshot()")
        (snapshot,) = cursor.fetchone()
    return snapshot


def _block_ranges() -> list[tuple[int, int | None]]:
    """SUMS_PARTS ranges of the rollup table's pages, [first, end), the last one open-ended (rows
    written meanwhile on new pages belong to it). Every row is in exactly one range, so the parts'
    sums add up to the table's, whatever its physical order."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_relation_size(%s) / current_setting('block_size')::bigint", [UsageRollup._meta.db_table]
        )
        (pages,) = cursor.fetchone()
    bounds = [pages * part // SUMS_PARTS for part in range(SUMS_PARTS)]
    return list(zip(bounds, [*bounds[1:], None], strict=True))


def _in_own_connection(read, *args, **kwargs):
    try:
        return read(*args, **kwargs)
    finally:
        connection.close()  # this thread's connection, not the caller's


def _fetch(sql: str, params: list, *, tuned: bool, snapshot: str | None = None) -> list[tuple]:
    """Run one report query. `tuned` (PostgreSQL, one part of every organisation's sums): in a
    transaction of its own, in one process (the parts are the parallelism: PostgreSQL's own workers
    would each group every organisation's cells, then merge theirs one by one at the end), and
    without JIT (compiling costs more than it saves on a query of a second). The server's work_mem
    is kept: with a few megabytes PostgreSQL groups the cells in partitions whose hash tables stay
    in the CPU's cache, which measured faster than one table of 60,000 cells in 64 MB. `snapshot`:
    read what that exported snapshot sees (PostgreSQL; see _passes)."""
    if not tuned and snapshot is None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    with transaction.atomic(), connection.cursor() as cursor:
        if snapshot is not None:  # both must come before the transaction's first query
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("SET TRANSACTION SNAPSHOT %s", [snapshot])
        if tuned:
            cursor.execute(
                "SELECT set_config('jit', 'off', true), set_config('max_parallel_workers_per_gather', '0', true)"
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


def _sums(
    month: Month,
    organisation_ids: list[int] | None,
    *,
    blocks: tuple[int, int | None] | None = None,
    snapshot: str | None = None,
) -> list[tuple]:
    """(organisation, AI provider or None, use case or None, requests, unpriced requests, USD, GBP)
    for the month: each organisation's figures by AI provider (use case None), by use case (AI
    provider None) and in total (both None), money as exact Decimals. One pass over the rollups
    groups them by (organisation, AI provider, use case); the three breakdowns are then summed from
    those few cells by the database, so Python only files the rows (folding 60,000 cells into
    figures one by one cost more than the database takes to sum them). Plain SQL: the ORM's per-row
    conversion cost a third of the report. `blocks`: only the rows on those pages of the table
    (PostgreSQL; a TID range scan reads just them), in a tuned transaction."""
    where, params = _in_month(month, organisation_ids)
    if blocks is not None:
        first, end = blocks
        where += " AND ctid >= %s::tid" + ("" if end is None else " AND ctid < %s::tid")
        params += [f"({first},0)"] + ([] if end is None else [f"({end},0)"])
    table = UsageRollup._meta.db_table
    # the counts cast back: PostgreSQL sums bigints as numeric
    figures = "CAST(SUM(requests) AS BIGINT), CAST(SUM(unpriced) AS BIGINT), SUM(usd), SUM(gbp)"
    sql = (
        f"WITH cells AS (SELECT organisation_id, provider, feature, SUM(requests) AS requests, "  # noqa: S608
        f"SUM(unpriced_requests) AS unpriced, SUM(cost_usd) AS usd, SUM(cost_gbp) AS gbp "
        f"FROM {table} WHERE {where} GROUP BY organisation_id, provider, feature) "
        f"SELECT organisation_id, provider, NULL, {figures} FROM cells GROUP BY organisation_id, provider "
        f"UNION ALL SELECT organisation_id, NULL, feature, {figures} FROM cells GROUP BY organisation_id, feature "
        f"UNION ALL SELECT organisation_id, NULL, NULL, {figures} FROM cells GROUP BY organisation_id"
    )
    rows = _fetch(sql, params, tuned=blocks is not None, snapshot=snapshot)
    if connection.vendor == "postgresql":
        return rows  # numeric sums arrive as exact Decimals
    return [(*row[:5], _money(row[5]), _money(row[6])) for row in rows]


def _usage_hours(
    month: Month, organisation_ids: list[int] | None, *, snapshot: str | None = None
) -> list[tuple[int, int]]:
    """(organisation, hours with usage): every rollup row has at least one request, so these are
    its distinct hours. Grouped by (hour, organisation) first, the order of the rollups' unique
    index, so PostgreSQL counts them in one index-only pass instead of sorting them by organisation."""
    where, params = _in_month(month, organisation_ids)
    table = UsageRollup._meta.db_table
    pairs = f"SELECT hour, organisation_id FROM {table} WHERE {where} GROUP BY hour, organisation_id"  # noqa: S608
    sql = f"SELECT organisation_id, COUNT(*) FROM ({pairs}) AS hours GROUP BY organisation_id"  # noqa: S608
    return _fetch(sql, params, tuned=False, snapshot=snapshot)


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
    """The month's report of every organisation given, in a few queries whatever their number."""
    ids = [org.pk for org in organisations]
    with _passes(month, ids if len(ids) < ALL_AT_ONCE else None) as (sums, hours):
        # built while the database groups the month's rollups (month-end: on their own connections)
        reports = _empty_reports(organisations, month)
        _add_dirty_hours(reports, month, ids if len(ids) < ALL_AT_ONCE else None)
        rates = rates_in_force(month)
        _add_sums(reports, sums())
        for org_id, count in hours():
            if org_id in reports:
                reports[org_id].usage_hours = count
    for report in reports.values():
        report.exchange_rates = rates
    return reports


def _empty_reports(organisations: list[Organisation], month: Month) -> dict[int, MonthlyCostReport]:
    # the vendor types' labels once, not per organisation
    vendor_types = {value: str(label) for value, label in Organisation._meta.get_field("vendor_type").flatchoices}
    return {
        org.pk: MonthlyCostReport(org.pk, org.name, vendor_types.get(org.vendor_type, org.vendor_type), month)
        for org in organisations
    }


def _add_sums(reports: dict[int, MonthlyCostReport], rows: list[tuple]) -> None:
    """Add each row of _sums to an organisation's total or to one entry of its breakdowns (the
    rollups' provider and use case are never NULL, so NULL says which breakdown a row is). An
    entry may come in several rows, one per part of the table."""
    for org_id, provider, feature, *figures in rows:
        report = reports.get(org_id)
        if report is None:
            continue
        if provider is not None:
            _add_to(report.by_provider, provider, figures)
        elif feature is not None:
            _add_to(report.by_use_case, feature, figures)
        else:
            report.total.add(*figures)


def _add_to(breakdown: dict[str, Figures], name: str, figures: list) -> None:
    found = breakdown.get(name)
    if found is None:
        breakdown[name] = Figures(*figures)
    else:
        found.add(*figures)


def _add_dirty_hours(reports: dict[int, MonthlyCostReport], month: Month, organisation_ids: list[int] | None) -> None:
    in_scope = {"organisation_id__in": organisation_ids} if organisation_ids is not None else {}
    dirty = RollupDirtyHour.objects.filter(hour__gte=month.start, hour__lt=month.end, **in_scope)
    for org_id, count in dirty.values_list("organisation_id").annotate(Count("id")).order_by():
        if org_id in reports:
            reports[org_id].dirty_hours = count
