"""Executive metrics, computed from the usage rollups (never from raw records) and stored.

Scopes: each organisation, and the platform (every organisation together). Periods: London calendar
days and months (a day is 23 or 25 hours on DST days). Only *finished, clean* hours count: an hour
is counted once it has ended (plus BI_FINISHED_HOUR_GRACE_SECONDS) and no finished hour before it
still waits for its rollup (a dirty marker), so every figure is "as of" one consistent instant.

Formulas (per scope and period; "Σ" sums the period's rollups; None where a formula is undefined,
e.g. a ratio over nothing — never a made-up zero):

Financial
- ai_cost_gbp                = Σ cost_gbp (exported only while no request waits for an exchange
                               rate; the gates block a pending cost, which is never sent as zero)
- cost_per_wedding_gbp       = ai_cost_gbp / weddings_ai_assisted
- value_generated_gbp        = Σ over organisations of requests × the organisation's
                               value_per_request_gbp (product default £2.50)
- roi_percent                = (value_generated_gbp − ai_cost_gbp) / ai_cost_gbp × 100
- cost_trend_30d_percent     = (cost of the 30 days ending on the period's last counted day − cost of
                               the 30 days before them) / the latter × 100
Adoption
- active_vendors             = organisations with at least one request in the period
- vendors_total              = active organisations, plus inactive ones that used AI in the period
- adoption_rate_percent      = platform: active_vendors / vendors_total × 100; an organisation: days
                               it used AI / days of the period elapsed × 100
- feature usage breakdown    = requests and GBP cost per AI feature (FeatureUsage rows; they add up
                               to the totals, which the gates check)
Wedding KPIs
- weddings_ai_assisted       = distinct weddings helped in the period (RollupWedding keys)
- efficiency_gain_hours      = Σ over organisations of requests × minutes_saved_per_request / 60
- client_satisfaction_percent= Σ quality_sum / Σ quality_count × 100 (quality scores 0-1)
Seasonal
- peak_season_readiness_percent = share of requests that succeeded in the wedding-day window
                               (Friday 18:00 - Sunday 23:00 London): how the service holds up under
                               the load peak season multiplies
- capacity_utilisation_percent = mean requests per active hour of the period / the busiest hour's
                               requests in the 90 days ending on its last counted day × 100
- seasonal_cost_variation_percent = (cost per active day in the period / cost per active day over the
                               365 days ending on its last counted day − 1) × 100
Technical
- uptime_percent             = hours with usage that were not down / hours with usage × 100; an hour
                               is down when ≥ BI_DOWN_HOUR_ERROR_PERCENT of its requests failed
- avg_response_ms            = Σ latency_sum_ms / requests
- error_rate_percent         = errors / requests × 100

Incremental: a refresh recomputes the days whose rollups were recomputed since it last looked
(rollup computed_at, with an overlap for late commits), the days the newly finished hours belong
to, and the months of those days (months add up their stored days; distinct weddings are counted
over the month). A row is rewritten only when its figures changed (a digest), and only then does
its `changed_at` move: the BI tools receive what changed, nothing else.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import logging
import operator
from collections import defaultdict, namedtuple
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Max, Min, Q, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from wedsync_integrations import calendar
from wedsync_integrations.calendar import LONDON
from wedsync_integrations.tenants.models import Organisation
from wedsync_integrations.usage.models import RollupDirtyHour, RollupWedding, UsageRollup

from . import gates
from .models import PLATFORM, ExecutiveMetrics, FeatureUsage, Period, RefreshState, scope_key_of
from .schema import amount

logger = logging.getLogger("wedsync.bi")

HOUR = timedelta(hours=1)
# rollups recomputed just before the watermark may commit just after it: look back this far
RECOMPUTE_OVERLAP = timedelta(minutes=5)
REFRESH_LOCK = "wsi:bi:refresh"
REFRESH_LOCK_SECONDS = 600
ADDITIVE = (
    "requests", "errors", "tokens", "cost_gbp", "cost_usd", "unpriced_requests", "latency_sum_ms", "quality_sum",
    "quality_count", "wedding_requests", "window_requests", "window_errors", "active_hours", "down_hours",
    "value_generated_gbp", "efficiency_gain_hours",
)  # fmt: skip


# -- figures ---------------------------------------------------------------------------------------
@dataclass
class Figures:
    """The sums one metrics row is derived from."""

    requests: int = 0
    errors: int = 0
    tokens: int = 0
    cost_gbp: Decimal = Decimal(0)
    cost_usd: Decimal = Decimal(0)
    unpriced_requests: int = 0
    latency_sum_ms: int = 0
    quality_sum: float = 0.0
    quality_count: int = 0
    wedding_requests: int = 0
    window_requests: int = 0
    window_errors: int = 0
    active_hours: int = 0
    down_hours: int = 0
    value_generated_gbp: Decimal = Decimal(0)
    efficiency_gain_hours: Decimal = Decimal(0)
    max_hour_requests: int = 0
    weddings_ai_assisted: int = 0
    active_vendors: int = 0
    vendors_total: int = 0
    active_days: int = 0
    features: dict[str, list] = field(default_factory=dict)  # feature -> [requests, cost_gbp, unpriced]

    def add(self, other: Figures) -> None:
        for name in ADDITIVE:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.max_hour_requests = max(self.max_hour_requests, other.max_hour_requests)
        self.weddings_ai_assisted += other.weddings_ai_assisted  # keys are per organisation
        self.active_vendors += other.active_vendors
        self.active_days = max(self.active_days, other.active_days)
        for feature, (requests, cost, unpriced) in other.features.items():
            mine = self.features.setdefault(feature, [0, Decimal(0), 0])
            mine[0] += requests
            mine[1] += cost
            mine[2] += unpriced


@dataclass(frozen=True)
class Trailing:
    """Sums over the days before a period's last counted day (for trend, capacity, seasonality)."""

    cost_30: Decimal | None = None
    cost_prev_30: Decimal | None = None
    max_hour_90: int = 0
    cost_365: Decimal | None = None
    active_days_365: int = 0


