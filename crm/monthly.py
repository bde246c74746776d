"""Each organisation's AI usage per London month: the input of the monthly value reports.

A report needs its month and the twelve before it (season performance, next-month projection).
Summing a year of hourly rollups for every report would scan twelve months of the rollup table
for each organisation's sync, so a closed month is summed once, for every organisation at once,
by the database (one INSERT … SELECT over that month's rollups), and kept as a MonthlyUsage row per
organisation (zeros included: summed, and nothing was there). After that a report reads thirteen
small rows per organisation.

- A month is kept only once it has closed (CRM_MONTH_CLOSE_DAYS after it ends) and only for an
  organisation whose rollups for it are final (no dirty hour); otherwise it is summed live each
  time (an admin preview of the current month, an organisation whose late usage is still being
  rolled up) and never kept.
- Usage arriving after a month was kept is not added to it: that month's report has been sent,
  and the history figures it feeds are averages a few late requests do not move. Deleting rows
  (admin: "Monthly AI usage") makes the next report sum those months again.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import connection
from django.db.models import CharField, Count, Q, Sum, Value
from django.db.models.functions import Cast
from django.utils import timezone

from wedsync_integrations.calendar import Month, london, wedding_windows
from wedsync_integrations.tenants.models import Organisation
from wedsync_integrations.usage.models import RollupDirtyHour, RollupWedding, UsageRollup

from .models import MonthlyUsage

FIELDS = ("requests", "errors", "latency_sum_ms", "wedding_window_requests", "weddings_assisted")
INSERT_BATCH = 1000  # rows per INSERT (8 values each: within SQLite's limit of variables per statement)
ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class MonthUsage:
    """One organisation's AI usage in one month, summed from its hourly rollups."""

    month: Month
    requests: int = 0
    errors: int = 0
    latency_sum_ms: int = 0
    wedding_window_requests: int = 0  # requests in the Friday 18:00 – Sunday 23:00 window (London)
    weddings_assisted: int = 0  # distinct weddings helped in the month

    @property
    def successful(self) -> int:
        return self.requests - self.errors

    @property
    def requests_per_day(self) -> Decimal:
        return Decimal(self.requests) / self.month.days

    @property
    def successful_per_day(self) -> Decimal:
        return Decimal(self.successful) / self.month.days

    @property
    def mean_response_ms(self) -> Decimal | None:
        if not self.requests:
            return None
        return (Decimal(self.latency_sum_ms) / self.requests).quantize(ONE, rounding=ROUND_HALF_UP)


Usage = dict[int, dict[Month, MonthUsage]]  # organisation id -> month -> its usage (months with usage only)


def last_closed_month(now: datetime) -> Month:
    """The newest month whose report is due at `now`: the month before the one containing London
    today − CRM_MONTH_CLOSE_DAYS. With 2 days, June closes on 3 July at 00:00 London."""
    return Month.of(london(now).date() - timedelta(days=settings.CRM_MONTH_CLOSE_DAYS)).previous


def monthly_usage(months: list[Month], organisation_ids: list[int], *, now: datetime, everyone: bool = False) -> Usage:
    """Each organisation's usage in each of `months`. `everyone`: the ids are every organisation
    (the statements then read whole months instead of lists of ids)."""
    wanted = set(organisation_ids)
    closed = last_closed_month(now)
    usage: Usage = defaultdict(dict)
    kept = [month for month in months if month <= closed]
    summed, unsummarised = summarise(kept, wanted, everyone=everyone)
    _read_kept([month for month in kept if month not in summed], organisation_ids, everyone, usage)
    for month, figures_by_organisation in summed.items():
        for organisation_id, figures in figures_by_organisation.items():
            if organisation_id in wanted and figures.requests:
                usage[organisation_id][month] = figures
    for month in months:
        live = wanted if month > closed else unsummarised.get(month, set())
        if live:
            for organisation_id, figures in _sum_month(month, sorted(live)).items():
                if figures.requests:
                    usage[organisation_id][month] = figures
    return usage


def summarise(
    months: list[Month], wanted: set[int], *, everyone: bool = False
) -> tuple[dict[Month, dict[int, MonthUsage]], dict[Month, set[int]]]:
    """Sum and keep each closed month some organisation in `wanted` has no summary of. Returns what
    was summed ({month: {organisation id: usage}}) and, per month, the organisations left without
    a summary (their rollups for it are not final yet)."""
    if not months or not wanted:
        return {}, {}
    have = MonthlyUsage.objects.filter(month__in=[month.first_day for month in months])
    if not everyone:
        have = have.filter(organisation_id__in=wanted)
    counts = dict(have.values("month").annotate(n=Count("id")).values_list("month", "n"))
    summed, lacking = {}, {}
    for month in months:
        if counts.get(month.first_day, 0) >= len(wanted):
            continue
        summed[month] = _sum_and_keep(month, None if everyone else sorted(wanted))
        left = wanted - set(summed[month])
        if left:  # dirty (or new since): were they kept before?
            kept = MonthlyUsage.objects.filter(month=month.first_day, organisation_id__in=left)
            left -= set(kept.values_list("organisation_id", flat=True))
            if left:
                lacking[month] = left
    return summed, lacking


