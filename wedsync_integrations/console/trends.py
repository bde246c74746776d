"""The console's trend charts, each one aggregate query per family or source (never a row per
item brought into Python), cached for CONSOLE_TRENDS_CACHE_SECONDS: trends move by the hour, and a
dashboard left open on a wall screen must not re-scan the logs on every refresh.

- deliveries and exports per hour per family (48 h): succeeded, and failed
- retry-queue depth per family at each hour (48 h)
- webhook intake per source per hour and the rejected attempts (48 h)
- alerts raised per day by severity and the median time to acknowledge (30 days)
- AI requests and GBP cost per London day (30 days), for the platform or one organisation
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings
from django.db.models import Case, Count, F, Q, Sum, When
from django.db.models.functions import TruncDate, TruncHour
from django.utils import timezone

from wedsync_integrations.calendar import LONDON
from wedsync_integrations.core.tolerant_cache import TolerantCache
from wedsync_integrations.integrations.registry import families
from wedsync_integrations.integrations.states import RetryState, SyncOutcome

from .charts import (
    BAD,
    BLUE,
    GOOD,
    PALETTE,
    QUIET,
    WAITING,
    Chart,
    Series,
    day_label,
    day_slots,
    hour_label,
    hour_slots,
)

HOURS = 48
DAYS = 30
_cached = TolerantCache("console.trends_cache_unavailable", "the console's charts are computed on every view")
SEVERITY_COLOURS = {"low": QUIET, "medium": WAITING, "high": "#bc4c00", "critical": BAD}


def dashboard_charts(now: datetime | None = None) -> list[Chart]:
    """Every trend of the dashboard, from the cache when it is fresh."""
    return _remembered("dashboard", lambda: _dashboard_charts(now or timezone.now()))


def ai_usage_per_day(organisation=None, *, days: int = DAYS, now: datetime | None = None) -> Chart:
    """AI requests and GBP cost per London day, for one organisation or (None) the platform."""
    key = f"usage:{organisation.pk if organisation is not None else 'platform'}:{days}"
    return _remembered(key, lambda: _ai_usage_per_day(organisation, days, now or timezone.now()))


def _remembered(name: str, compute):
    key = _cache_key(name)
    value = _cached.get(key)
    if value is None:
        value = compute()
        _cached.set(key, value, timeout=settings.CONSOLE_TRENDS_CACHE_SECONDS)
    return value


def _cache_key(name: str) -> str:
    return f"wsi:console:trends:{name}"


def _dashboard_charts(now: datetime) -> list[Chart]:
    succeeded, failed = deliveries_per_hour(now)
    return [succeeded, failed, retry_queue_depth(now), webhook_intake(now), alerts_per_day(now),
            _ai_usage_per_day(None, DAYS, now)]  # fmt: skip


# -- deliveries and exports ------------------------------------------------------------------------
_FAILED = (SyncOutcome.FAILED, SyncOutcome.RETRYING)


def deliveries_per_hour(now: datetime, hours: int = HOURS) -> tuple[Chart, Chart]:
    """Two charts with the same colours per family: what succeeded per hour, and what failed
    (failed permanently, or failed and queued to retry). One GROUP BY per family."""
    slots = hour_slots(now, hours)
    good, bad = [], []
    for colour, family in zip(PALETTE, _outbound_families(), strict=False):
        logs = family.sync_log_model.objects.filter(started_at__gte=slots[0])
        per_outcome = _per_slot_by(logs, "started_at", "outcome", slots)
        failed = [sum(counts) for counts in zip(*(per_outcome[outcome] for outcome in _FAILED), strict=True)]
        good.append(Series(family.label, per_outcome[SyncOutcome.SUCCESS], colour, stack="all"))
        bad.append(Series(family.label, failed, colour, stack="all"))
    labels = [hour_label(slot) for slot in slots]
    note = "Each family's sync log, per hour (London time), last 48 hours."
    return (
        Chart("deliveries-succeeded", "Deliveries and exports succeeded", labels, good, unit="per hour", note=note),
        Chart("deliveries-failed", "Deliveries and exports failed", labels, bad, unit="per hour",
              note=note + " Failed permanently or failed and queued to retry.",
              empty="No failures in the last 48 hours."),
    )  # fmt: skip


def _outbound_families():
    return [family for family in families() if not family.inbound_only]


# -- retry queues ----------------------------------------------------------------------------------
def retry_queue_depth(now: datetime, hours: int = HOURS) -> Chart:
    """Items in each family's retry queue at the end of each hour: created by then and neither
    delivered nor given up by then. Counted as the depth when the period began plus arrivals
    minus departures per hour: three small GROUP BYs per family, whatever the queue's history."""
    slots = hour_slots(now, hours)
    start = slots[0]
    series = []
    for colour, family in zip(PALETTE, _outbound_families(), strict=False):
        items = family.retry_model.objects.order_by()
        depth = items.filter(created_at__lt=start).exclude(_ended_by(start)).count()
        arrivals = _per_slot(items.filter(created_at__gte=start, created_at__lte=now), "created_at", slots)
        ended = items.annotate(ended_at=_ENDED_AT).filter(ended_at__gte=start, ended_at__lte=now)
        departures = _per_slot(ended, "ended_at", slots)
        values = []
        for arrived, left in zip(arrivals, departures, strict=True):
            depth += arrived - left
            values.append(depth)
        series.append(Series(family.label, values, colour, kind="line"))
    return Chart("retry-queue", "Retry-queue depth", [hour_label(slot) for slot in slots], series, kind="line",
                 unit="items", note="Items waiting in each family's queue at the end of each hour: "
                 "not yet delivered and not given up.", empty="The queues were empty for 48 hours.")  # fmt: skip


