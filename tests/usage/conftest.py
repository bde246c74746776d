"""Fixtures for the usage tests: rates, tokens, and a client that posts batches like the AI platform."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest

from wedsync_integrations.usage.models import ExchangeRate
from wedsync_integrations.usage.tokens import issue_token

URL = "/api/v1/usage/"


def wire_record(request_id: str = "r-1", **overrides) -> dict:
    """The AI platform's example record, with overrides."""
    record = {
        "request_id": request_id,
        "occurred_at": "2026-06-13T14:05:00Z",
        "feature": "email_template",
        "provider": "openai",
        "model": "gpt-4o-mini",
        "prompt_tokens": 812,
        "completion_tokens": 240,
        "latency_ms": 930,
        "cost_usd": "0.0041",
        "outcome": "ok",
        "error_type": None,
        "quality_score": 0.92,
        "wedding_date": "2026-06-13",
        "venue_region": "South West",
        "vendor_type": "photographer",
    }
    record.update(overrides)
    return {k: v for k, v in record.items() if v is not ...}


@pytest.fixture
def make_rate(db):
    def make(day: date, rate: str, **fields) -> ExchangeRate:
        return ExchangeRate.objects.create(date=day, rate=Decimal(rate), **fields)

    return make


@pytest.fixture
def june_rate(make_rate) -> ExchangeRate:
    return make_rate(date(2026, 6, 1), "0.790000", source="test")


@pytest.fixture
def token(organisation) -> str:
    return issue_token(organisation, created_by="test")


@pytest.fixture
def post_batch(client):
    def post(token: str | None, payload, **extra):
        body = payload if isinstance(payload, bytes | str) else json.dumps(payload)
        if token is not None:
            extra.setdefault("HTTP_AUTHORIZATION", f"Bearer {token}")
        extra.setdefault("content_type", "application/json")
        return client.post(URL, data=body, **extra)

    return post