def _read_kept(months: list[Month], organisation_ids: list[int], everyone: bool, usage: Usage) -> None:
    if not months:
        return
    by_day = {month.first_day.isoformat(): month for month in months}
    rows = MonthlyUsage.objects.filter(month__in=[month.first_day for month in months], requests__gt=0)
    if not everyone:
        rows = rows.filter(organisation_id__in=organisation_ids)
    # the month as text: reading sixty thousand dates as date objects costs more than the query
    rows = rows.annotate(day=Cast("month", CharField())).values_list("organisation_id", "day", *FIELDS)
    for organisation_id, day, *figures in rows:
        month = by_day[day]
        usage[organisation_id][month] = MonthUsage(month, *figures)


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _sum_and_keep(month: Month, organisation_ids: list[int] | None) -> dict[int, MonthUsage]:
    """The month's rollups summed per organisation (every one, or those listed), then kept for
    each organisation without a dirty hour in the month; returns what was kept (zeros included).

    Plain SELECTs, each planned on its own (PostgreSQL runs them in parallel, which it would not
    inside an INSERT), then the rows inserted a thousand at a time."""
    ops = connection.ops
    start, end = (ops.adapt_datetimefield_value(bound) for bound in month.bounds())
    windows = wedding_windows(*month.bounds())
    in_window = " OR ".join(["(hour >= %s AND hour < %s)"] * len(windows)) or "1 = 0"
    window_params = [ops.adapt_datetimefield_value(bound) for window in windows for bound in window]
    only, only_params = "", []
    if organisation_ids is not None:
        only = f"AND organisation_id IN ({', '.join(['%s'] * len(organisation_ids))})"
        only_params = list(organisation_ids)
    span = [start, end, *only_params]
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT organisation_id, SUM(requests), SUM(errors), SUM(latency_sum_ms),
                       SUM(CASE WHEN {in_window} THEN requests ELSE 0 END)
                FROM {_table(UsageRollup)} WHERE hour >= %s AND hour < %s {only} GROUP BY organisation_id""",  # noqa: S608
            [*window_params, *span],
        )
        sums = {row[0]: row[1:] for row in cursor.fetchall()}
        # distinct keys first, then counted: a hash of (organisation, key) pairs, where COUNT(DISTINCT)
        # would sort each organisation's keys
        cursor.execute(
            f"""SELECT organisation_id, COUNT(*) FROM (
                    SELECT DISTINCT organisation_id, wedding_key FROM {_table(RollupWedding)}
                    WHERE hour >= %s AND hour < %s {only}) AS helped
                GROUP BY organisation_id""",  # noqa: S608
            span,
        )
        weddings = dict(cursor.fetchall())
        cursor.execute(
            f"SELECT DISTINCT organisation_id FROM {_table(RollupDirtyHour)} WHERE hour >= %s AND hour < %s {only}",  # noqa: S608
            span,
        )
        unfinished = {row[0] for row in cursor.fetchall()}
        every = organisation_ids if organisation_ids is not None else Organisation.objects.values_list("pk", flat=True)
        kept = {
            organisation_id: MonthUsage(
                month, *(int(n or 0) for n in sums.get(organisation_id, (0, 0, 0, 0))), weddings.get(organisation_id, 0)
            )  # fmt: skip
            for organisation_id in every
            if organisation_id not in unfinished
        }
        _insert(cursor, month, kept)
    return kept


def _insert(cursor, month: Month, kept: dict[int, MonthUsage]) -> None:
    ops = connection.ops
    day, at = ops.adapt_datefield_value(month.first_day), ops.adapt_datetimefield_value(timezone.now())
    rows = [
        (organisation_id, day, usage.requests, usage.errors, usage.latency_sum_ms, usage.wedding_window_requests,
         usage.weddings_assisted, at)
        for organisation_id, usage in kept.items()
    ]  # fmt: skip
    columns = f"organisation_id, month, {', '.join(FIELDS)}, computed_at"
    if connection.vendor == "postgresql":  # one statement with a column array each: no per-row parameters
        types = ("bigint", "date", "integer", "integer", "bigint", "integer", "integer", "timestamptz")
        arrays = ", ".join(f"%s::{kind}[]" for kind in types)
        cursor.execute(
            f"INSERT INTO {_table(MonthlyUsage)} ({columns}) SELECT * FROM unnest({arrays}) "  # noqa: S608
            "ON CONFLICT (organisation_id, month) DO NOTHING",
            [list(column) for column in zip(*rows, strict=True)] if rows else [[]] * len(types),
        )
        return
    for first in range(0, len(rows), INSERT_BATCH):
        batch = rows[first : first + INSERT_BATCH]
        values = ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s)"] * len(batch))
        cursor.execute(
            f"INSERT INTO {_table(MonthlyUsage)} ({columns}) VALUES {values} "  # noqa: S608
            "ON CONFLICT (organisation_id, month) DO NOTHING",
            [value for row in batch for value in row],
        )


def _sum_month(month: Month, organisation_ids: list[int]) -> dict[int, MonthUsage]:
    """One month's usage for the organisations listed, summed from the rollups, not kept."""
    start, end = month.bounds()
    rollups = UsageRollup.objects.filter(hour__gte=start, hour__lt=end, organisation_id__in=organisation_ids)
    weddings = RollupWedding.objects.filter(hour__gte=start, hour__lt=end, organisation_id__in=organisation_ids)
    window = None
    for opens, closes in wedding_windows(start, end):
        part = Q(hour__gte=opens, hour__lt=closes)
        window = part if window is None else window | part
    rows = (
        rollups.values("organisation_id")
        .annotate(
            n=Sum("requests"),
            failed=Sum("errors"),
            latency=Sum("latency_sum_ms"),
            in_window=Sum("requests", filter=window) if window is not None else Value(0),
        )
        .order_by()
    )
    assisted = dict(
        weddings.values("organisation_id")
        .annotate(n=Count("wedding_key", distinct=True))
        .order_by()
        .values_list("organisation_id", "n")
    )
    return {
        row["organisation_id"]: MonthUsage(
            month,
            row["n"] or 0,
            row["failed"] or 0,
            row["latency"] or 0,
            row["in_window"] or 0,
            assisted.get(row["organisation_id"], 0),
        )  # fmt: skip
        for row in rows
    }
