"""Realistic demo data: organisations, their weddings, exchange rates and 30 days of AI usage.

The usage has the shape the product sees: a working-day rhythm (mornings and evenings busy,
nights quiet), more activity in the wedding-day window (Friday evening to Sunday), a seasonal
level (peak months busier than off-season ones), per-model latency and pricing, a small error
rate, and requests tied to the organisation's weddings. The generator is seeded, so two runs
produce the same data.
"""

from __future__ import annotations

import math
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from wedsync_integrations import calendar
from wedsync_integrations.tenants.models import Organisation, Wedding
from wedsync_integrations.usage.models import AIUsageRecord, ExchangeRate


def example_record(request_id: str, at: datetime | None = None) -> dict:
    """One usage record in the wire format, stamped `at` (default now): the demo banner's example,
    its smoke check, and the drill's load."""
    at = (at or timezone.now()).astimezone(UTC).replace(microsecond=0)
    return {"request_id": request_id, "occurred_at": at.isoformat().replace("+00:00", "Z"),
            "feature": "email_template", "provider": "openai", "model": "gpt-4o-mini", "prompt_tokens": 812,
            "completion_tokens": 240, "latency_ms": 930, "cost_usd": "0.000266", "outcome": "ok"}  # fmt: skip


@dataclass(frozen=True)
class DemoOrganisation:
    slug: str
    name: str
    vendor_type: str
    region: str
    requests_per_hour: float  # average at a weekday midday in off-season
    vat_number: str = ""


ORGANISATIONS = [
    DemoOrganisation("cotswold-lens", "Cotswold Lens Photography", "photographer", "South West", 40.0, "GB123456782"),
    DemoOrganisation("willow-barn", "The Willow Barn", "venue", "South East", 60.0, "GB987654321"),
    DemoOrganisation("petal-and-stem", "Petal & Stem Florals", "florist", "London", 28.0),
    DemoOrganisation("ever-after-planning", "Ever After Planning", "planner", "North West", 52.0, "GB246813579"),
    DemoOrganisation("reel-romance", "Reel Romance Films", "videographer", "Yorkshire", 22.0),
    DemoOrganisation("harbour-house", "Harbour House Catering", "caterer", "South West", 30.0),
]

VENUES = {
    "South West": ["Bath Assembly Rooms", "Lyde Court", "Tithe Barn, Bradford-on-Avon"],
    "South East": ["The Willow Barn", "Leeds Castle", "Gate Street Barn"],
    "London": ["Kew Gardens", "The Asylum Chapel", "Shoreditch Town Hall"],
    "North West": ["Thornton Manor", "Colshaw Hall", "Hillbark"],
    "Yorkshire": ["Hazlewood Castle", "Oulton Hall", "The Priest House"],
}

# (provider, model, share, USD per 1k prompt tokens, USD per 1k completion tokens, median latency ms)
MODELS = [
    ("openai", "gpt-4o-mini", 0.45, Decimal("0.00015"), Decimal("0.0006"), 900),
    ("openai", "gpt-4o", 0.15, Decimal("0.0025"), Decimal("0.01"), 2100),
    ("anthropic", "claude-3-5-haiku", 0.2, Decimal("0.0008"), Decimal("0.004"), 1100),
    ("anthropic", "claude-3-5-sonnet", 0.1, Decimal("0.003"), Decimal("0.015"), 2600),
    ("google", "gemini-1.5-flash", 0.1, Decimal("0.000075"), Decimal("0.0003"), 800),
]

FEATURES = [
    ("email_template", 0.35, (500, 1200), (150, 400)),
    ("form_generation", 0.15, (300, 900), (200, 700)),
    ("content_writing", 0.2, (400, 1500), (400, 1200)),
    ("contract_generation", 0.1, (1500, 4000), (800, 2500)),
    ("timeline_planning", 0.12, (600, 1800), (300, 900)),
    ("photo_culling", 0.08, (200, 600), (50, 150)),
]

ERROR_TYPES = [("timeout", 0.5), ("rate_limited", 0.3), ("content_filter", 0.1), ("provider_error", 0.1)]
HOURLY_SHAPE = [0.05, 0.03, 0.02, 0.02, 0.03, 0.08, 0.25, 0.55, 0.9, 1.1, 1.2, 1.15, 1.0, 1.05, 1.1, 1.1, 1.0,
                0.95, 1.0, 1.1, 1.0, 0.75, 0.4, 0.15]  # fmt: skip
