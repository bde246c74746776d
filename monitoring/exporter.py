"""Exactly-once intervals, at-least-once delivery: the machinery every monitoring vendor shares.

A monitoring provider implements `sync(now, progress) -> SyncResult`. Push vendors (Datadog,
New Relic) subclass IntervalExporter and only say how an hour becomes their payloads; this
module decides *which* hours:

1. An hour is finished when it ended at least GRACE ago and the organisation has no dirty
   rollup marker for it (the rollup engine has caught up). Hours go out in order: a dirty hour
   holds back the ones after it.
2. In one transaction, under a row lock on the cursor: build the payloads of every finished
   hour after the cursor, write them to the outbox (dedupe key per config, hour, digest of the
   hour's figures and batch), and advance the cursor. Hours are therefore queued exactly once,
   even when a scheduled run and `manage.py sync` race.
3. Drain the (organisation, provider) queue: items go out oldest first; a failure keeps the
   item (and the ones behind it) for a retry with backoff, resending the *stored* payload, so
   a count is never rebuilt and never doubled.

Late usage (records for an hour already exported, e.g. the AI platform retrying after an ingest
outage) makes the rollup engine recompute that hour. While the vendor still accepts the hour,
the next run sends a correction: the whole hour again where the vendor keeps the last value per
series and timestamp (Datadog), only the count differences where it adds points up (New
Relic). Outbox keys carry a digest of the hour's figures, so a correction goes out once and an
unchanged recompute sends nothing. New Relic's differences are taken against every payload queued
for the hour, whatever became of it (see _restate), so a partial 413 split, a retry or a replay
never makes a count go out twice.

Vendors only accept points of a certain age (Datadog ≤ 1 h, New Relic ≤ 48 h). An hour whose
points would be too old when built is *stale*: it is recorded in a SyncLog row (outcome
"skipped", naming the hours and how many had data) and the cursor moves past it. Points that
become too old while waiting in the retry queue are dropped at send time and recorded the same
way, never silently.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any, ClassVar

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.models import RetryState, SyncOutcome
from wedsync_integrations.integrations.registry import Provider, SyncResult
from wedsync_integrations.usage.models import RollupDirtyHour, UsageRollup

from .metrics import HOUR, Interval, build_intervals, floor_hour, integration_snapshot, interval_digest

logger = logging.getLogger("wedsync.monitoring")

MAX_HOURS_PER_RUN = 48  # bounds one transaction; a longer backlog continues on the next run
# rollups recomputed just before the watermark may commit just after it: look back this far
RESTATEMENT_OVERLAP = timedelta(minutes=5)


def grace() -> timedelta:
    return timedelta(seconds=settings.MONITORING_EXPORT_GRACE_SECONDS)


def last_finished_hour(now: datetime) -> datetime:
    """Start of the newest hour that ended at least GRACE before `now`."""
    return floor_hour(now - grace()) - HOUR


def hours_between(first: datetime, last: datetime) -> list[datetime]:
    hours, hour = [], first
    while hour <= last:
        hours.append(hour)
        hour += HOUR
    return hours


class MonitoringProvider(Provider):
    """A monitoring vendor: something the scheduled sync can run for one config."""

    def sync(self, *, now: datetime, progress=None) -> SyncResult:
        raise NotImplementedError


class IntervalExporter(MonitoringProvider):
    """A push vendor fed one payload list per finished hour."""

    operation: ClassVar[str] = "series"
    max_point_age: ClassVar[timedelta]
    max_point_future: ClassVar[timedelta] = timedelta(minutes=10)
    # room for queueing and sending between building a payload and the vendor receiving it
    send_margin: ClassVar[timedelta] = timedelta(minutes=5)

    # -- what a vendor module implements --------------------------------------------------------
    def point_time(self, hour: datetime) -> datetime:
        """The timestamp the vendor gets for an hour's points."""
        return hour

    def build_payloads(self, parts: list[Interval]) -> list[Any]:
        """The stored payloads for one hour's interval (and the health snapshot riding with the
        newest hour): one outbox item each, within the vendor's size limits."""
        raise NotImplementedError

    def restatement_payloads(self, interval: Interval, previous: list[Any]) -> list[Any]:
        """Payloads correcting an hour already sent (late usage changed its rollups), given the
        payloads sent for it before. Default: send the hour again in full, for vendors that keep
        the last value per series and timestamp (Datadog)."""
        return self.build_payloads([interval])

    # -- the shared machinery ---------------------------------------------------------------------
    def accepts(self, at: datetime, now: datetime, margin: timedelta = timedelta(0)) -> bool:
        return now - self.max_point_age + margin <= at <= now + self.max_point_future

    def first_hour(self, now: datetime) -> datetime:
        """Where a new config starts: the oldest hour the vendor would still accept."""
        hour = last_finished_hour(now)
        while self.accepts(self.point_time(hour - HOUR), now, self.send_margin):
            hour -= HOUR
        return hour

    def sync(self, *, now: datetime, progress=None) -> SyncResult:
        from .models import MonitoringCursor

        family = self.family
        result = SyncResult()
        with transaction.atomic():
            cursor, _ = MonitoringCursor.objects.select_for_update().get_or_create(config=self.config)
            too_old, hours = self._due_hours(cursor, now)
            # the oldest due hours may have aged out too (around the top of the hour, or in Datadog's
            # short window): they join the too-old span, which they follow
            stale = [h for h in hours if not self.accepts(self.point_time(h), now, self.send_margin)]
            fresh = [h for h in hours if h not in stale]
            if too_old or stale:
                span = (too_old[0] if too_old else stale[0], stale[-1] if stale else too_old[1])
                result.skipped = record_stale_hours(self, *span, now)
            result.detail["restated_hours"] = self._restate(cursor, now)
            result.queued = self._queue(fresh, now, progress)
            newest = max([*hours, *(too_old or ())], default=None)
            if newest is not None:
                cursor.advance_to(newest)
            result.detail["last_exported_hour"] = cursor.last_exported_hour
        counts = outbox.drain_pair(family, self.organisation.pk, self.name)
        result.delivered = counts.get(RetryState.SUCCEEDED, 0)
        result.failed = counts.get(RetryState.PENDING, 0) + counts.get(RetryState.DEAD, 0)
        result.detail["hours"] = [h.isoformat() for h in fresh]
        result.detail["queue_depth"] = outbox.queue_depth(family, self.organisation.pk, self.name)
        return result

    def _due_hours(self, cursor, now: datetime) -> tuple[tuple[datetime, datetime] | None, list[datetime]]:
        """(the span of hours already too old for the vendor, or None; the finished hours to try).

        A long gap (a config disabled for a month) is skipped in one step, not 48 hours a run."""
        last = last_finished_hour(now)
        oldest = self.first_hour(now)
        first = cursor.last_exported_hour + HOUR if cursor.last_exported_hour else oldest
        if first > last:
            return None, []
        too_old = None
        if first < oldest:
            too_old, first = (first, oldest - HOUR), oldest
        hours = hours_between(first, min(last, first + (MAX_HOURS_PER_RUN - 1) * HOUR))
        dirty = (
            RollupDirtyHour.objects.filter(organisation=self.organisation, hour__in=hours)
            .order_by("hour")
            .values_list("hour", flat=True)
            .first()
        )
        return too_old, [h for h in hours if dirty is None or h < dirty]

    def _key_prefix(self, hour: datetime) -> str:
        return f"monitoring:{self.config.pk}:{hour:%Y%m%dT%H}:"

    def _restate(self, cursor, now: datetime) -> list[str]:
        """Re-export hours already sent whose rollups changed since (usage that arrived late, e.g.
        after an ingest outage), while the vendor still accepts them. Returns the hours restated.

        Candidates are hours whose rollups were recomputed after the watermark (less an overlap,
        for recomputes committed late); each is rebuilt, and only a digest never queued before
        for that hour produces new outbox items, so unchanged hours cost a rebuild, nothing else.
        """
        if cursor.last_exported_hour is None:
            return []
        oldest = self.first_hour(now)
        candidates = UsageRollup.objects.filter(
            organisation=self.organisation, hour__gte=oldest, hour__lte=cursor.last_exported_hour
        )
        if cursor.restated_up_to is not None:
            candidates = candidates.filter(computed_at__gt=cursor.restated_up_to - RESTATEMENT_OVERLAP)
        changed = dict(candidates.order_by().values_list("hour").annotate(latest=Max("computed_at")))
        if not changed:
            return []
        dirty = set(
            RollupDirtyHour.objects.filter(organisation=self.organisation, hour__in=list(changed)).values_list(
                "hour", flat=True
            )
        )
        hours = sorted(h for h in changed if h not in dirty and self.accepts(self.point_time(h), now, self.send_margin))
        restated = []
        retry_items = self.family.retry_model.objects
        for interval in build_intervals(self.organisation, hours):
            prefix = self._key_prefix(interval.hour)
            digest = interval_digest(interval)
            if retry_items.filter(dedupe_key__startswith=f"{prefix}{digest}:").exists():
                continue  # exactly what was sent
            # Everything New Relic has or is owed for the hour: succeeded rows were delivered, pending
            # ones go out before this correction (order is kept), dead ones wait for staff to replay
            # them (counting them here is what keeps a replay from doubling a count). After a partial
            # delivery the item holds only the rest and the delivered part is a row of its own
            # (outbox: `<key>~part<n>`), so the rows add up to every payload queued for the hour.
            previous = [
                item.payload
                for item in retry_items.filter(dedupe_key__startswith=prefix).exclude(
                    dedupe_key__startswith=f"{prefix}health:"
                )
            ]
            for batch, payload in enumerate(self.restatement_payloads(interval, previous)):
                outbox.enqueue(
                    self.config, operation=self.operation, payload=payload, dedupe_key=f"{prefix}{digest}:{batch}"
                )
            restated.append(interval.hour.isoformat())
        if not dirty:
            watermark = max(changed.values())
            if cursor.restated_up_to is None or watermark > cursor.restated_up_to:
                cursor.restated_up_to = watermark
                cursor.save(update_fields=["restated_up_to", "updated_at"])
        if restated:
            logger.info("monitoring.restated provider=%s org=%s hours=%s", self.name, self.organisation.slug, restated)
        return restated

    def _queue(self, hours: list[datetime], now: datetime, progress) -> int:
        if not hours:
            return 0
        intervals = build_intervals(self.organisation, hours)
        snapshot = integration_snapshot(self.organisation, now=now)
        batches: list[tuple[datetime, list[Interval]]] = [(interval.hour, [interval]) for interval in intervals]
        if snapshot.samples:
            # the integrations' own health rides with the newest hour (alone if no usage at all)
            if batches and batches[-1][0] == hours[-1]:
                batches[-1][1].append(snapshot)
            else:
                batches.append((hours[-1], [snapshot]))
        queued = 0
        for index, (hour, parts) in enumerate(batches):
            digest = interval_digest(parts[0]) if not parts[0].is_snapshot else "health"
            for batch, payload in enumerate(self.build_payloads(parts)):
                outbox.enqueue(
                    self.config,
                    operation=self.operation,
                    payload=payload,
                    dedupe_key=f"{self._key_prefix(hour)}{digest}:{batch}",
                )
                queued += 1
            if progress:
                progress(index + 1, len(batches), f"{self.name} {hour:%Y-%m-%d %H}:00Z")
        return queued


