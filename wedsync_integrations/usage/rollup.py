"""Hourly rollups of AI usage: the only thing exporters read.

One UsageRollup row per (organisation, hour, feature, provider, model) with requests, errors,
tokens, cost, latency sum/max/p50/p95, weddings assisted and quality; one RollupWedding row per
distinct wedding helped in an (organisation, hour).

Incremental and race-free through RollupDirtyHour markers (see its docstring): ingest upserts a
marker with a fresh token for every (organisation, hour) it touches, in the same transaction as
the records. A run reads the markers of a chunk of hours with their tokens, recomputes those
hours from the raw rows for every organisation (delete, then insert: recomputing an hour always
yields the same rows, so recomputing a clean organisation's share of a dirty hour is harmless,
and whole hours are one contiguous range of the source index), and deletes each marker only if
its token is still the one it read. A record committed meanwhile has replaced the token, so its
hour stays dirty and the next run picks it up.

PostgreSQL computes a whole chunk of hours in set-based SQL (percentile_cont for p50/p95,
a DISTINCT aggregate for weddings); SQLite computes the same figures in Python with the same
linear-interpolation percentile, and the tests hold both to identical results.

Distinct-wedding key: the linked wedding's id, else the record's wedding date.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime
from decimal import Decimal
from functools import reduce
from operator import or_

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Max, Min, Q
from django.utils import timezone

from wedsync_integrations.tenants.models import Organisation

from .models import AIUsageRecord, Outcome, RollupDirtyHour, RollupWedding, UsageRollup

logger = logging.getLogger("wedsync.usage.rollup")

PERCENTILES = (0.5, 0.95)
# Hours recomputed per transaction. SQLite recomputes in Python, holding a chunk's raw rows in
# memory; PostgreSQL computes in the database, so its chunks can be large.
CHUNK_HOURS = {"postgresql": 1000, "default": 200}
# A backlog of at least this many hours per connection is recomputed over several connections
# at once (settings.USAGE_ROLLUP_CONNECTIONS, default 2): catching up after an outage, or
# rebuild_rollups() after a bulk load, uses more than one database core.
PARALLEL_MIN_HOURS = 24
# SQLite's expression depth limit: markers are released by token in OR-groups of this size.
RELEASE_GROUP = 300
# Any constant identifies "the rollup lock" among PostgreSQL advisory locks.
ADVISORY_LOCK_KEY = 0x5753_5255  # "WSRU"


@dataclass
class RollupStats:
    hours: int = 0  # distinct hours recomputed (for every organisation)
    markers: int = 0  # dirty (organisation, hour) markers consumed
    rollup_rows: int = 0
    wedding_rows: int = 0
    remaining: int = 0  # markers still dirty after the run (re-marked meanwhile, or new)
    lag_seconds: float | None = None  # age of the oldest marker this run processed
    seconds: float = 0.0
    skipped: bool = False  # another run held the lock

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Marker:
    id: int
    organisation_id: int
    hour: datetime
    token: uuid.UUID


def interpolated_percentile(ordered: list[float], fraction: float) -> float:
    """PostgreSQL's percentile_cont: linear interpolation between the two nearest ranks.

    The arithmetic is written exactly as PostgreSQL evaluates it (float8), so both backends
    give bit-identical figures.
    """
    position = fraction * (len(ordered) - 1)
    lower = math.floor(position)
    upper = math.ceil(position)
    low_value, high_value = float(ordered[lower]), float(ordered[upper])
    if lower == upper:
        return low_value
    return low_value + (high_value - low_value) * (position - lower)


def wedding_key(wedding_id: int | None, wedding_date) -> str | None:
    if wedding_id is not None:
        return str(wedding_id)
    return wedding_date.isoformat() if wedding_date is not None else None


# -- public API -------------------------------------------------------------------------------
def update_rollups(now: datetime | None = None) -> RollupStats:
    """Recompute every dirty hour; cheap when nothing is dirty. Returns what it did."""
    now = now or timezone.now()
    started = time.monotonic()
    stats = RollupStats()
    with _exclusive() as acquired:
        if not acquired:
            stats.skipped = True
            return stats
        # Markers created after this point wait for the next run, so a steady stream of new
        # hours can never keep one run going forever.
        dirty = RollupDirtyHour.objects.aggregate(ceiling=Max("id"), oldest=Min("marked_at"))
        if dirty["ceiling"] is None:
            return stats  # nothing to do: the common case, one query
        ceiling = dirty["ceiling"]
        stats.lag_seconds = max(0.0, (now - dirty["oldest"]).total_seconds())
        after = None
        recomputed: list[datetime] = []
        while hours := _dirty_hours(after, ceiling):
            for markers, rollup_rows, wedding_rows in _recompute_slices(hours, ceiling):
                stats.markers += markers
                stats.rollup_rows += rollup_rows
                stats.wedding_rows += wedding_rows
            stats.hours += len(hours)
            recomputed.extend(hours)
            after = hours[-1]
        stats.remaining = RollupDirtyHour.objects.count()
    stats.seconds = round(time.monotonic() - started, 3)
    if recomputed:
        _announce(recomputed, stats)
    if stats.hours:
        logger.info(
            "usage.rollup hours=%d markers=%d rows=%d weddings=%d remaining=%d lag=%.0fs took=%.2fs",
            stats.hours,
            stats.markers,
            stats.rollup_rows,
            stats.wedding_rows,
            stats.remaining,
            stats.lag_seconds or 0,
            stats.seconds,
        )
    return stats


def _announce(hours: list[datetime], stats: RollupStats) -> None:
    """Tell followers (BI) which hours were recomputed, once they are committed."""
    from .signals import rollups_updated

    def send():
        rollups_updated.send_robust(sender=update_rollups, hours=hours, stats=stats)

    transaction.on_commit(send)


def rebuild_rollups(organisation: Organisation | None = None) -> RollupStats:
    """Mark every hour dirty (of one organisation, or all), then update.

    Hours that only have rollups (their raw rows are gone) are marked too, so their stale
    rollups are removed.
    """
    mark_all_dirty(organisation)
    return update_rollups()


def mark_all_dirty(organisation: Organisation | None = None) -> int:
    """Mark every (organisation, hour) with raw rows or rollups dirty; returns how many."""
    if _is_postgres():
        return _mark_all_dirty_sql(organisation)
    records = AIUsageRecord.objects.all()
    rollups = UsageRollup.objects.all()
    weddings = RollupWedding.objects.all()
    if organisation is not None:
        records = records.filter(organisation=organisation)
        rollups = rollups.filter(organisation=organisation)
        weddings = weddings.filter(organisation=organisation)
    pairs: set[tuple[int, datetime]] = set()
    for queryset in (records, rollups, weddings):
        pairs.update(queryset.order_by().values_list("organisation_id", "hour").distinct())
    markers = [RollupDirtyHour(organisation_id=org, hour=hour, token=uuid.uuid4()) for org, hour in sorted(pairs)]
    RollupDirtyHour.objects.bulk_create(
        markers,
        batch_size=2000,
        update_conflicts=True,
        unique_fields=["organisation", "hour"],
        update_fields=["token", "marked_at"],
    )
    return len(markers)


def _mark_all_dirty_sql(organisation: Organisation | None) -> int:
    only = "WHERE organisation_id = %(org)s" if organisation is not None else ""
    sources = " UNION ".join(
        f"SELECT organisation_id, hour FROM {table} {only}"  # noqa: S608 (table names only)
        for table in (AIUsageRecord._meta.db_table, UsageRollup._meta.db_table, RollupWedding._meta.db_table)
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {RollupDirtyHour._meta.db_table} (organisation_id, hour, token, marked_at)
                SELECT organisation_id, hour, gen_random_uuid(), now() FROM ({sources}) touched
                ON CONFLICT (organisation_id, hour) DO UPDATE SET token = EXCLUDED.token, marked_at = EXCLUDED.marked_at
            """,  # noqa: S608 (table names only)
            {"org": organisation.pk if organisation is not None else None},
        )
        return cursor.rowcount