# When an item left the queue: delivered, or given up on (its last attempt); null while it waits.
_ENDED_AT = Case(When(state=RetryState.DEAD, then=F("last_attempt_at")), default=F("succeeded_at"))


def _ended_by(moment: datetime) -> Q:
    return Q(succeeded_at__lt=moment) | Q(state=RetryState.DEAD, last_attempt_at__lt=moment)


def _per_slot(rows, moment_field: str, slots: list[datetime]) -> list[int]:
    """How many of `rows` fall in each hour slot, by `moment_field` (one GROUP BY)."""
    return _per_slot_by(rows, moment_field, None, slots).get(None, [0] * len(slots))


def _per_slot_by(rows, moment_field: str, key: str | None, slots: list[datetime]) -> dict[str | None, list[int]]:
    """How many of `rows` fall in each hour slot, per value of `key` (one GROUP BY)."""
    index = {slot: i for i, slot in enumerate(slots)}
    counts: dict[str | None, list[int]] = defaultdict(lambda: [0] * len(slots))
    grouped = rows.annotate(slot=TruncHour(moment_field, tzinfo=UTC)).values("slot", *([key] if key else []))
    for row in grouped.annotate(n=Count("pk")).order_by():
        if (i := index.get(_as_utc(row["slot"]))) is not None:
            counts[row[key] if key else None][i] += row["n"]
    return counts


# -- webhook intake ----------------------------------------------------------------------------------
def webhook_intake(now: datetime, hours: int = HOURS) -> Chart:
    from webhooks.models import InboundEvent, RejectedAttempt

    slots = hour_slots(now, hours)
    per_source = _per_slot_by(InboundEvent.objects.filter(received_at__gte=slots[0]), "received_at", "source", slots)
    rejected = _per_slot(RejectedAttempt.objects.filter(at__gte=slots[0]), "at", slots)
    labels = dict(InboundEvent._meta.get_field("source").choices)
    series = [
        Series(str(labels.get(source, source)), values, colour, stack="accepted")
        for colour, (source, values) in zip(PALETTE, sorted(per_source.items()), strict=False)
    ]
    series.append(Series("rejected (signature, replay, size…)", rejected, BAD, kind="line"))
    return Chart("webhook-intake", "Webhook intake", [hour_label(slot) for slot in slots], series, unit="per hour",
                 note="Verified events per source, and requests refused before verification succeeded.",
                 empty="No webhooks in the last 48 hours.")  # fmt: skip


