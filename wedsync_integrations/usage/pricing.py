"""GBP for usage that arrived before its exchange rate: records are never refused for want of one.

Ingest stores a record with no USD→GBP rate on or before its London date with `cost_gbp` and
`usd_gbp_rate` empty ("GBP pending"). When rates arrive — staff in admin, `manage.py
exchange_rates import FILE.csv`, or the scheduled fetch of EXCHANGE_RATE_FEED_URL — every pending
record that now has a rate is priced exactly as ingest would have priced it (the latest rate on or
before its London date, half-up to six places), and its hour is marked dirty in the same
transaction. The rollup engine then recomputes those hours and the exporters restate them
(monitoring/exporter.py): GBP figures that were withheld go out once they are known. A pending GBP
figure is never exported as zero (UsageRollup.unpriced_requests tells every reader).

Records waiting longer than USAGE_RATE_PENDING_ALERT_AFTER raise one alert (the kernel's
attention signal, which the alerts family receives), resolved once none waits.

Rate files use the Bank of England database's CSV shape: a `DATE` column ("02 Jan 2026" or
2026-01-02) and the series XUDLUSS, "US $ into Sterling" = US dollars per £1, so the USD→GBP rate
stored is its reciprocal (GBP per 1 USD).
"""

from __future__ import annotations

import csv
import io
import logging
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from wedsync_integrations.integrations.signals import Notice, attention_over, need_attention

from .ingest import RateTable, gbp, london_date
from .models import AIUsageRecord, ExchangeRate, RollupDirtyHour
from .validation import fits_money_column

logger = logging.getLogger("wedsync.usage.pricing")

RATES_MISSING_KEY = "usage:exchange-rate-missing"

BATCH = 2000
RATE_PLACES = Decimal("0.000001")
BOE_USD_SERIES = "XUDLUSS"  # US $ into Sterling: USD per 1 GBP
DATE_FORMATS = ("%d %b %Y", "%Y-%m-%d", "%d/%m/%Y")


@dataclass
class PricingResult:
    priced: int = 0
    still_pending: int = 0
    hours_marked: int = 0

    def as_dict(self) -> dict:
        return {"priced": self.priced, "still_pending": self.still_pending, "hours_marked": self.hours_marked}


def price_pending(*, batch: int = BATCH) -> PricingResult:
    """Price every pending record that now has a rate; mark its hour dirty. Idempotent."""
    result = PricingResult()
    after = None
    while rows := _pending_after(after, batch):
        after = (rows[-1][2], rows[-1][0])
        priced, hours = _price(rows)
        result.priced += priced
        result.hours_marked += hours
    result.still_pending = AIUsageRecord.objects.filter(cost_gbp__isnull=True).count()
    if result.priced:
        logger.info("usage.priced records=%d hours=%d still_pending=%d", result.priced, result.hours_marked,
                    result.still_pending)  # fmt: skip
    return result


def _pending_after(after: tuple[datetime, int] | None, batch: int) -> list[tuple]:
    """The next page of pending records in (occurred_at, id) order (keyset over the partial index)."""
    qs = AIUsageRecord.objects.filter(cost_gbp__isnull=True)
    if after is not None:
        at, pk = after
        qs = qs.filter(Q(occurred_at__gt=at) | Q(occurred_at=at, id__gt=pk))
    return list(
        qs.order_by("occurred_at", "id").values_list("id", "organisation_id", "occurred_at", "hour", "cost_usd")[:batch]
    )


def _price(rows: list[tuple]) -> tuple[int, int]:
    days = [london_date(row[2]) for row in rows]
    rates = RateTable.covering(min(days), max(days))
    updates, hours = [], set()
    for (pk, organisation_id, _, hour, cost_usd), day in zip(rows, days, strict=True):
        found = rates.on_or_before(day)
        if found is None:
            continue
        cost_gbp = gbp(cost_usd, found[1])
        if not fits_money_column(cost_gbp):  # only at a rate above 1 on a near-limit cost: it keeps waiting, said once
            logger.error("usage.unpriceable record=%s: %s GBP does not fit the money column", pk, cost_gbp)
            continue
        updates.append(AIUsageRecord(id=pk, cost_gbp=cost_gbp, usd_gbp_rate=found[1]))
        hours.add((organisation_id, hour))
    if not updates:
        return 0, 0
    markers = [RollupDirtyHour(organisation_id=o, hour=h, token=uuid.uuid4()) for o, h in sorted(hours)]
    with transaction.atomic():
        AIUsageRecord.objects.bulk_update(updates, ["cost_gbp", "usd_gbp_rate"], batch_size=500)
        # a fresh token: a rollup computing these hours right now will leave them for another run
        RollupDirtyHour.objects.bulk_create(
            markers, update_conflicts=True, unique_fields=["organisation", "hour"], update_fields=["token", "marked_at"]
        )
    return len(updates), len(markers)


# -- rates in ------------------------------------------------------------------------------------
class RateFileError(ValueError):
    """The file is not a rate series we understand; the message says where and why."""


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    days: list[date] = field(default_factory=list)
    pricing: PricingResult | None = None


