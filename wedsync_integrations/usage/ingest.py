"""Storing a batch of AI-usage records: idempotent, all-or-nothing, and cheap per record.

For one batch the database sees a fixed number of statements whatever its size: one SELECT for
request ids already stored, one for the exchange rates, one for the organisation's weddings on
the batch's dates, then in one transaction a bulk INSERT of the new records, a count of what was
really inserted, and a bulk upsert of the rollup dirty-hour markers.
"""

from __future__ import annotations

import bisect
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from wedsync_integrations.calendar import LONDON
from wedsync_integrations.core.metrics import USAGE_RECORDS
from wedsync_integrations.core.tolerant_cache import TolerantCache
from wedsync_integrations.tenants.models import Organisation, Wedding

from .models import AIUsageRecord, ExchangeRate, RollupDirtyHour
from .validation import MONEY_PLACES, TOO_MUCH_MONEY, RecordInvalid, clean_record, fits_money_column

logger = logging.getLogger("wedsync.usage.ingest")

# Staff may keep monthly rates (HMRC publishes monthly ones), so only a rate older than a month
# means someone forgot; the warning is logged at most hourly, not on every batch.
STALE_RATE_DAYS = 35
STALE_RATE_WARNING_KEY = "wsi:usage:stale-rate-warned"
_warned = TolerantCache("usage.warning_marker_unavailable", "stale-rate warnings are logged on every batch")


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[dict] = field(default_factory=list)
    gbp_pending: int = 0  # accepted records with no USD→GBP rate yet: priced when one arrives

    def as_reply(self) -> dict:
        reply = {"accepted": self.accepted, "duplicates": self.duplicates, "rejected": self.rejected}
        if self.gbp_pending:
            reply["gbp_pending"] = self.gbp_pending
        return reply


def max_future() -> timedelta:
    """The clock skew between the AI platform and us that a record's time may show."""
    return timedelta(seconds=settings.USAGE_MAX_FUTURE_SECONDS)


def london_date(at: datetime) -> date:
    return at.astimezone(LONDON).date()


def utc_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class RateTable:
    """USD→GBP rates, answering "the latest rate on or before this London date"."""

    def __init__(self, rates: list[tuple[date, Decimal]]):
        self._dates = [day for day, _ in rates]
        self._rates = [rate for _, rate in rates]

    @classmethod
    def covering(cls, first: date, last: date) -> RateTable:
        """Every rate needed for dates first..last, in one query: the rates inside the range
        plus the latest one before it."""
        usd_gbp = ExchangeRate.objects.filter(base="USD", quote="GBP")
        floor = usd_gbp.filter(date__lte=first).aggregate(day=Max("date"))["day"] or first
        rows = usd_gbp.filter(date__gte=floor, date__lte=last).order_by("date").values_list("date", "rate")
        return cls(list(rows))

    def on_or_before(self, day: date) -> tuple[date, Decimal] | None:
        index = bisect.bisect_right(self._dates, day) - 1
        return (self._dates[index], self._rates[index]) if index >= 0 else None


def gbp(cost_usd: Decimal, rate: Decimal) -> Decimal:
    return (cost_usd * rate).quantize(MONEY_PLACES, rounding=ROUND_HALF_UP)


class WeddingIndex:
    """The organisation's weddings on the batch's dates, to link a record to the wedding it helped."""

    def __init__(self, organisation: Organisation, days: set[date]):
        self._by_date: dict[date, list[tuple[int, str]]] = {}
        if days:
            rows = Wedding.objects.filter(organisation=organisation, date__in=days).order_by("id")
            for wedding_id, day, region in rows.values_list("id", "date", "region"):
                self._by_date.setdefault(day, []).append((wedding_id, region.strip().casefold()))

    def find(self, day: date | None, region: str) -> int | None:
        candidates = self._by_date.get(day) if day else None
        if not candidates:
            return None
        wanted = region.strip().casefold()
        for wedding_id, wedding_region in candidates:
            if wanted and wedding_region == wanted:
                return wedding_id
        return candidates[0][0]