@dataclass(frozen=True)
class RefreshResult:
    days: int = 0
    months: int = 0
    rows_changed: int = 0
    as_of: datetime | None = None
    skipped: bool = False


def _pct(numerator, denominator) -> float | None:
    if not denominator:
        return None
    return round(100.0 * float(numerator) / float(denominator), 4)


def derive(fig: Figures, trailing: Trailing, *, elapsed_days: int, platform: bool) -> dict:
    """The derived metrics of one row (formulas in the module docstring)."""
    cost = fig.cost_gbp
    roi = None if not cost else round(float((fig.value_generated_gbp - cost) / cost * 100), 4)
    trend = None
    if trailing.cost_prev_30:
        trend = round(float((trailing.cost_30 - trailing.cost_prev_30) / trailing.cost_prev_30 * 100), 4)
    seasonal = None
    if trailing.cost_365 and trailing.active_days_365 and fig.active_days:
        per_day_now = cost / fig.active_days
        per_day_year = trailing.cost_365 / trailing.active_days_365
        seasonal = round(float((per_day_now / per_day_year - 1) * 100), 4)
    capacity = None
    if fig.active_hours and trailing.max_hour_90:
        capacity = min(100.0, round(100.0 * fig.requests / fig.active_hours / trailing.max_hour_90, 4))
    adoption = _pct(fig.active_vendors, fig.vendors_total) if platform else _pct(fig.active_days, elapsed_days)
    return {
        "cost_per_wedding_gbp": amount(cost / fig.weddings_ai_assisted) if fig.weddings_ai_assisted else None,
        "roi_percent": roi,
        "cost_trend_30d_percent": trend,
        "adoption_rate_percent": adoption if adoption is not None else 0.0,
        "client_satisfaction_percent": _pct(fig.quality_sum, fig.quality_count),
        "peak_season_readiness_percent": _pct(fig.window_requests - fig.window_errors, fig.window_requests),
        "capacity_utilisation_percent": capacity,
        "seasonal_cost_variation_percent": seasonal,
        "uptime_percent": _pct(fig.active_hours - fig.down_hours, fig.active_hours),
        "avg_response_ms": round(fig.latency_sum_ms / fig.requests, 4) if fig.requests else None,
        "error_rate_percent": _pct(fig.errors, fig.requests),
    }