# -- alerts ------------------------------------------------------------------------------------------
def alerts_per_day(now: datetime, days: int = DAYS) -> Chart:
    """Alerts raised per London day by effective severity (test alerts left out), and the median
    minutes from raised to acknowledged of that day's alerts."""
    from alerts.models import Alert, Severity

    today = timezone.localdate(now)
    slots = day_slots(today, days)
    index = {day: i for i, day in enumerate(slots)}
    since = datetime.combine(slots[0], datetime.min.time(), tzinfo=LONDON)
    alerts = Alert.objects.filter(raised_at__gte=since, is_test=False)
    counts = {severity: [0] * days for severity in Severity.ordered()}
    for row in (
        alerts.annotate(day=TruncDate("raised_at", tzinfo=LONDON)).values("day", "effective_severity")
        .annotate(n=Count("id")).order_by()
    ):  # fmt: skip
        if (i := index.get(row["day"])) is not None:
            counts[row["effective_severity"]][i] += row["n"]
    waits: dict[int, list[float]] = defaultdict(list)
    acknowledged = alerts.filter(acknowledged_at__isnull=False).values_list("raised_at", "acknowledged_at")
    for raised_at, acknowledged_at in acknowledged:
        if (i := index.get(timezone.localdate(raised_at))) is not None:
            waits[i].append((acknowledged_at - raised_at).total_seconds() / 60)
    median = [round(statistics.median(waits[i]), 1) if waits[i] else 0 for i in range(days)]
    series = [Series(f"{severity.label} raised", counts[severity], SEVERITY_COLOURS[severity], stack="raised")
              for severity in Severity.ordered()]  # fmt: skip
    series.append(Series("median minutes to acknowledge", median, BLUE, kind="line", axis="y2"))
    return Chart("alerts", "Alerts raised and time to acknowledge", [day_label(day) for day in slots], series,
                 unit="alerts", unit2="minutes", note="Per London day, last 30 days; test alerts left out.",
                 empty="No alerts in the last 30 days.")  # fmt: skip


# -- AI usage -----------------------------------------------------------------------------------------
def _ai_usage_per_day(organisation, days: int, now: datetime) -> Chart:
    from wedsync_integrations.usage.models import UsageRollup

    today = timezone.localdate(now)
    slots = day_slots(today, days)
    index = {day: i for i, day in enumerate(slots)}
    since = datetime.combine(slots[0], datetime.min.time(), tzinfo=LONDON)
    rollups = UsageRollup.objects.filter(hour__gte=since)
    if organisation is not None:
        rollups = rollups.filter(organisation=organisation)
    requests, cost = [0] * days, [Decimal(0)] * days
    # grouped by the stored hour (the rollups' leading index column, no per-row time-zone
    # arithmetic in the database), then each hour put in its London day here
    for row in rollups.values("hour").annotate(requests=Sum("requests"), cost=Sum("cost_gbp")).order_by():
        if (i := index.get(timezone.localdate(row["hour"]))) is not None:
            requests[i] += row["requests"] or 0
            cost[i] += row["cost"] or 0
    cost = [round(float(value), 2) for value in cost]
    whose = organisation.name if organisation is not None else "all organisations"
    key = f"ai-usage-{organisation.slug}" if organisation is not None else "ai-usage"
    return Chart(key, f"AI requests and cost, {whose}", [day_label(day) for day in slots],
                 [Series("requests", requests, PALETTE[1]), Series("cost (GBP)", cost, GOOD, kind="line", axis="y2")],
                 unit="requests", unit2="GBP", note="Per London day, last 30 days, from the hourly rollups; "
                 "cost of requests still waiting for an exchange rate is not included.",
                 empty="No AI requests in the last 30 days.")  # fmt: skip


def _as_utc(moment: datetime) -> datetime:
    """A truncated hour as the slot keys hold it (SQLite may hand back a naive UTC value)."""
    return moment.replace(tzinfo=UTC) if timezone.is_naive(moment) else moment.astimezone(UTC)
