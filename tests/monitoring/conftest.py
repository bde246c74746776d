"""Monitoring fixtures: rollup rows with known figures, configs for each vendor, a frozen clock."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from wedsync_integrations.usage.models import RollupWedding, UsageRollup

DD_KEY = "dd0123456789abcdef0123456789abcd"
NR_KEY = "0123456789abcdef0123456789abcdefNRAL"
NR_EU_KEY = "eu01xx0123456789abcdef0123456789NRAL"
SCRAPE_TOKEN = "tenant-scrape-token-0123456789"

# A Saturday in peak season (BST): 13 June 2026, 14:00–15:00 UTC is a finished hour at 15:05.
HOUR = datetime(2026, 6, 13, 14, tzinfo=UTC)
NOW = datetime(2026, 6, 13, 15, 5, tzinfo=UTC)


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def make_rollup(db):
    def make(organisation, hour, **fields) -> UsageRollup:
        defaults = dict(
            feature="email_template",
            provider="openai",
            model="gpt-4o-mini",
            requests=40,
            errors=2,
            prompt_tokens=30_000,
            completion_tokens=8_000,
            cost_usd=Decimal("1.250000"),
            cost_gbp=Decimal("0.987500"),
            latency_sum_ms=36_000,
            latency_min_ms=120,
            latency_max_ms=4_100,
            latency_p50_ms=750.0,
            latency_p95_ms=2_300.5,
            weddings_assisted=3,
            wedding_requests=12,
        )
        defaults.update(fields)
        return UsageRollup.objects.create(organisation=organisation, hour=hour, **defaults)

    return make


@pytest.fixture
def assisted(db):
    def make(organisation, hour, *keys):
        for key in keys:
            RollupWedding.objects.create(organisation=organisation, hour=hour, wedding_key=str(key))

    return make


@pytest.fixture
def datadog_config(make_config, organisation):
    def make(base_url=None, **settings):
        if base_url:
            settings["base_url"] = base_url
        return make_config("monitoring", organisation, "datadog", settings=settings, secrets={"api_key": DD_KEY})

    return make


@pytest.fixture
def newrelic_config(make_config, organisation):
    def make(base_url=None, key=NR_KEY, **settings):
        if base_url:
            settings["base_url"] = base_url
        return make_config("monitoring", organisation, "newrelic", settings=settings, secrets={"license_key": key})

    return make


@pytest.fixture
def prometheus_config(make_config, organisation):
    def make(pushgateway_url=None, token=SCRAPE_TOKEN, organisation=organisation):
        settings = {"pushgateway_url": pushgateway_url} if pushgateway_url else {}
        return make_config("monitoring", organisation, "prometheus", settings=settings, secrets={"bearer_token": token})

    return make


def gunzip_json(body: bytes):
    return json.loads(gzip.decompress(body))