# -- when ------------------------------------------------------------------------------------------
def floor_hour(at: datetime) -> datetime:
    return at.replace(minute=0, second=0, microsecond=0)


def counted_up_to(now: datetime) -> datetime:
    """The end of the last finished hour such that no finished hour before it is still dirty."""
    finished = floor_hour(now - timedelta(seconds=settings.BI_FINISHED_HOUR_GRACE_SECONDS))
    dirty = RollupDirtyHour.objects.filter(hour__lt=finished).aggregate(first=Min("hour"))["first"]
    return min(finished, dirty) if dirty is not None else finished


def london_day(at: datetime) -> date:
    return calendar.london(at).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    return calendar.london_day_bounds(day)


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Contiguous runs of the sorted days: [(first, last), ...]."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and day == runs[-1][1] + timedelta(days=1):
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


# -- refresh -------------------------------------------------------------------------------------------
def refresh(now: datetime | None = None) -> RefreshResult:
    """Bring the stored metrics up to date with the rollups (see the module docstring). One refresh
    at a time across processes; a second caller returns at once (skipped) and uses what is stored."""
    now = now or timezone.now()
    if not cache.add(REFRESH_LOCK, 1, timeout=REFRESH_LOCK_SECONDS):
        return RefreshResult(skipped=True)
    try:
        return _refresh(now)
    finally:
        cache.delete(REFRESH_LOCK)


def _refresh(now: datetime) -> RefreshResult:
    state = RefreshState.get()
    as_of = counted_up_to(now)
    history_start = as_of - timedelta(days=settings.BI_HISTORY_DAYS)
    seen = UsageRollup.objects.aggregate(newest=Max("computed_at"))["newest"]
    rollups = UsageRollup.objects.filter(hour__gte=history_start, hour__lt=as_of)
    if state.rollups_seen_up_to is not None:
        rollups = rollups.filter(computed_at__gt=state.rollups_seen_up_to - RECOMPUTE_OVERLAP)
    days = set(rollups.annotate(day=TruncDate("hour", tzinfo=LONDON)).values_list("day", flat=True).distinct())
    if state.as_of is not None and as_of > state.as_of:
        # newly finished hours (with or without usage): their days gain hours or become complete
        days.update(_days_between(london_day(state.as_of), london_day(as_of - HOUR)))
    days.update(
        ExecutiveMetrics.objects.filter(period=Period.DAY, is_complete=False, period_end__lte=london_day(as_of))
        .values_list("period_start", flat=True)
        .distinct()
    )
    days = sorted(day for day in days if day_bounds(day)[0] < as_of and day_bounds(day)[1] > history_start)
    if not days and state.as_of == as_of:
        return RefreshResult(as_of=as_of)
    changed = compute_days(days, as_of=as_of, now=now)
    months = sorted({month_start(day) for day in days})
    changed += compute_months(months, as_of=as_of, now=now)
    state.rollups_seen_up_to = max(filter(None, [seen, state.rollups_seen_up_to]), default=None)
    state.as_of, state.refreshed_at = as_of, now
    state.save()
    if days:
        logger.info("bi.refresh days=%d months=%d changed=%d as_of=%s", len(days), len(months), changed, as_of)
    return RefreshResult(days=len(days), months=len(months), rows_changed=changed, as_of=as_of)


# -- days ------------------------------------------------------------------------------------------------
def _organisations() -> dict[int, Organisation]:
    return {
        org.pk: org
        for org in Organisation.objects.only(
            "pk", "slug", "name", "is_active", "value_per_request_gbp", "minutes_saved_per_request"
        )
    }