# -- the run ----------------------------------------------------------------------------------
def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


# Elsewhere (SQLite, the embedded default) the lock is a key in the shared cache: SQLite
# serialises writers, so two runs would not collide, but the second would recompute every hour
# the first just did (the demo's start-up rollup meeting beat's). A run killed while holding it
# delays the next for at most the timeout.
CACHE_LOCK_KEY = "wsi:usage:rollup:lock"
CACHE_LOCK_SECONDS = 300


@contextlib.contextmanager
def _exclusive():
    """One rollup run at a time: two runs recomputing the same hour would both delete its old
    rows and then collide inserting the new ones (PostgreSQL), or do the same work twice."""
    if not _is_postgres():
        acquired = cache.add(CACHE_LOCK_KEY, 1, timeout=CACHE_LOCK_SECONDS)
        try:
            yield acquired
        finally:
            if acquired:
                cache.delete(CACHE_LOCK_KEY)
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [ADVISORY_LOCK_KEY])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [ADVISORY_LOCK_KEY])


def _dirty_hours(after: datetime | None, ceiling: int) -> list[datetime]:
    """The next chunk of dirty hours, oldest first, among markers up to `ceiling`."""
    size = CHUNK_HOURS["postgresql"] if _is_postgres() else CHUNK_HOURS["default"]
    markers = RollupDirtyHour.objects.filter(id__lte=ceiling)
    if after is not None:
        markers = markers.filter(hour__gt=after)
    return list(markers.order_by("hour").values_list("hour", flat=True).distinct()[:size])