def parse_boe_csv(text: str) -> list[tuple[date, Decimal]]:
    """(date, GBP per 1 USD) rows of a Bank of England XUDLUSS CSV. Blank lines and the database's
    annotation lines (no date) are skipped; anything else unreadable is an error naming its line."""
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    columns = [cell.strip().upper() for cell in header or []]
    if "DATE" not in columns or BOE_USD_SERIES not in columns:
        raise RateFileError(f"line 1: expected a DATE column and the {BOE_USD_SERIES} series (US $ into Sterling)")
    date_at, value_at = columns.index("DATE"), columns.index(BOE_USD_SERIES)
    rates: dict[date, Decimal] = {}
    for line, row in enumerate(reader, start=2):
        if not row or not any(cell.strip() for cell in row):
            continue
        day = _parse_date(row[date_at].strip() if len(row) > date_at else "", line)
        usd_per_gbp = _parse_decimal(row[value_at].strip() if len(row) > value_at else "", line)
        rates[day] = (Decimal(1) / usd_per_gbp).quantize(RATE_PLACES, rounding=ROUND_HALF_UP)
    if not rates:
        raise RateFileError("no rates in the file")
    return sorted(rates.items())


def _parse_date(text: str, line: int) -> date:
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise RateFileError(f"line {line}: {text!r} is not a date (e.g. 02 Jan 2026)")


def _parse_decimal(text: str, line: int) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise RateFileError(f"line {line}: {text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise RateFileError(f"line {line}: a rate must be a positive number, not {text!r}")
    low, high = (Decimal(bound) for bound in settings.USAGE_USD_GBP_PLAUSIBLE)
    if not low <= Decimal(1) / value <= high:
        raise RateFileError(
            f"line {line}: {text} US$ per £1 gives {Decimal(1) / value:.4f} GBP per US$, outside the plausible "
            f"{low}-{high} (is the file another series?)"
        )
    return value


def import_rates(rates: list[tuple[date, Decimal]], *, source: str) -> ImportResult:
    """Upsert USD→GBP rates (all or nothing), then price what they cover."""
    result = ImportResult(days=[day for day, _ in rates])
    with transaction.atomic():
        existing = dict(
            ExchangeRate.objects.filter(base="USD", quote="GBP", date__in=result.days).values_list("date", "rate")
        )
        for day, rate in rates:
            if day not in existing:
                ExchangeRate.objects.create(date=day, base="USD", quote="GBP", rate=rate, source=source[:100])
                result.created += 1
            elif existing[day] != rate:
                ExchangeRate.objects.filter(base="USD", quote="GBP", date=day).update(rate=rate, source=source[:100])
                result.updated += 1
            else:
                result.unchanged += 1
    result.pricing = price_pending()
    return result


def fetch_feed() -> ImportResult | None:
    """Fetch EXCHANGE_RATE_FEED_URL (Bank of England CSV shape) and import it; None when unset.
    The URL passes the SSRF guard like every configured outbound URL."""
    url = settings.EXCHANGE_RATE_FEED_URL
    if not url:
        return None
    from wedsync_integrations.integrations.http import VendorClient

    client = VendorClient(family="usage", provider="exchange_rates", base_url=url, guarded=True)
    text = client.request("GET", "").text
    return import_rates(parse_boe_csv(text), source="feed")


# -- waiting too long ----------------------------------------------------------------------------------
def check_waiting(*, now: datetime | None = None) -> dict:
    """Ask for attention when records have waited longer than the configured time (one alert,
    counted again on each check), and say it is over once none waits."""
    now = now or timezone.now()
    pending = AIUsageRecord.objects.filter(cost_gbp__isnull=True)
    oldest = pending.order_by("ingested_at").values_list("ingested_at", flat=True).first()
    if oldest is None:
        attention_over("usage", RATES_MISSING_KEY)
        return {"pending": 0}
    waited = now - oldest
    limit = timedelta(seconds=settings.USAGE_RATE_PENDING_ALERT_AFTER)
    count = pending.count()
    if waited >= limit:
        days = sorted({london_date(at) for at in pending.values_list("occurred_at", flat=True)[:1000]})
        need_attention("usage", _rates_missing(count, waited, days[0], days[-1]))
    return {"pending": count, "waited_seconds": int(waited.total_seconds())}


def _rates_missing(count: int, waited: timedelta, first_day: date, last_day: date) -> Notice:
    return Notice(
        key=RATES_MISSING_KEY,
        title="AI usage is waiting for a USD→GBP exchange rate",
        description=(
            f"{count} AI usage record(s) dated {first_day:%d %b %Y} to {last_day:%d %b %Y} have no exchange rate "
            f"on or before their date; the oldest has waited {int(waited.total_seconds() // 3600)} h. Their GBP "
            "cost is withheld from every export."
        ),
        severity="medium",
        impact="GBP cost figures (monitoring, BI, accounting) stay incomplete until a rate is added.",
        recovery_actions=(
            "Add the USD→GBP rate in admin (AI usage › Exchange rates), or",
            "run `manage.py exchange_rates import FILE.csv` with the Bank of England XUDLUSS series, or",
            "set EXCHANGE_RATE_FEED_URL so the rates are fetched every hour.",
        ),
        details={"pending_records": count, "first_day": first_day.isoformat(), "last_day": last_day.isoformat()},
    )