SEASON_LEVEL = {calendar.Season.PEAK: 1.6, calendar.Season.SHOULDER: 1.2, calendar.Season.OFF_SEASON: 0.8}
WEDDING_WINDOW_LEVEL = 1.5
PENNY = Decimal("0.000001")


def _weighted(rng: random.Random, choices, weight_at: int = 1):
    return rng.choices(choices, weights=[c[weight_at] for c in choices], k=1)[0]


def ensure_organisations() -> list[Organisation]:
    organisations = []
    for demo in ORGANISATIONS:
        org, _ = Organisation.objects.update_or_create(
            slug=demo.slug,
            defaults={
                "name": demo.name,
                "vendor_type": demo.vendor_type,
                "vat_registered": bool(demo.vat_number),
                "vat_number": demo.vat_number,
            },
        )
        organisations.append(org)
    return organisations


def ensure_weddings(organisations: list[Organisation], today: date, rng: random.Random) -> int:
    """Weddings from 30 days ago to 60 days ahead: mostly Saturdays, some Fridays and Sundays."""
    created = 0
    region_of = {demo.slug: demo.region for demo in ORGANISATIONS}
    for org in organisations:
        if org.weddings.filter(date__gte=today).exists():
            continue
        region = region_of.get(org.slug, "London")
        rows = []
        for offset in range(-30, 61):
            day = today + timedelta(days=offset)
            per_day = {5: rng.choice([1, 2, 2, 3]), 4: rng.choice([0, 1]), 6: rng.choice([0, 0, 1])}.get(
                day.weekday(), 1 if rng.random() < 0.08 else 0
            )
            if calendar.season_of_date(day) is calendar.Season.OFF_SEASON:
                per_day = max(0, per_day - (1 if rng.random() < 0.5 else 0))
            for _ in range(per_day):
                rows.append(Wedding(organisation=org, date=day, venue=rng.choice(VENUES[region]), region=region))
        Wedding.objects.bulk_create(rows)
        created += len(rows)
    return created


def ensure_exchange_rates(start: date, end: date, rng: random.Random) -> int:
    """A gently drifting USD→GBP series, marked as demo data (staff keep real rates in admin)."""
    rate = Decimal("0.7900")
    created = 0
    day = start
    while day <= end:
        rate = (rate + Decimal(str(rng.uniform(-0.003, 0.003)))).quantize(Decimal("0.0001"))
        _, was_created = ExchangeRate.objects.get_or_create(
            base="USD", quote="GBP", date=day, defaults={"rate": rate, "source": "demo seed (not a market rate)"}
        )
        created += was_created
        day += timedelta(days=1)
    return created


def ensure_staff_inputs(today: date) -> int:
    """The BI family's staff inputs for this month (what usage cannot tell: the platform's position
    against competing platforms), labelled as demo figures. Nothing when the BI app is not installed."""
    from django.apps import apps

    if not apps.is_installed("bi"):
        return 0
    staff_input = apps.get_model("bi", "StaffInput")
    _, created = staff_input.objects.get_or_create(
        organisation=None,
        month=today.replace(day=1),
        defaults={"competitive_position": "at_parity", "feature_parity_percent": Decimal("85"),
                  "note": "demo figure, not a real assessment", "updated_by": "demo seed"},
    )  # fmt: skip
    return int(created)


def _hour_level(demo: DemoOrganisation, at: datetime) -> float:
    local = calendar.london(at)
    level = demo.requests_per_hour * HOURLY_SHAPE[local.hour] * SEASON_LEVEL[calendar.season(at)]
    if calendar.is_wedding_day_mode(at):
        level *= WEDDING_WINDOW_LEVEL
    return level


def _poisson(rng: random.Random, mean: float) -> int:
    if mean > 30:  # normal approximation keeps large means cheap
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count


def usage_records(
    organisation: Organisation,
    demo: DemoOrganisation,
    start: datetime,
    hours: int,
    rates: dict[date, Decimal],
    weddings: list[Wedding],
    rng: random.Random,
) -> Iterator[AIUsageRecord]:
    wedding_by_date: dict[date, list[Wedding]] = {}
    for wedding in weddings:
        wedding_by_date.setdefault(wedding.date, []).append(wedding)
    batch = uuid.uuid4()
    for h in range(hours):
        hour = start + timedelta(hours=h)
        for _ in range(_poisson(rng, _hour_level(demo, hour))):
            occurred = hour + timedelta(seconds=rng.randrange(3600))
            yield _record(organisation, demo, occurred, hour, rates, wedding_by_date, batch, rng)