def compute_days(days: list[date], *, as_of: datetime, now: datetime) -> int:
    """Compute and store the day rows (every organisation with usage, and the platform) of `days`.
    Returns how many rows changed."""
    if not days:
        return 0
    organisations = _organisations()
    active_total = sum(1 for org in organisations.values() if org.is_active)
    per_day: dict[tuple[str, date], Figures] = {}
    for first, last in _runs(days):
        start, end = day_bounds(first)[0], min(day_bounds(last)[1], as_of)
        for (org_id, day), fig in day_figures(start, end, organisations).items():
            per_day[(scope_key_of(org_id), day)] = fig
    platforms: dict[date, Figures] = {day: Figures() for day in days}
    inactive_users: dict[date, int] = defaultdict(int)
    for (key, day), fig in per_day.items():
        platforms[day].add(fig)
        inactive_users[day] += not organisations[int(key[4:])].is_active
    for day, platform in platforms.items():
        platform.active_days = 1 if platform.requests else 0
        platform.vendors_total = active_total + inactive_users[day]
        per_day[(PLATFORM, day)] = platform
    trailing = trailing_for(per_day, days)
    rows = []
    for (key, day), fig in per_day.items():
        start, end = day_bounds(day)
        rows.append(
            _row(key, Period.DAY, day, day + timedelta(days=1), fig, trailing.get((key, day), Trailing()),
                 elapsed_days=1, complete=end <= as_of, as_of=min(end, as_of), now=now)
        )  # fmt: skip
    return store(rows, days=days, period=Period.DAY)


def day_figures(start: datetime, end: datetime, organisations: dict[int, Organisation]) -> dict:
    """{(organisation_id, London day): Figures} from the rollups of [start, end)."""
    rollups = UsageRollup.objects.filter(hour__gte=start, hour__lt=end)
    in_window = Q(pk__in=[])
    for opens, closes in wedding_windows(start, end):
        in_window |= Q(hour__gte=opens, hour__lt=closes)
    # one pass at the breakdown's grain (organisation, day, feature): the day's totals are its sums
    sums = (
        rollups.annotate(day=TruncDate("hour", tzinfo=LONDON))
        .values_list("organisation_id", "day", "feature")
        .annotate(
            s_requests=Sum("requests"), s_errors=Sum("errors"), s_prompt=Sum("prompt_tokens"),
            s_completion=Sum("completion_tokens"), s_cost_gbp=Sum("cost_gbp"), s_cost_usd=Sum("cost_usd"),
            s_unpriced=Sum("unpriced_requests"), s_latency=Sum("latency_sum_ms"), s_quality_sum=Sum("quality_sum"),
            s_quality_count=Sum("quality_count"), s_wedding_requests=Sum("wedding_requests"),
            s_window_requests=Sum("requests", filter=in_window), s_window_errors=Sum("errors", filter=in_window),
        )
        .order_by()
    )  # fmt: skip
    figures: dict[tuple[int, date], Figures] = {}
    zero = Decimal(0)
    for (org_id, day, feature, requests, errors, prompt, completion, cost_gbp, cost_usd, unpriced, latency,
         quality_sum, quality_count, wedding_requests, window_requests, window_errors) in sums:  # fmt: skip
        fig = figures.get((org_id, day))
        if fig is None:
            if org_id not in organisations:
                continue
            fig = figures[(org_id, day)] = Figures(vendors_total=1)
        fig.requests += requests
        fig.errors += errors
        fig.tokens += prompt + completion
        fig.cost_gbp += cost_gbp or zero
        fig.cost_usd += cost_usd or zero
        fig.unpriced_requests += unpriced
        fig.latency_sum_ms += latency
        fig.quality_sum += quality_sum or 0.0
        fig.quality_count += quality_count
        fig.wedding_requests += wedding_requests
        fig.window_requests += window_requests or 0
        fig.window_errors += window_errors or 0
        fig.features[feature] = [requests, cost_gbp or zero, unpriced]
    for (org_id, _day), fig in figures.items():
        org = organisations[org_id]
        fig.value_generated_gbp = amount(fig.requests * org.value_per_request_gbp)
        fig.efficiency_gain_hours = amount(Decimal(fig.requests) * org.minutes_saved_per_request / 60)
        fig.active_vendors = fig.active_days = 1 if fig.requests else 0
    for (org_id, day), (active, down, busiest) in hour_stats(start, end).items():
        fig = figures.get((org_id, day))
        if fig is not None:
            fig.active_hours, fig.down_hours, fig.max_hour_requests = active, down, busiest
    weddings = (
        RollupWedding.objects.filter(hour__gte=start, hour__lt=end)
        .annotate(day=TruncDate("hour", tzinfo=LONDON))
        .values_list("organisation_id", "day")
        .annotate(s_weddings=Count("wedding_key", distinct=True))
        .order_by()
    )
    for org_id, day, count in weddings:
        fig = figures.get((org_id, day))
        if fig is not None:
            fig.weddings_ai_assisted = count
    return figures


