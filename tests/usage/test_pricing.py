"""Usage is never refused for want of an exchange rate: it waits with its GBP cost pending, is priced
when a rate arrives (admin, a Bank of England CSV, the scheduled feed), and its hours are rolled up
and restated; waiting too long raises one alert; no export ever sends a pending cost as zero."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import responses
from django.core.management import CommandError, call_command
from freezegun import freeze_time

from alerts.models import Alert, AlertStatus
from monitoring.providers.datadog import SITES
from monitoring.sync import sync_monitoring
from wedsync_integrations.usage.ingest import ingest_batch
from wedsync_integrations.usage.models import AIUsageRecord, ExchangeRate, RollupDirtyHour, UsageRollup
from wedsync_integrations.usage.pricing import (
    RateFileError,
    check_waiting,
    fetch_feed,
    parse_boe_csv,
    price_pending,
)
from wedsync_integrations.usage.rollup import update_rollups

from ..monitoring.conftest import DD_KEY, NR_KEY, gunzip_json
from .conftest import wire_record

pytestmark = pytest.mark.django_db

# Bank of England database export, series XUDLUSS (US $ into Sterling): USD per £1
BOE_CSV = """DATE,XUDLUSS
12 Jun 2026,1.2658
15 Jun 2026,1.2705
"""
HOUR = datetime(2026, 6, 13, 14, tzinfo=UTC)  # Saturday 13 June 2026, 15:00-16:00 BST
NOW = datetime(2026, 6, 13, 15, 5, tzinfo=UTC)


def _ingest(organisation, *records):
    with freeze_time(NOW):
        return ingest_batch(organisation, [wire_record(f"r-{n}", **fields) for n, fields in enumerate(records)])


# -- pricing -------------------------------------------------------------------------------------------
def test_pending_records_are_priced_with_the_rate_of_their_london_date_and_their_hours_marked(organisation, make_rate):
    # 23:30 UTC on 12 June is 00:30 on 13 June in London (BST): it takes the 13 June rate
    _ingest(organisation, {"occurred_at": "2026-06-12T22:30:00Z"}, {"occurred_at": "2026-06-12T23:30:00Z"})
    RollupDirtyHour.objects.all().delete()  # as if the rollup engine had caught up meanwhile
    make_rate(date(2026, 6, 12), "0.790000")
    make_rate(date(2026, 6, 13), "0.800000")

    result = price_pending()

    assert (result.priced, result.still_pending, result.hours_marked) == (2, 0, 2)
    priced = dict(AIUsageRecord.objects.values_list("request_id", "usd_gbp_rate"))
    assert priced == {"r-0": Decimal("0.790000"), "r-1": Decimal("0.800000")}
    assert AIUsageRecord.objects.get(request_id="r-0").cost_gbp == Decimal("0.003239")  # 0.0041 × 0.79, half-up
    assert RollupDirtyHour.objects.count() == 2
    assert price_pending().priced == 0  # idempotent


def test_records_older_than_every_rate_keep_waiting(organisation, make_rate):
    _ingest(organisation, {"occurred_at": "2026-06-13T14:05:00Z"})
    make_rate(date(2026, 6, 20), "0.79")
    assert price_pending().still_pending == 1
    assert AIUsageRecord.objects.get().cost_gbp is None


def test_a_rollup_counts_what_is_unpriced_and_never_calls_it_zero(organisation, make_rate):
    _ingest(organisation, {}, {"latency_ms": 20}, {})
    update_rollups(now=NOW)
    rollup = UsageRollup.objects.get()
    assert (rollup.requests, rollup.unpriced_requests, rollup.gbp_known) == (3, 3, False)
    make_rate(date(2026, 6, 1), "0.79")
    price_pending()
    update_rollups(now=NOW)
    rollup = UsageRollup.objects.get()
    assert (rollup.unpriced_requests, rollup.gbp_known, rollup.cost_gbp) == (0, True, Decimal("0.009717"))


# -- rates in ---------------------------------------------------------------------------------------------
def test_a_bank_of_england_csv_gives_gbp_per_dollar():
    assert parse_boe_csv(BOE_CSV) == [
        (date(2026, 6, 12), Decimal("0.790014")),
        (date(2026, 6, 15), Decimal("0.787092")),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("DATE,XUDLERS\n12 Jun 2026,1.15\n", "line 1: expected a DATE column and the XUDLUSS series"),
        ("DATE,XUDLUSS\n12 June 26,1.26\n", "line 2: '12 June 26' is not a date"),
        ("DATE,XUDLUSS\n12 Jun 2026,n/a\n", "line 2: 'n/a' is not a number"),
        ("DATE,XUDLUSS\n12 Jun 2026,0.79\n", "outside the plausible"),  # the inverse series pasted by mistake
        ("DATE,XUDLUSS\n", "no rates in the file"),
    ],
)
def test_a_malformed_rate_file_is_refused_naming_the_line(text, message):
    with pytest.raises(RateFileError, match=message):
        parse_boe_csv(text)


def test_the_import_command_upserts_the_rates_and_prices_the_waiting_usage(organisation, tmp_path):
    _ingest(organisation, {"occurred_at": "2026-06-13T14:05:00Z"})
    path = tmp_path / "XUDLUSS.csv"
    path.write_text(BOE_CSV)
    out = io.StringIO()

    call_command("exchange_rates", "import", str(path), stdout=out)

    assert "rates 12 Jun 2026 to 15 Jun 2026: 2 added, 0 changed, 0 unchanged" in out.getvalue()
    assert "usage priced: 1 record(s) in 1 hour(s)" in out.getvalue()
    assert AIUsageRecord.objects.get().usd_gbp_rate == Decimal("0.790014")  # 12 June: the latest on or before 13 June
    call_command("exchange_rates", "import", str(path), stdout=io.StringIO())
    assert ExchangeRate.objects.count() == 2  # idempotent


def test_a_bad_file_imports_nothing(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("DATE,XUDLUSS\n12 Jun 2026,1.2658\n13 Jun 2026,oops\n")
    with pytest.raises(CommandError, match="line 3: 'oops' is not a number; nothing was imported"):
        call_command("exchange_rates", "import", str(path))
    assert ExchangeRate.objects.count() == 0


@responses.activate
def test_the_scheduled_feed_is_fetched_through_the_ssrf_guard(settings, organisation, monkeypatch):
    import socket

    monkeypatch.setattr(
        socket, "getaddrinfo", lambda *a, **k: [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("151.101.2.1", 443))]
    )
    settings.EXCHANGE_RATE_FEED_URL = "https://rates.example.com/XUDLUSS.csv"
    responses.get("https://rates.example.com/XUDLUSS.csv", body=BOE_CSV)
    _ingest(organisation, {})
    result = fetch_feed()
    assert (result.created, result.pricing.priced) == (2, 1)

    settings.EXCHANGE_RATE_FEED_URL = "http://10.0.0.7/rates.csv"
    with pytest.raises(Exception, match="must use https|private"):
        fetch_feed()


def test_saving_a_rate_in_admin_prices_the_waiting_usage(admin_client, organisation, monkeypatch,
                                                        django_capture_on_commit_callbacks):  # fmt: skip
    from wedsync_integrations.usage import admin as usage_admin

    monkeypatch.setattr(usage_admin.price_pending, "delay", lambda: price_pending())
    _ingest(organisation, {})
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/usage/exchangerate/add/",
            {"date": "2026-06-13", "base": "USD", "quote": "GBP", "rate": "0.790000", "source": "ECB"},
            follow=True,
        )
    assert "1 AI usage record(s) waiting for a rate are being priced now" in response.content.decode()
    assert AIUsageRecord.objects.get().cost_gbp == Decimal("0.003239")


# -- waiting too long ---------------------------------------------------------------------------------------
def test_waiting_too_long_raises_one_alert_resolved_once_priced(settings, organisation, make_organisation, make_rate):
    make_organisation(slug="wedsync", name="WedSync")  # platform alerts go out through it
    settings.USAGE_RATE_PENDING_ALERT_AFTER = 3600
    with freeze_time(NOW):
        ingest_batch(organisation, [wire_record("a"), wire_record("b")])
    check_waiting(now=NOW + timedelta(minutes=30))
    assert not Alert.objects.exists()  # not long enough yet

    for minutes in (61, 70, 90):
        check_waiting(now=NOW + timedelta(minutes=minutes))
    alert = Alert.objects.get()
    assert alert.occurrence_count >= 1 and "2 AI usage record(s) dated 13 Jun 2026" in alert.description

    make_rate(date(2026, 6, 1), "0.79")
    price_pending()
    check_waiting(now=NOW + timedelta(minutes=95))
    alert.refresh_from_db()
    assert alert.status == AlertStatus.RESOLVED


# -- restated through the exporters --------------------------------------------------------------------------
@responses.activate
def test_an_unpriced_hour_goes_out_without_gbp_and_is_restated_with_it_once_priced(
    organisation, make_config, make_rate
):
    datadog = make_config("monitoring", organisation, "datadog", secrets={"api_key": DD_KEY})
    newrelic = make_config("monitoring", organisation, "newrelic", secrets={"license_key": NR_KEY})
    responses.post(SITES["US1"] + "/api/v2/series", status=202, json={"errors": []})
    responses.post("https://metric-api.newrelic.com/metric/v1", status=202, json={"requestId": "x"})
    _ingest(organisation, {"occurred_at": "2026-06-13T14:05:00Z"}, {"occurred_at": "2026-06-13T14:15:00Z"})
    update_rollups(now=NOW)

    with freeze_time(NOW):
        sync_monitoring(datadog)
        sync_monitoring(newrelic)
    dd_first = {s["metric"] for s in gunzip_json(responses.calls[0].request.body)["series"]}
    nr_first = {m["name"] for block in gunzip_json(responses.calls[1].request.body) for m in block["metrics"]}
    for sent in (dd_first, nr_first):
        assert "wedsync.ai.requests" in sent
        assert "wedsync.ai.cost" not in sent and "wedsync.ai.cost_per_request" not in sent  # withheld, not 0

    make_rate(date(2026, 6, 1), "0.79")
    price_pending()
    update_rollups(now=NOW + timedelta(minutes=10))
    with freeze_time(NOW + timedelta(minutes=11)):
        sync_monitoring(datadog)
        sync_monitoring(newrelic)

    dd_restated = {s["metric"]: s["points"][0]["value"] for s in gunzip_json(responses.calls[2].request.body)["series"]}
    assert dd_restated["wedsync.ai.cost"] == pytest.approx(0.006478)  # 2 × 0.0041 USD × 0.79
    assert dd_restated["wedsync.ai.requests"] == 2  # the hour again in full: Datadog keeps the last value
    nr_restated = {
        m["name"]: m["value"] for block in gunzip_json(responses.calls[3].request.body) for m in block["metrics"]
    }
    assert nr_restated == {
        "wedsync.ai.cost": pytest.approx(0.006478),
        "wedsync.ai.cost_per_request": pytest.approx(0.003239),
    }
