"""CRM fixtures: a month of usage with known figures, a configuration per vendor, recorded vendor
payloads (fixtures/<vendor>/), a clock after June 2026 has closed."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from tests.services.conftest import start_worker, worker_queue  # noqa: F401  (real-worker fixtures)
from wedsync_integrations.calendar import LONDON, Month
from wedsync_integrations.usage.models import RollupWedding, UsageRollup

JUNE = Month(2026, 6)
# June 2026 closes on 3 July 00:00 London (CRM_MONTH_CLOSE_DAYS = 2): this is after.
NOW = datetime(2026, 7, 6, 9, 0, tzinfo=UTC)

TAVE_API = "https://workspace.vsco.co/api/v2"
TAVE_KEY = "tave-studio-key-0123456789abcdef"
HOOK_URL = "https://hooks.zapier.com/hooks/catch/123456/abcdef/"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # the Standard Webhooks reference test secret
LIGHT_BLUE_API = "https://online.lightbluesoftware.com/api.php"
LIGHT_BLUE_KEY = "lightblue-key-0123456789abcdef"
STUDIO_EMAIL = "studio@acme.example"


def london_hour(day: date, hour: int) -> datetime:
    """The UTC start of an hour given in London wall-clock time (how rollups are keyed)."""
    return datetime.combine(day, time(hour), tzinfo=LONDON).astimezone(UTC)


def first_weekday(month: Month, weekday: int) -> date:
    day = month.first_day
    return day + timedelta(days=(weekday - day.weekday()) % 7)


@pytest.fixture
def usage(db):
    """usage(org, month, requests=…, errors=…, in_window=…, latency_ms=…, weddings=(…)):
    rollups for a month: `in_window` requests on its first Saturday at noon (inside the wedding-day
    window), the rest on its first Tuesday at 10:00 (outside it), `latency_ms` each on average."""

    def add(organisation, month: Month, *, requests: int, errors: int = 0, in_window: int = 0, latency_ms: int = 1000,
            weddings=()):  # fmt: skip
        parts = [(first_weekday(month, 1), 10, requests - in_window), (first_weekday(month, 5), 12, in_window)]
        remaining_errors = errors
        for day, hour, count in parts:
            if not count:
                continue
            failed = min(remaining_errors, count)
            remaining_errors -= failed
            UsageRollup.objects.create(
                organisation=organisation, hour=london_hour(day, hour), feature="email_template", provider="openai",
                model="gpt-4o-mini", requests=count, errors=failed, prompt_tokens=count * 700,
                completion_tokens=count * 250, cost_usd=Decimal("0.01") * count, cost_gbp=Decimal("0.008") * count,
                latency_sum_ms=latency_ms * count, latency_min_ms=200, latency_max_ms=latency_ms * 3,
                latency_p50_ms=float(latency_ms), latency_p95_ms=float(latency_ms * 2), weddings_assisted=len(weddings),
                wedding_requests=min(count, len(weddings)),
            )  # fmt: skip
        for key in weddings:
            RollupWedding.objects.create(
                organisation=organisation, hour=london_hour(parts[0][0], parts[0][1]), wedding_key=str(key)
            )

    return add


@pytest.fixture
def tave_config(make_config, organisation):
    def make(base_url=None, organisation=organisation, enabled=True, **settings):
        if base_url:
            settings["base_url"] = base_url
        settings.setdefault("first_month", "2026-06")
        return make_config(
            "crm", organisation, "tave", settings=settings, secrets={"api_key": TAVE_KEY}, enabled=enabled
        )

    return make


@pytest.fixture
def honeybook_config(make_config, organisation):
    def make(hook_url=HOOK_URL, signing_secret=WHSEC, organisation=organisation, enabled=True, **settings):
        settings.setdefault("first_month", "2026-06")
        secrets = {"hook_url": hook_url}
        if signing_secret:
            secrets["signing_secret"] = signing_secret
        return make_config("crm", organisation, "honeybook", settings=settings, secrets=secrets, enabled=enabled)

    return make


@pytest.fixture
def lightblue_config(make_config, organisation):
    def make(base_url=None, organisation=organisation, enabled=True, **settings):
        if base_url:
            settings["base_url"] = base_url
        settings.setdefault("first_month", "2026-06")
        settings.setdefault("contact_email", STUDIO_EMAIL)
        secrets = {"api_key": LIGHT_BLUE_KEY}
        return make_config("crm", organisation, "lightblue", settings=settings, secrets=secrets, enabled=enabled)

    return make