def hour_stats(start: datetime, end: datetime) -> dict[tuple[int, date], tuple[int, int, int]]:
    """{(organisation_id, London day): (hours with usage, down hours, busiest hour's requests)}: the
    rollups summed per hour (all features and models), then per day, in one statement."""
    hourly = (
        UsageRollup.objects.filter(hour__gte=start, hour__lt=end)
        .values("organisation_id", "hour")
        .annotate(r=Sum("requests"), e=Sum("errors"))
        .order_by()
    )
    inner, params = hourly.query.sql_with_params()
    day_sql, day_params = connection.ops.datetime_cast_date_sql("h.hour", (), "Europe/London")
    threshold = settings.BI_DOWN_HOUR_ERROR_PERCENT
    sql = (
        f"SELECT h.organisation_id, {day_sql} AS day, COUNT(*), "  # noqa: S608 (no user input in the SQL)
        f"SUM(CASE WHEN h.r > 0 AND 100.0 * h.e >= %s * h.r THEN 1 ELSE 0 END), MAX(h.r) "
        f"FROM ({inner}) h GROUP BY h.organisation_id, {day_sql}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, (*day_params, threshold, *params, *day_params))
        rows = cursor.fetchall()
    result = {}
    for org_id, day, active, down, busiest in rows:
        if isinstance(day, str):  # SQLite returns the date as text
            day = date.fromisoformat(day)
        elif isinstance(day, datetime):
            day = day.date()
        result[(org_id, day)] = (int(active), int(down or 0), int(busiest or 0))
    return result


def wedding_windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The wedding-day windows (Friday 18:00 - Sunday 23:00 London) overlapping [start, end), as UTC
    ranges: a few range comparisons per rollup instead of testing each hour against a list."""
    windows, at = [], start
    while at < end:
        opens, closes = calendar.next_wedding_window(at)
        if opens >= end:
            break
        windows.append((opens.astimezone(UTC), closes.astimezone(UTC)))
        at = closes
    return windows


# -- trailing windows -----------------------------------------------------------------------------------
def trailing_for(computed: dict[tuple[str, date], Figures], days: list[date]) -> dict[tuple[str, date], Trailing]:
    """Trailing sums for every (scope, day) in `computed`, from the stored day rows of other days plus
    the days computed now (not stored yet)."""
    by_scope: dict[str, list[tuple[date, Figures]]] = defaultdict(list)
    for (key, day), fig in computed.items():
        by_scope[key].append((day, fig))
    series = {}
    for key, items in by_scope.items():
        items.sort(key=lambda pair: pair[0])
        cost_prefix, active_prefix = [Decimal(0)], [0]
        for _, fig in items:
            cost_prefix.append(cost_prefix[-1] + fig.cost_gbp)
            active_prefix.append(active_prefix[-1] + (1 if fig.requests else 0))
        series[key] = (
            [day for day, _ in items],
            [fig.max_hour_requests for _, fig in items],
            cost_prefix,
            active_prefix,
        )
    computed_days = sorted(set(days))
    # the stored day rows a window can reach (none on a first fill: then no query per day)
    reach = ExecutiveMetrics.objects.filter(
        period=Period.DAY, period_start__gte=computed_days[0] - timedelta(days=364), period_start__lte=computed_days[-1]
    ).exclude(period_start__in=computed_days)
    anything_stored = reach.exists()
    positions = {key: {day: index for index, day in enumerate(dates)} for key, (dates, *_) in series.items()}
    result = {}
    for target in computed_days:
        stored = stored_trailing(target, exclude=computed_days) if anything_stored else {}
        for key, (dates, busiest, cost_prefix, active_prefix) in series.items():
            if target not in positions[key]:
                continue

            def window(first, last, dates=dates, cost_prefix=cost_prefix):
                lo, hi = bisect.bisect_left(dates, first), bisect.bisect_right(dates, last)
                return lo, hi, cost_prefix[hi] - cost_prefix[lo]

            base = stored.get(key, {})
            _, _, c30 = window(target - timedelta(days=29), target)
            _, _, p30 = window(target - timedelta(days=59), target - timedelta(days=30))
            lo90, hi90, _ = window(target - timedelta(days=89), target)
            lo365, hi365, c365 = window(target - timedelta(days=364), target)
            result[(key, target)] = Trailing(
                cost_30=c30 + base.get("c30", Decimal(0)),
                cost_prev_30=p30 + base.get("p30", Decimal(0)),
                max_hour_90=max([base.get("m90", 0), *busiest[lo90:hi90]]),
                cost_365=c365 + base.get("c365", Decimal(0)),
                active_days_365=active_prefix[hi365] - active_prefix[lo365] + base.get("n365", 0),
            )
    return result


def stored_trailing(target: date, *, exclude: list[date] = ()) -> dict[str, dict]:
    """Per scope, the trailing sums of the stored day rows ending on `target` (days in `exclude`
    left out: the caller adds them itself)."""
    rows = ExecutiveMetrics.objects.filter(
        period=Period.DAY, period_start__gte=target - timedelta(days=364), period_start__lte=target
    )
    if exclude:
        rows = rows.exclude(period_start__in=list(exclude))
    sums = rows.values("scope_key").annotate(
        c30=Sum("cost_gbp", filter=Q(period_start__gte=target - timedelta(days=29))),
        p30=Sum("cost_gbp", filter=Q(period_start__lt=target - timedelta(days=29),
                                     period_start__gte=target - timedelta(days=59))),
        m90=Max("max_hour_requests", filter=Q(period_start__gte=target - timedelta(days=89))),
        c365=Sum("cost_gbp"),
        n365=Count("id", filter=Q(requests__gt=0)),
    ).order_by()  # fmt: skip
    return {
        row["scope_key"]: {key: value for key, value in row.items() if key != "scope_key" and value is not None}
        for row in sums
    }


# -- months ---------------------------------------------------------------------------------------------
def compute_months(months: list[date], *, as_of: datetime, now: datetime) -> int:
    """Compute and store the month rows of `months` from their stored day rows."""
    changed = 0
    for first in months:
        after = next_month(first)
        start, end = day_bounds(first)[0], min(day_bounds(after)[0], as_of)
        if start >= end:
            continue
        last_counted = min(after - timedelta(days=1), london_day(end - HOUR))
        elapsed = (last_counted - first).days + 1
        day_rows = ExecutiveMetrics.objects.filter(period=Period.DAY, period_start__gte=first, period_start__lt=after)
        sums = {
            row["scope_key"]: row
            for row in day_rows.values("scope_key", "organisation_id")
            .annotate(
                **{f"s_{name}": Sum(name) for name in ADDITIVE},
                s_max_hour_requests=Max("max_hour_requests"),
                s_active_days=Count("id", filter=Q(requests__gt=0)),
            )
            .order_by()
        }
        features: dict[str, dict] = defaultdict(dict)
        for key, feature, requests, cost, unpriced in (
            FeatureUsage.objects.filter(metrics__in=day_rows)
            .values_list("metrics__scope_key", "feature")
            .annotate(Sum("requests"), Sum("cost_gbp"), Sum("unpriced_requests"))
            .order_by()
        ):
            features[key][feature] = [requests or 0, cost or Decimal(0), unpriced or 0]
        weddings = dict(
            RollupWedding.objects.filter(hour__gte=start, hour__lt=end)
            .values_list("organisation_id")
            .annotate(s_weddings=Count("wedding_key", distinct=True))
            .order_by()
        )
        organisations = _organisations()
        stored = stored_trailing(last_counted)
        rows = []
        for key, sum_row in sums.items():
            fig = Figures(**{name: sum_row[f"s_{name}"] or 0 for name in ADDITIVE})
            fig.cost_gbp, fig.cost_usd = Decimal(fig.cost_gbp), Decimal(fig.cost_usd)
            fig.max_hour_requests, fig.active_days = sum_row["s_max_hour_requests"] or 0, sum_row["s_active_days"]
            fig.features = features.get(key, {})
            if key == PLATFORM:
                users = [k for k in sums if k != PLATFORM]
                fig.weddings_ai_assisted = sum(weddings.values())
                fig.active_vendors = sum(1 for k in users if sums[k]["s_requests"])
                inactive = sum(1 for k in users if not organisations[int(k[4:])].is_active)
                fig.vendors_total = sum(1 for org in organisations.values() if org.is_active) + inactive
            else:
                fig.weddings_ai_assisted = weddings.get(int(key[4:]), 0)
                fig.active_vendors, fig.vendors_total = (1 if fig.requests else 0), 1
            base = stored.get(key, {})
            trailing = Trailing(
                cost_30=base.get("c30", Decimal(0)), cost_prev_30=base.get("p30"), max_hour_90=base.get("m90", 0),
                cost_365=base.get("c365"), active_days_365=base.get("n365", 0),
            )  # fmt: skip
            rows.append(
                _row(key, Period.MONTH, first, after, fig, trailing, elapsed_days=elapsed,
                     complete=day_bounds(after)[0] <= as_of, as_of=end, now=now)
            )  # fmt: skip
        changed += store(rows, days=[first], period=Period.MONTH)
    return changed


# -- rows ----------------------------------------------------------------------------------------------
FeatureFigures = namedtuple("FeatureFigures", "feature requests cost_gbp unpriced_requests")
STORED = [f.attname for f in ExecutiveMetrics._meta.concrete_fields if not f.primary_key]
NOT_DIGESTED = {"digest", "computed_at", "changed_at", "as_of", "gate_passed", "gate_failures"}
DIGESTED = [name for name in STORED if name not in NOT_DIGESTED]


class ComputedRow:
    """One computed metrics row before it is stored: the model's fields as plain attributes (building a
    model instance per row cost more than computing it), plus its breakdown."""

    __slots__ = (*STORED, "features")

    def __init__(self, **values):
        for name, value in values.items():
            setattr(self, name, value)

    @property
    def row_key(self) -> str:
        return f"{self.scope_key}:{self.period}:{self.period_start.isoformat()}"


def _row(key, period, first, after, fig: Figures, trailing: Trailing, *, elapsed_days, complete, as_of, now):
    row = ComputedRow(
        scope_key=key,
        organisation_id=None if key == PLATFORM else int(key[4:]),
        period=period,
        period_start=first,
        period_end=after,
        season=_season(first),
        is_complete=complete,
        as_of=as_of,
        computed_at=now,
        changed_at=now,
        requests=fig.requests, errors=fig.errors, tokens=fig.tokens, cost_gbp=fig.cost_gbp, cost_usd=fig.cost_usd,
        unpriced_requests=fig.unpriced_requests, latency_sum_ms=fig.latency_sum_ms, quality_sum=fig.quality_sum,
        quality_count=fig.quality_count, wedding_requests=fig.wedding_requests, window_requests=fig.window_requests,
        window_errors=fig.window_errors, active_hours=fig.active_hours, down_hours=fig.down_hours,
        max_hour_requests=fig.max_hour_requests, value_generated_gbp=fig.value_generated_gbp,
        efficiency_gain_hours=fig.efficiency_gain_hours, weddings_ai_assisted=fig.weddings_ai_assisted,
        active_vendors=fig.active_vendors, vendors_total=fig.vendors_total, active_days=fig.active_days,
        **derive(fig, trailing, elapsed_days=elapsed_days, platform=key == PLATFORM),
    )  # fmt: skip
    row.features = [
        FeatureFigures(name, requests, cost, unpriced)
        for name, (requests, cost, unpriced) in sorted(fig.features.items())
    ]
    row.gate_failures = gates.judge_computed(row, row.features)
    row.gate_passed = not row.gate_failures
    row.digest = digest(row, row.features)
    return row


@functools.lru_cache(maxsize=1024)
def _season(day: date) -> str:
    return str(calendar.season_of_date(day))


_figures_of = operator.attrgetter(*DIGESTED)


def digest(row, features) -> str:
    """A fingerprint of the figures (not of when they were computed): equal digests, nothing to send.
    Values are taken as computed (floats already rounded, Decimals at their fixed scales), so the same
    figures always give the same text."""
    return hashlib.sha256(repr((_figures_of(row), tuple(features))).encode()).hexdigest()


def store(rows: list[ComputedRow], *, days: list[date], period: str) -> int:
    """Write the rows whose figures changed (and their breakdowns), in one transaction."""
    if not rows:
        return 0
    existing = {
        (key, start): value
        for key, start, value in ExecutiveMetrics.objects.filter(
            period=period, period_start__in=sorted(set(days))
        ).values_list("scope_key", "period_start", "digest")
    }
    changed = [row for row in rows if existing.get((row.scope_key, row.period_start)) != row.digest]
    if not changed:
        return 0
    with transaction.atomic():
        if connection.vendor == "postgresql":
            _store_copy(changed)
        else:
            _store_orm(changed)
    return len(changed)


def _store_orm(changed: list[ComputedRow]) -> None:
    ExecutiveMetrics.objects.bulk_create(
        [ExecutiveMetrics(**{name: getattr(row, name) for name in STORED}) for row in changed],
        batch_size=500,
        update_conflicts=True,
        unique_fields=["scope_key", "period", "period_start"],
        update_fields=[
            name.removesuffix("_id") for name in STORED if name not in ("scope_key", "period", "period_start")
        ],
    )
    ids = {}
    for start in range(0, len(changed), 500):
        part = changed[start : start + 500]
        keys = Q()
        for row in part:
            keys |= Q(scope_key=row.scope_key, period=row.period, period_start=row.period_start)
        ids.update({(k, p, s): pk for pk, k, p, s in ExecutiveMetrics.objects.filter(keys).values_list(
            "pk", "scope_key", "period", "period_start")})  # fmt: skip
    pks = [ids[(row.scope_key, row.period, row.period_start)] for row in changed]
    for start in range(0, len(pks), 500):
        FeatureUsage.objects.filter(metrics_id__in=pks[start : start + 500]).delete()
    FeatureUsage.objects.bulk_create(
        [
            FeatureUsage(metrics_id=pk, **f._asdict())
            for row, pk in zip(changed, pks, strict=True)
            for f in row.features
        ],
        batch_size=1000,
    )


def _store_copy(changed: list[ComputedRow]) -> None:
    """PostgreSQL: COPY into a staging table, one upsert returning the ids, COPY the breakdowns (the ORM's
    per-value preparation was most of a month's refresh)."""
    from psycopg.types.json import Jsonb

    metrics_table, features_table = ExecutiveMetrics._meta.db_table, FeatureUsage._meta.db_table
    columns = ", ".join(STORED)
    updates = ", ".join(
        f"{name} = EXCLUDED.{name}" for name in STORED if name not in ("scope_key", "period", "period_start")
    )
    with connection.cursor() as cursor:
        stage = (
            f"CREATE TEMP TABLE bi_metrics_stage ON COMMIT DROP AS SELECT {columns} FROM {metrics_table} WITH NO DATA"  # noqa: S608
        )
        cursor.execute("DROP TABLE IF EXISTS pg_temp.bi_metrics_stage")  # left by an enclosing transaction
        cursor.execute(stage)
        with cursor.cursor.copy(f"COPY bi_metrics_stage ({columns}) FROM STDIN") as copy:
            for row in changed:
                copy.write_row([Jsonb(row.gate_failures) if name == "gate_failures" else getattr(row, name)
                                for name in STORED])  # fmt: skip
        cursor.execute(
            f"INSERT INTO {metrics_table} ({columns}) SELECT {columns} FROM bi_metrics_stage "  # noqa: S608
            f"ON CONFLICT (scope_key, period, period_start) DO UPDATE SET {updates} "
            "RETURNING id, scope_key, period, period_start"
        )
        ids = {(key, period, start): pk for pk, key, period, start in cursor.fetchall()}
        pks = [ids[(row.scope_key, row.period, row.period_start)] for row in changed]
        cursor.execute(f"DELETE FROM {features_table} WHERE metrics_id = ANY(%s)", [pks])  # noqa: S608
        with cursor.cursor.copy(
            f"COPY {features_table} (metrics_id, feature, requests, cost_gbp, unpriced_requests) FROM STDIN"
        ) as copy:
            for row, pk in zip(changed, pks, strict=True):
                for feature in row.features:
                    copy.write_row((pk, *feature))