def _markers(hours: list[datetime], ceiling: int) -> list[Marker]:
    rows = RollupDirtyHour.objects.filter(id__lte=ceiling, hour__in=hours).values_list(
        "id", "organisation_id", "hour", "token"
    )
    return [Marker(*row) for row in rows]


def _recompute_hours(hours: list[datetime], ceiling: int) -> tuple[int, int, int]:
    """One transaction: read the hours' markers, recompute the hours, release the markers.
    Returns (markers released, rollup rows, wedding rows)."""
    with transaction.atomic():
        if _is_postgres():
            return _recompute_sql(hours, ceiling)
        markers = _markers(hours, ceiling)
        rollup_rows, wedding_rows = _recompute_python(hours)
        return _release(markers), rollup_rows, wedding_rows


def _parallel_connections() -> int:
    return max(1, settings.USAGE_ROLLUP_CONNECTIONS)


def _recompute_slices(hours: list[datetime], ceiling: int) -> list[tuple[int, int, int]]:
    """Recompute a chunk of hours, split over several database connections when it is a backlog.

    Slices are disjoint runs of hours, so their transactions never touch the same rows. A
    caller's open transaction must see its own uncommitted records, so then (and on SQLite,
    which has one writer) everything runs on the caller's connection.
    """
    slices = min(_parallel_connections(), len(hours) // PARALLEL_MIN_HOURS)
    if slices < 2 or not _is_postgres() or connection.in_atomic_block:
        return [_recompute_hours(hours, ceiling)]
    size = -(-len(hours) // slices)
    parts = [hours[start : start + size] for start in range(0, len(hours), size)]

    def in_own_connection(part: list[datetime]) -> tuple[int, int, int]:
        try:
            return _recompute_hours(part, ceiling)
        finally:
            connection.close()  # this thread's connection, not the caller's

    with ThreadPoolExecutor(max_workers=len(parts) - 1, thread_name_prefix="rollup") as pool:
        others = [pool.submit(in_own_connection, part) for part in parts[1:]]
        mine = _recompute_hours(parts[0], ceiling)
        return [mine, *(future.result() for future in others)]


def _release(markers: list[Marker]) -> int:
    """Delete each marker only if nobody re-marked it since we read it (SQLite; PostgreSQL does
    this inside its recompute statement)."""
    released = 0
    for start in range(0, len(markers), RELEASE_GROUP):
        group = markers[start : start + RELEASE_GROUP]
        released += RollupDirtyHour.objects.filter(reduce(or_, (Q(id=m.id, token=m.token) for m in group))).delete()[0]
    return released


# -- PostgreSQL: set-based ----------------------------------------------------------------------
# Only table names and constants are interpolated into the SQL below; values are parameters.
_RAW = AIUsageRecord._meta.db_table
_ROLLUP = UsageRollup._meta.db_table
_WEDDING = RollupWedding._meta.db_table
_HOURS = "%(hours)s::timestamptz[]"
# Wedding keys travel as integers until the very end (integer DISTINCT is far cheaper than
# text): a wedding id is positive, a bare date d is -(days since 0001-01-01) - 1.
_EPOCH = "DATE '0001-01-01'"
_INT_KEY = f"COALESCE(r.wedding_id, -(r.wedding_date - {_EPOCH}) - 1)"
_TEXT_KEY = f"CASE WHEN k > 0 THEN k::text ELSE to_char({_EPOCH} + (-k - 1)::int, 'YYYY-MM-DD') END"

_SQL_DELETE = f"""
WITH rollups AS (DELETE FROM {_ROLLUP} WHERE hour = ANY({_HOURS}))
DELETE FROM {_WEDDING} WHERE hour = ANY({_HOURS})"""  # noqa: S608 (table names only)

# One pass over the raw rows of the chunk's hours, in the order of the covering index
# usage_rollup_source (hour, organisation, feature, provider, model, latency): an index-only
# range scan per hour, no join, no sort, no heap access. One sort per
# group serves both percentiles (percentile_cont over an array of fractions), and the
# distinct wedding keys collected per group give both weddings_assisted and RollupWedding.
# Markers are claimed and released in the same statement, so the tokens it compares and the raw
# rows it aggregates come from one snapshot: a record committed after that snapshot changed its
# marker's token, and the DELETE (which waits for, then re-reads, a row being re-marked) keeps it.
_DIRTY = RollupDirtyHour._meta.db_table
_SQL_RECOMPUTE = f"""
WITH claimed AS (
    SELECT id, token FROM {_DIRTY} WHERE hour = ANY({_HOURS}) AND id <= %(ceiling)s
),
grouped AS MATERIALIZED (
    SELECT r.hour, r.organisation_id, r.feature, r.provider, r.model,
        COUNT(*) AS requests,
        COUNT(*) FILTER (WHERE r.outcome = '{Outcome.ERROR.value}') AS errors,
        SUM(r.prompt_tokens) AS prompt_tokens,
        SUM(r.completion_tokens) AS completion_tokens,
        SUM(r.cost_usd) AS cost_usd,
        COALESCE(SUM(r.cost_gbp), 0) AS cost_gbp,
        COUNT(*) FILTER (WHERE r.cost_gbp IS NULL) AS unpriced_requests,
        SUM(r.latency_ms) AS latency_sum_ms,
        MIN(r.latency_ms) AS latency_min_ms,
        MAX(r.latency_ms) AS latency_max_ms,
        percentile_cont(ARRAY[{", ".join(str(p) for p in PERCENTILES)}]::float8[])
            WITHIN GROUP (ORDER BY r.latency_ms) AS pct,
        array_agg(DISTINCT {_INT_KEY}) FILTER (WHERE {_INT_KEY} IS NOT NULL) AS wedding_keys,
        COUNT(*) FILTER (WHERE r.wedding_id IS NOT NULL OR r.wedding_date IS NOT NULL) AS wedding_requests,
        COALESCE(SUM(r.quality_score), 0) AS quality_sum,
        COUNT(r.quality_score) AS quality_count
    FROM {_RAW} r
    WHERE r.hour = ANY({_HOURS})
    GROUP BY r.hour, r.organisation_id, r.feature, r.provider, r.model
),
rollups AS (
    INSERT INTO {_ROLLUP} (
        organisation_id, hour, feature, provider, model, requests, errors, prompt_tokens, completion_tokens,
        cost_usd, cost_gbp, unpriced_requests, latency_sum_ms, latency_min_ms, latency_max_ms, latency_p50_ms,
        latency_p95_ms, weddings_assisted, wedding_requests, quality_sum, quality_count, computed_at)
    SELECT organisation_id, hour, feature, provider, model, requests, errors, prompt_tokens, completion_tokens,
        cost_usd, cost_gbp, unpriced_requests, latency_sum_ms, latency_min_ms, latency_max_ms, pct[1], pct[2],
        COALESCE(cardinality(wedding_keys), 0), wedding_requests, quality_sum, quality_count, %(now)s
    FROM grouped
    RETURNING 1
),
weddings AS (
    INSERT INTO {_WEDDING} (organisation_id, hour, wedding_key)
    SELECT DISTINCT organisation_id, hour, {_TEXT_KEY}
    FROM grouped, unnest(wedding_keys) AS k
    RETURNING 1
),
released AS (
    DELETE FROM {_DIRTY} m USING claimed c WHERE m.id = c.id AND m.token = c.token
    RETURNING 1
)
SELECT (SELECT COUNT(*) FROM released), (SELECT COUNT(*) FROM rollups), (SELECT COUNT(*) FROM weddings)"""  # noqa: S608 (table names only)


def _recompute_sql(hours: list[datetime], ceiling: int) -> tuple[int, int, int]:
    params = {"hours": hours, "ceiling": ceiling, "now": timezone.now()}
    with connection.cursor() as cursor:
        # Per-group sorts and the grouped rows stay in memory; JIT compilation costs more
        # than it saves on a statement that runs once a minute.
        cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute("SET LOCAL jit = off")
        cursor.execute(_SQL_DELETE, params)
        cursor.execute(_SQL_RECOMPUTE, params)
        released, rollup_rows, wedding_rows = cursor.fetchone()
    return released, rollup_rows, wedding_rows


# -- SQLite (and a reference for tests): the same figures in Python ----------------------------------
_FIELDS = (
    "organisation_id",
    "hour",
    "feature",
    "provider",
    "model",
    "outcome",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
    "cost_gbp",
    "latency_ms",
    "wedding_id",
    "wedding_date",
    "quality_score",
)


def compute_rollups_python(rows) -> tuple[list[UsageRollup], list[RollupWedding]]:
    """Rollup and wedding rows from raw rows given as tuples in _FIELDS order."""
    groups: dict[tuple, list[tuple]] = defaultdict(list)
    for row in rows:
        groups[row[:5]].append(row)
    now = timezone.now()
    rollups: list[UsageRollup] = []
    weddings: set[tuple[int, datetime, str]] = set()
    for (org, hour, feature, provider, model), members in groups.items():
        latencies = sorted(row[10] for row in members)
        keys = {key for row in members if (key := wedding_key(row[11], row[12])) is not None}
        weddings.update((org, hour, key) for key in keys)
        qualities = [row[13] for row in members if row[13] is not None]
        rollups.append(
            UsageRollup(
                organisation_id=org,
                hour=hour,
                feature=feature,
                provider=provider,
                model=model,
                requests=len(members),
                errors=sum(1 for row in members if row[5] == Outcome.ERROR),
                prompt_tokens=sum(row[6] for row in members),
                completion_tokens=sum(row[7] for row in members),
                cost_usd=sum((row[8] for row in members), Decimal(0)),
                cost_gbp=sum((row[9] for row in members if row[9] is not None), Decimal(0)),
                unpriced_requests=sum(1 for row in members if row[9] is None),
                latency_sum_ms=sum(latencies),
                latency_min_ms=latencies[0],
                latency_max_ms=latencies[-1],
                latency_p50_ms=interpolated_percentile(latencies, PERCENTILES[0]),
                latency_p95_ms=interpolated_percentile(latencies, PERCENTILES[1]),
                weddings_assisted=len(keys),
                wedding_requests=sum(1 for row in members if row[11] is not None or row[12] is not None),
                quality_sum=math.fsum(qualities),
                quality_count=len(qualities),
                computed_at=now,
            )
        )
    return rollups, [RollupWedding(organisation_id=o, hour=h, wedding_key=k) for o, h, k in sorted(weddings)]


def _recompute_python(hours: list[datetime]) -> tuple[int, int]:
    rows = AIUsageRecord.objects.filter(hour__in=hours).values_list(*_FIELDS)
    rollups, weddings = compute_rollups_python(rows)
    UsageRollup.objects.filter(hour__in=hours).delete()
    RollupWedding.objects.filter(hour__in=hours).delete()
    UsageRollup.objects.bulk_create(rollups, batch_size=500)
    RollupWedding.objects.bulk_create(weddings, batch_size=500)
    return len(rollups), len(weddings)
