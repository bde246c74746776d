"""Usage admin: staff keep exchange rates; records, rollups and tokens are read-only; no N+1."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from wedsync_integrations.usage.ingest import ingest_batch
from wedsync_integrations.usage.models import AIUsageRecord, ExchangeRate, UsageRollup, UsageToken
from wedsync_integrations.usage.rollup import update_rollups
from wedsync_integrations.usage.tokens import issue_token

from .conftest import wire_record

pytestmark = pytest.mark.django_db

RATE_ADD = "/admin/usage/exchangerate/add/"


def _rate_form(**overrides):
    data = {"date": "2026-06-13", "base": "USD", "quote": "GBP", "rate": "0.79", "source": "HMRC monthly"}
    data.update(overrides)
    return data


def test_staff_add_a_rate(admin_client):
    response = admin_client.post(RATE_ADD, _rate_form(base="usd"))

    assert response.status_code == 302
    rate = ExchangeRate.objects.get()
    assert (rate.date, rate.base, rate.quote, rate.rate) == (date(2026, 6, 13), "USD", "GBP", Decimal("0.790000"))


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"rate": "79"}, "79 GBP per USD is implausible"),
        ({"rate": "1.27"}, "check it is GBP per 1 USD and not the inverse"),
        ({"rate": "0.7912345"}, "Ensure that there are no more than 6 decimal places."),
        ({"rate": "0"}, "A rate must be greater than zero."),
        ({"rate": "-0.5"}, "A rate must be greater than zero."),
        ({"quote": "USD"}, "Base and quote currencies must differ."),
        ({"base": "US"}, "A three-letter ISO 4217 code"),
        ({"date": "2099-01-01"}, "A rate cannot be dated after tomorrow."),
    ],
)
def test_rate_validation(admin_client, overrides, message):
    response = admin_client.post(RATE_ADD, _rate_form(**overrides))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ExchangeRate.objects.exists()


def test_a_second_rate_for_the_same_day_is_refused(admin_client):
    admin_client.post(RATE_ADD, _rate_form())

    response = admin_client.post(RATE_ADD, _rate_form(rate="0.80"))

    assert response.status_code == 200
    assert "already exists" in response.content.decode()
    assert ExchangeRate.objects.get().rate == Decimal("0.790000")


@pytest.fixture
def usage_rows(organisation, make_wedding, make_rate):
    make_rate(date(2026, 6, 1), "0.79")
    make_wedding(organisation, date(2026, 6, 13), region="South West")

    def add(count: int, prefix: str):
        result = ingest_batch(organisation, [wire_record(f"{prefix}-{i}") for i in range(count)])
        assert result.accepted == count

    return add


def test_usage_record_list_costs_the_same_queries_for_5_or_50_rows(admin_client, usage_rows):
    url = "/admin/usage/aiusagerecord/"
    usage_rows(5, "a")
    admin_client.get(url)  # warm the session and content types
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get(url).status_code == 200
    usage_rows(45, "b")
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get(url)

    assert response.status_code == 200
    assert len(many) == len(few)
    assert "b-44" in response.content.decode()


def test_usage_record_search_by_request_id_and_detail_is_read_only(admin_client, usage_rows):
    usage_rows(3, "r")
    record = AIUsageRecord.objects.get(request_id="r-1")

    listing = admin_client.get("/admin/usage/aiusagerecord/", {"q": "r-1"}).content.decode()
    detail = admin_client.get(f"/admin/usage/aiusagerecord/{record.pk}/change/")

    assert "r-1" in listing and "r-2" not in listing
    assert detail.status_code == 200
    assert 'name="_save"' not in detail.content.decode()
    assert admin_client.get("/admin/usage/aiusagerecord/add/").status_code == 403
    assert admin_client.post(f"/admin/usage/aiusagerecord/{record.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AIUsageRecord.objects.count() == 3


def test_rollup_list_is_read_only(admin_client, usage_rows):
    usage_rows(2, "r")
    update_rollups()

    response = admin_client.get("/admin/usage/usagerollup/")

    assert response.status_code == 200
    assert "email_template" in response.content.decode()
    assert admin_client.get("/admin/usage/usagerollup/add/").status_code == 403


def test_token_pages_show_the_prefix_and_never_the_hash(admin_client, organisation):
    raw = issue_token(organisation, created_by="admin:alice")
    token = UsageToken.objects.get()

    listing = admin_client.get("/admin/usage/usagetoken/").content.decode()
    detail = admin_client.get(f"/admin/usage/usagetoken/{token.pk}/change/").content.decode()

    for page in (listing, detail):
        assert token.prefix in page
        assert token.token_hash not in page
        assert raw not in page
    assert admin_client.get("/admin/usage/usagetoken/add/").status_code == 403


def test_usage_record_filters_offer_recent_providers_and_filter_by_them(admin_client, organisation, make_rate):
    make_rate(date(2026, 6, 1), "0.79")
    ingest_batch(
        organisation,
        [wire_record("oa", provider="openai"), wire_record("an", provider="anthropic", model="claude-sonnet")],
    )
    update_rollups()
    UsageRollup.objects.update(hour=timezone.now())  # "recent" for the filter's 90-day window

    response = admin_client.get("/admin/usage/aiusagerecord/", {"provider": "anthropic"})

    page = response.content.decode()
    assert '?provider=openai"' in page  # offered as a choice
    assert ">an<" in page and ">oa<" not in page