def _record(organisation, demo, occurred, hour, rates, wedding_by_date, batch, rng) -> AIUsageRecord:
    provider, model, _, prompt_price, completion_price, median_ms = _weighted(rng, MODELS, weight_at=2)
    feature, _, prompt_range, completion_range = _weighted(rng, FEATURES)
    prompt_tokens = rng.randint(*prompt_range)
    completion_tokens = rng.randint(*completion_range)
    failed = rng.random() < 0.02
    latency = int(median_ms * math.exp(rng.gauss(0, 0.45)) * (3 if failed else 1))
    cost_usd = (prompt_price * prompt_tokens + completion_price * completion_tokens) / 1000
    cost_usd = cost_usd.quantize(PENNY, rounding=ROUND_HALF_UP)
    london_day = calendar.london(occurred).date()
    rate = rates[london_day]
    wedding = None
    upcoming = [d for d in wedding_by_date if timedelta(0) <= d - london_day <= timedelta(days=21)]
    if upcoming and rng.random() < 0.55:
        wedding = rng.choice(wedding_by_date[rng.choice(upcoming)])
    return AIUsageRecord(
        organisation=organisation,
        request_id=f"demo-{uuid.UUID(int=rng.getrandbits(128)).hex}",
        occurred_at=occurred,
        hour=hour,
        feature=feature,
        provider=provider,
        model=model,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        latency_ms=latency,
        cost_usd=cost_usd,
        cost_gbp=(cost_usd * rate).quantize(PENNY, rounding=ROUND_HALF_UP),
        usd_gbp_rate=rate,
        outcome="error" if failed else "ok",
        error_type=_weighted(rng, ERROR_TYPES)[0] if failed else "",
        quality_score=None if failed else round(min(1.0, max(0.0, rng.gauss(0.86, 0.07))), 3),
        wedding=wedding,
        wedding_date=wedding.date if wedding else None,
        venue_region=wedding.region if wedding else "",
        vendor_type=demo.vendor_type,
        ingest_batch=batch,
    )


DEFAULT_DAYS = 30


def default_days(now: datetime) -> int:
    """30 days, or back to the start of last month (London) when that is longer: the CRM demo
    reports last month, and a report of a few days of usage would show little."""
    last_month_starts = calendar.Month.containing(now).previous.bounds()[0]
    return max(DEFAULT_DAYS, math.ceil((now - last_month_starts) / timedelta(days=1)))


def seed(
    *,
    days: int | None = None,
    seed_value: int = 2026,
    now: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Create the demo tenants and data; usage is generated only for organisations that have none.
    `days` of usage (default: default_days)."""
    rng = random.Random(seed_value)
    now = now or timezone.now()
    days = days or default_days(now)
    end_hour = now.replace(minute=0, second=0, microsecond=0)
    start_hour = end_hour - timedelta(days=days)
    organisations = ensure_organisations()
    today = calendar.london(now).date()
    weddings = ensure_weddings(organisations, today, rng)
    ensure_staff_inputs(today)
    ensure_exchange_rates(calendar.london(start_hour).date() - timedelta(days=1), today, rng)
    rates = {rate.date: rate.rate for rate in ExchangeRate.objects.filter(base="USD", quote="GBP")}
    demos = {demo.slug: demo for demo in ORGANISATIONS}
    hours = days * 24
    targets = [org for org in organisations if not AIUsageRecord.objects.filter(organisation=org).exists()]
    total_steps, done, created = len(targets) * hours, 0, 0
    for org in targets:
        org_weddings = list(org.weddings.all())
        buffer: list[AIUsageRecord] = []
        generated = usage_records(org, demos[org.slug], start_hour, hours, rates, org_weddings, rng)
        for index, record in enumerate(generated):
            buffer.append(record)
            if len(buffer) >= 5000:
                created += _flush(buffer)
            if progress and index % 500 == 0:
                progress(done + (record.hour - start_hour) // timedelta(hours=1), total_steps)
        created += _flush(buffer)
        done += hours
        if progress:
            progress(done, total_steps)
    return {"organisations": len(organisations), "weddings": weddings, "records": created}


def _flush(buffer: list[AIUsageRecord]) -> int:
    count = len(AIUsageRecord.objects.bulk_create(buffer, batch_size=2500))
    buffer.clear()
    return count