def ingest_batch(organisation: Organisation, records: list, *, now: datetime | None = None) -> IngestResult:
    """Validate and store `records` (wire format) for `organisation`; see IngestResult."""
    now = now or timezone.now()
    batch_id = uuid.uuid4()
    result = IngestResult()
    valid: list[tuple[int, dict]] = []
    seen: set[str] = set()
    future = max_future()
    for index, record in enumerate(records):
        try:
            clean = clean_record(record, now=now, max_future=future)
        except RecordInvalid as exc:
            result.rejected.append({"index": index, "errors": exc.errors})
            continue
        if clean["request_id"] in seen:
            result.duplicates += 1  # the first copy in the batch wins
            continue
        seen.add(clean["request_id"])
        valid.append((index, clean))

    if valid:
        stored = set(
            AIUsageRecord.objects.filter(organisation=organisation, request_id__in=seen).values_list(
                "request_id", flat=True
            )
        )
        result.duplicates += len(stored)
        new = [(index, clean) for index, clean in valid if clean["request_id"] not in stored]
        rows = _build_rows(organisation, new, batch_id, result)
        if rows:
            result.accepted = _store(organisation, rows, batch_id)
            if any(row.cost_gbp is None for row in rows):
                result.gbp_pending = AIUsageRecord.objects.filter(ingest_batch=batch_id, cost_gbp__isnull=True).count()
            # A concurrent resend may have stored some of these first: they are duplicates too.
            result.duplicates += len(rows) - result.accepted

    result.rejected.sort(key=lambda item: item["index"])
    _count(result)
    logger.info(
        "usage.batch org=%s records=%d accepted=%d duplicates=%d rejected=%d batch=%s",
        organisation.slug,
        len(records),
        result.accepted,
        result.duplicates,
        len(result.rejected),
        batch_id,
    )
    return result


def _build_rows(
    organisation: Organisation, new: list[tuple[int, dict]], batch_id: uuid.UUID, result: IngestResult
) -> list[AIUsageRecord]:
    if not new:
        return []
    days = [london_date(clean["occurred_at"]) for _, clean in new]
    rates = RateTable.covering(min(days), max(days))
    weddings = WeddingIndex(organisation, {clean["wedding_date"] for _, clean in new if clean["wedding_date"]})
    rows: list[AIUsageRecord] = []
    oldest_rate_age = 0
    for (index, clean), day in zip(new, days, strict=True):
        found = rates.on_or_before(day)
        # No rate yet (a fresh install, a late rate feed): the record is stored with its GBP cost
        # pending, never refused, and usage/pricing.py prices it when a rate arrives.
        rate = found[1] if found is not None else None
        cost_gbp = gbp(clean["cost_usd"], rate) if rate is not None else None
        if cost_gbp is not None and not fits_money_column(cost_gbp):  # a large cost at a staff rate above 1
            result.rejected.append({"index": index, "errors": {"cost_usd": [f"In GBP: {TOO_MUCH_MONEY}"]}})
            continue
        if found is not None:
            oldest_rate_age = max(oldest_rate_age, (day - found[0]).days)
        occurred_at = clean["occurred_at"].astimezone(UTC)
        values = {
            **clean,
            "occurred_at": occurred_at,
            "hour": utc_hour(occurred_at),
            "cost_gbp": cost_gbp,
            "usd_gbp_rate": rate,
            "wedding_id": weddings.find(clean["wedding_date"], clean["venue_region"]),
        }
        rows.append(AIUsageRecord(organisation=organisation, ingest_batch=batch_id, **values))
    if oldest_rate_age > STALE_RATE_DAYS and _warned.add(STALE_RATE_WARNING_KEY, 1, 3600, when_unavailable=True):
        logger.warning(
            "usage.stale_rate org=%s days=%d: the USD→GBP rate used is over a month old; add current rates in admin",
            organisation.slug,
            oldest_rate_age,
        )
    return rows


def _store(organisation: Organisation, rows: list[AIUsageRecord], batch_id: uuid.UUID) -> int:
    """Insert the rows and mark their hours dirty in one transaction; return how many were inserted.

    Rows go in request-id order and markers in hour order so two concurrent batches of one
    organisation take their locks in the same order and cannot deadlock.
    """
    rows.sort(key=lambda row: row.request_id)
    markers = [
        RollupDirtyHour(organisation=organisation, hour=hour, token=uuid.uuid4())
        for hour in sorted({row.hour for row in rows})
    ]
    with transaction.atomic():
        AIUsageRecord.objects.bulk_create(rows, ignore_conflicts=True)
        inserted = AIUsageRecord.objects.filter(ingest_batch=batch_id).count()
        if inserted:
            # A fresh token on every hour touched: a rollup already computing one of these hours
            # will see its token replaced and leave the marker for the next run.
            RollupDirtyHour.objects.bulk_create(
                markers,
                update_conflicts=True,
                unique_fields=["organisation", "hour"],
                update_fields=["token", "marked_at"],
            )
    return inserted


def _count(result: IngestResult) -> None:
    for label, value in (
        ("accepted", result.accepted),
        ("duplicate", result.duplicates),
        ("rejected", len(result.rejected)),
    ):
        if value:
            USAGE_RECORDS.labels(result=label).inc(value)