def record_stale_hours(provider: Provider, start: datetime, end: datetime, now: datetime) -> int:
    """Log the hours start..end (inclusive) the vendor no longer accepts. Returns how many had usage:
    hours with rollups, and hours still waiting for theirs (a dirty marker), so the count is right
    even when the rollup engine has not caught up yet (a first start after seeding)."""
    span = {"organisation": provider.organisation, "hour__gte": start, "hour__lte": end}
    with_data = sorted(
        set(UsageRollup.objects.filter(**span).values_list("hour", flat=True).distinct())
        | set(RollupDirtyHour.objects.filter(**span).values_list("hour", flat=True))
    )
    count = int((end - start) / HOUR) + 1
    message = (
        f"{count} hour(s) from {start:%Y-%m-%d %H}:00Z to {end:%Y-%m-%d %H}:00Z are older than "
        f"{provider.label or provider.name} accepts ({_age(provider.max_point_age)}); {len(with_data)} had usage "
        "and were not exported"
    )
    detail = {
        "stale_hours": [h.isoformat() for h in with_data[:100]],  # the first hundred; the message has the count
        "hours_with_usage": len(with_data),
        "hours_skipped": count,
        "reason": "too_old",
    }
    record_skip(provider, message, detail, now)
    return len(with_data)


def record_skip(provider: Provider, message: str, detail: dict, now: datetime | None = None) -> None:
    now = now or timezone.now()
    provider.family.sync_log_model.objects.create(
        organisation=provider.organisation,
        provider=provider.name,
        operation=getattr(provider, "operation", "series"),
        started_at=now,
        finished_at=now,
        outcome=SyncOutcome.SKIPPED,
        error=message,
        detail=detail,
    )
    logger.warning("monitoring.stale provider=%s org=%s %s", provider.name, provider.organisation.slug, message)


def _age(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"points up to {hours:g} h old"
