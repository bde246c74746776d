"""Data-quality gates: nothing reaches a BI tool unless every row of the push passes all of them.

    required     every required column is present (not null)
    finite       every number is finite; counts, amounts and measures are not negative
    percent      every share of a whole lies within 0-100
    breakdown    the feature breakdown adds up to the totals: requests exactly, GBP within £0.01
    period       the period is well formed: a London day or calendar month, start before end,
                 counted up to an instant inside it
    rates        no request of the period still waits for an exchange rate (its GBP cost would be
                 incomplete: a pending cost is never exported as zero)
    stale        the metrics follow the rollups: no counted hour is being recomputed (a dirty rollup
                 marker) and the last refresh is recent

The first six are judged when a row is computed (stored on the row, shown in admin); `stale` and
the stored verdicts are judged again right before each push (judge_push). A failed gate blocks
the whole push — nothing partial is sent — and the caller records it and raises one alert.
"""

from __future__ import annotations

import functools
import math
import operator
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Max, Min, QuerySet
from django.utils import timezone

from wedsync_integrations import calendar
from wedsync_integrations.usage.models import RollupDirtyHour

from .schema import METRIC_COLUMNS, NUMBER_KINDS, amount

PENNY = Decimal("0.01")
CHECKS = ("required", "finite", "percent", "breakdown", "period", "rates", "stale")


# (exported column, attribute of a metrics row, kind, required); columns a row does not compute itself
# (names, staff inputs) are not judged: they are looked up when exported
ATTRIBUTE = {"ai_cost_gbp": "cost_gbp", "ai_cost_usd": "cost_usd"}
NOT_COMPUTED = {"row_key", "scope", "organisation_slug", "organisation_name"}
CHECKED = [
    (column.name, ATTRIBUTE.get(column.name, column.name), column.kind, column.required)
    for column in METRIC_COLUMNS
    if column.name not in NOT_COMPUTED and not column.name.startswith("staff_")
] + [("scope_key", "scope_key", "text", True)]


def judge_computed(metrics, features) -> list[str]:
    """The failed checks of one computed row (a model instance or bi.metrics.ComputedRow), each as
    'check: what is wrong'."""
    failures = _value_failures(metrics)
    failures += _breakdown_failures(metrics, features)
    failures += _period_failures(metrics)
    if metrics.unpriced_requests:
        failures.append(f"rates: {metrics.unpriced_requests} request(s) still wait for a USD→GBP exchange rate")
    return failures


_values_of = operator.attrgetter(*(attribute for _, attribute, _, _ in CHECKED))
_NON_NEGATIVE = {"count", "amount", "measure"}


def _value_failures(row) -> list[str]:
    failures = []
    for (name, _, kind, required), value in zip(CHECKED, _values_of(row), strict=True):
        if value is None or value == "":
            if required:
                failures.append(f"required: {name} is missing")
            continue
        if kind not in NUMBER_KINDS:
            continue
        number = float(value)
        if number != number or number in (math.inf, -math.inf):
            failures.append(f"finite: {name} is {value}")
        elif number < 0 and kind in _NON_NEGATIVE:
            failures.append(f"finite: {name} is negative ({amount(value) if kind == 'amount' else value})")
        elif kind == "share" and not 0 <= number <= 100:
            failures.append(f"percent: {name} is {value}, outside 0-100")
    return failures


def _breakdown_failures(metrics, features) -> list[str]:
    failures = []
    requests = sum(feature.requests for feature in features)
    if requests != metrics.requests:
        failures.append(f"breakdown: feature requests add up to {requests}, the total is {metrics.requests}")
    cost = sum((amount(feature.cost_gbp) for feature in features), Decimal(0))
    total = amount(metrics.cost_gbp)
    if abs(cost - total) > PENNY:
        failures.append(f"breakdown: feature costs add up to £{cost}, the total is £{total} (more than £0.01 apart)")
    return failures


def _period_failures(metrics) -> list[str]:
    start, end = metrics.period_start, metrics.period_end
    if metrics.period == "day":
        expected = start + timedelta(days=1)
    elif metrics.period == "month":
        expected = (start.replace(day=28) + timedelta(days=4)).replace(day=1) if start.day == 1 else None
    else:
        return [f"period: unknown period {metrics.period!r}"]
    if expected is None or end != expected:
        return [f"period: {metrics.period} from {start} to {end} is not a whole London {metrics.period}"]
    opens, closes = _day_start(start), _day_start(end)
    if not opens < metrics.as_of <= closes:
        return [f"period: counted up to {metrics.as_of:%Y-%m-%d %H:%M}Z, outside {start}..{end}"]
    return []


@functools.lru_cache(maxsize=4096)
def _day_start(day) -> datetime:
    return calendar.london_day_bounds(day)[0]


def judge_push(rows, *, now: datetime | None = None, refreshed_as_of: datetime | None = None) -> list[str]:
    """Every failure of the rows about to be pushed (a queryset, judged in the database, or a list):
    their stored verdicts, and staleness now."""
    now = now or timezone.now()
    failures = _stale_failures(now, refreshed_as_of)
    if isinstance(rows, QuerySet):
        stored = rows.filter(gate_passed=False).select_related(None).order_by("period_start")
        stored = [(row.row_key, row.gate_failures) for row in stored.only("scope_key", "period", "period_start",
                                                                          "gate_failures")[:200]]  # fmt: skip
        span = rows.aggregate(first=Min("period_start"), last=Max("as_of"))
        scope = set(rows.values_list("organisation_id", flat=True).distinct()[:1001])
    else:
        stored = [(row.row_key, row.gate_failures) for row in rows if row.gate_failures]
        span = {
            "first": min((r.period_start for r in rows), default=None),
            "last": max((r.as_of for r in rows), default=None),
        }
        scope = {row.organisation_id for row in rows}
    failures += [f"{key}: {failure}" for key, verdict in stored for failure in verdict]
    if span["first"] is not None:
        failures += _recomputing(_day_start(span["first"]), span["last"], scope)
    return failures


def _stale_failures(now, refreshed_as_of) -> list[str]:
    limit = timedelta(seconds=settings.BI_STALE_AFTER_SECONDS)
    if refreshed_as_of is None or now - refreshed_as_of > limit:
        when = f"{refreshed_as_of:%Y-%m-%d %H:%M}Z" if refreshed_as_of else "never"
        return [f"stale: the metrics count usage up to {when}, more than {limit} ago"]
    return []


def _recomputing(first: datetime, last: datetime, organisations: set) -> list[str]:
    """A counted hour whose rollup is being recomputed (late usage) makes the rows stale. A platform row
    (organisation None) counts every organisation's hours."""
    dirty = RollupDirtyHour.objects.filter(hour__gte=first, hour__lt=last)
    if None not in organisations and len(organisations) <= 1000:
        dirty = dirty.filter(organisation_id__in=organisations)
    hour = dirty.order_by("hour").values_list("hour", flat=True).first()
    if hour is None:
        return []
    return [f"stale: the rollup of {hour:%Y-%m-%d %H}:00Z is being recomputed (late usage)"]
