"""POST /api/v1/usage/: the replies the AI platform relies on, and what ends up stored."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from wedsync_integrations.core.metrics import USAGE_RECORDS
from wedsync_integrations.usage.models import AIUsageRecord, RollupDirtyHour
from wedsync_integrations.usage.tokens import issue_token

from .conftest import URL, wire_record

pytestmark = pytest.mark.django_db


def _stored() -> int:
    return AIUsageRecord.objects.count()


# -- the happy path ---------------------------------------------------------------------------------
def test_valid_record_is_stored_with_gbp_cost_and_rate(post_batch, token, organisation, june_rate):
    response = post_batch(token, {"records": [wire_record()]})

    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    row = AIUsageRecord.objects.get()
    assert row.organisation == organisation
    assert row.request_id == "r-1"
    assert row.occurred_at == datetime(2026, 6, 13, 14, 5, tzinfo=UTC)
    assert row.hour == datetime(2026, 6, 13, 14, 0, tzinfo=UTC)
    assert (row.feature, row.provider, row.model) == ("email_template", "openai", "gpt-4o-mini")
    assert (row.prompt_tokens, row.completion_tokens, row.total_tokens) == (812, 240, 1052)
    assert row.latency_ms == 930
    assert row.cost_usd == Decimal("0.004100")
    assert row.usd_gbp_rate == Decimal("0.790000")
    assert row.cost_gbp == Decimal("0.003239")  # 0.0041 × 0.79
    assert row.outcome == "ok" and row.error_type == ""
    assert row.quality_score == pytest.approx(0.92)
    assert row.wedding_date == date(2026, 6, 13)
    assert (row.venue_region, row.vendor_type) == ("South West", "photographer")


def test_gbp_cost_to_the_penny_with_the_stored_rate(post_batch, token, make_rate):
    make_rate(date(2026, 6, 13), "0.786543")
    response = post_batch(token, {"records": [wire_record(cost_usd="1234.56")]})

    assert response.json()["accepted"] == 1
    row = AIUsageRecord.objects.get()
    # 1234.56 × 0.786543 = 971.03452608: £971.03 on any report, and reproducible from the stored rate
    assert row.usd_gbp_rate == Decimal("0.786543")
    assert row.cost_gbp == Decimal("971.034526")
    assert row.cost_gbp.quantize(Decimal("0.01")) == Decimal("971.03")
    assert row.cost_gbp == (row.cost_usd * row.usd_gbp_rate).quantize(Decimal("0.000001"))


def test_costs_finer_than_a_micro_dollar_are_rounded_half_up(post_batch, token, june_rate):
    post_batch(token, {"records": [wire_record(cost_usd="0.0001215")]})  # 810 tokens at $0.15/M

    assert AIUsageRecord.objects.get().cost_usd == Decimal("0.000122")


def test_optional_fields_may_be_omitted_or_null(post_batch, token, june_rate):
    minimal = {
        "request_id": "r-min",
        "occurred_at": "2026-06-13T15:00:00+01:00",
        "feature": "form_generation",
        "provider": "anthropic",
        "model": "claude-sonnet",
        "latency_ms": 1500,
        "cost_usd": "0.02",
        "outcome": "error",
        "error_type": "timeout",
        "quality_score": None,
        "wedding_date": None,
    }
    response = post_batch(token, {"records": [minimal]})

    assert response.json() == {"accepted": 1, "duplicates": 0, "rejected": []}
    row = AIUsageRecord.objects.get()
    assert row.occurred_at == datetime(2026, 6, 13, 14, 0, tzinfo=UTC)
    assert (row.prompt_tokens, row.completion_tokens) == (0, 0)
    assert row.quality_score is None and row.wedding_date is None and row.wedding is None
    assert (row.outcome, row.error_type) == ("error", "timeout")


# -- idempotency ------------------------------------------------------------------------------------
def test_resending_a_batch_stores_nothing_new_and_counts_duplicates(post_batch, token, june_rate):
    batch = {"records": [wire_record("r-1"), wire_record("r-2"), wire_record("r-3")]}
    assert post_batch(token, batch).json() == {"accepted": 3, "duplicates": 0, "rejected": []}
    stored_before = list(AIUsageRecord.objects.order_by("id").values())

    again = post_batch(token, batch)

    assert again.status_code == 200
    assert again.json() == {"accepted": 0, "duplicates": 3, "rejected": []}
    assert list(AIUsageRecord.objects.order_by("id").values()) == stored_before


def test_duplicates_inside_one_batch_are_counted_and_the_first_copy_wins(post_batch, token, june_rate):
    batch = {"records": [wire_record("r-1", latency_ms=100), wire_record("r-1", latency_ms=999), wire_record("r-2")]}

    assert post_batch(token, batch).json() == {"accepted": 2, "duplicates": 1, "rejected": []}
    assert AIUsageRecord.objects.get(request_id="r-1").latency_ms == 100


def test_partly_resent_batch_stores_only_the_new_records(post_batch, token, june_rate):
    post_batch(token, {"records": [wire_record("r-1")]})

    reply = post_batch(token, {"records": [wire_record("r-1"), wire_record("r-2")]}).json()

    assert reply == {"accepted": 1, "duplicates": 1, "rejected": []}
    assert sorted(AIUsageRecord.objects.values_list("request_id", flat=True)) == ["r-1", "r-2"]


# -- per-record validation ----------------------------------------------------------------------------
def test_mixed_batch_stores_valid_records_and_reports_each_invalid_one(post_batch, token, june_rate):
    batch = {
        "records": [
            wire_record("ok-1"),
            wire_record("bad-money", cost_usd=0.0041),
            wire_record("ok-2"),
            wire_record("bad-time", occurred_at="2026-06-13T14:05:00"),
            "not an object",
            wire_record("bad-many", latency_ms=-1, outcome="maybe", prompt_tokens=True, feature=""),
        ]
    }

    response = post_batch(token, batch)

    assert response.status_code == 200
    assert response.json() == {
        "accepted": 2,
        "duplicates": 0,
        "rejected": [
            {"index": 1, "errors": {"cost_usd": ['Send money as a decimal string such as "0.0041", not a number.']}},
            {"index": 3, "errors": {"occurred_at": ['Needs a UTC offset or "Z": a time without one is ambiguous.']}},
            {"index": 4, "errors": {"non_field_errors": ["Each record must be a JSON object."]}},
            {
                "index": 5,
                "errors": {
                    "feature": ["Must not be blank."],
                    "prompt_tokens": ["Must be a whole number."],
                    "latency_ms": ["Must not be negative."],
                    "outcome": ["Must be one of: ok, error."],
                },
            },
        ],
    }
    assert sorted(AIUsageRecord.objects.values_list("request_id", flat=True)) == ["ok-1", "ok-2"]


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"cost_usd": 1}, "cost_usd", 'Send money as a decimal string such as "0.0041", not a number.'),
        ({"cost_usd": "-0.01"}, "cost_usd", 'Not a non-negative decimal amount such as "0.0041".'),
        ({"cost_usd": "1e-3"}, "cost_usd", 'Not a non-negative decimal amount such as "0.0041".'),
        ({"cost_usd": "NaN"}, "cost_usd", 'Not a non-negative decimal amount such as "0.0041".'),
        ({"cost_usd": "123456789.0"}, "cost_usd", "Too large: at most 8 digits before the decimal point."),
        ({"cost_usd": None}, "cost_usd", "This field is required."),
        (
            {"occurred_at": "13/06/2026 14:05"},
            "occurred_at",
            'Not an ISO 8601 date-time such as "2026-06-13T14:05:00Z".',
        ),
        ({"occurred_at": 1781359500}, "occurred_at", 'Must be an ISO 8601 string such as "2026-06-13T14:05:00Z".'),
        ({"request_id": "x" * 129}, "request_id", "At most 128 characters (got 129)."),
        ({"request_id": "nul\x00byte"}, "request_id", "Contains a NUL character or invalid Unicode."),
        ({"quality_score": 1.5}, "quality_score", "Must be between 0 and 1."),
        ({"quality_score": "high"}, "quality_score", "Must be a number between 0 and 1."),
        ({"wedding_date": "2026-02-30"}, "wedding_date", 'Not a date such as "2026-06-13".'),
        ({"latency_ms": 930.5}, "latency_ms", "Must be a whole number."),
        ({"latency_ms": 2**31}, "latency_ms", f"At most {2**31 - 1}."),
        ({"total_tokens": 1}, "total_tokens", "Must equal prompt_tokens + completion_tokens."),
        ({"error_type": "timeout"}, "outcome", 'A request with an error type or message must have outcome "error".'),
        ({"completion_token": 240}, "completion_token", "Unknown field."),
        ({"model": ...}, "model", "This field is required."),
    ],
)
def test_invalid_field_is_rejected_with_a_clear_message(post_batch, token, june_rate, overrides, field, message):
    reply = post_batch(token, {"records": [wire_record(**overrides)]}).json()

    assert reply == {"accepted": 0, "duplicates": 0, "rejected": [{"index": 0, "errors": {field: [message]}}]}
    assert _stored() == 0


def test_record_from_the_future_is_rejected_but_small_clock_skew_is_tolerated(post_batch, token, june_rate):
    now = timezone.now().replace(microsecond=0)
    skewed = (now + timedelta(seconds=60)).isoformat()
    absurd = (now + timedelta(days=2)).isoformat()

    reply = post_batch(
        token, {"records": [wire_record("skew", occurred_at=skewed), wire_record("x", occurred_at=absurd)]}
    )

    assert reply.json() == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": [
            {
                "index": 1,
                "errors": {"occurred_at": ["Is in the future (more than 300 seconds ahead of the server clock)."]},
            }
        ],
    }


def test_a_record_with_no_exchange_rate_yet_is_accepted_with_its_gbp_cost_pending(post_batch, token):
    # a fresh install has no rate: the AI platform's first request must not fail, nor be resent
    reply = post_batch(token, {"records": [wire_record()]}).json()

    assert reply == {"accepted": 1, "duplicates": 0, "rejected": [], "gbp_pending": 1}
    record = AIUsageRecord.objects.get()
    assert record.cost_usd == Decimal("0.0041") and record.cost_gbp is None and record.usd_gbp_rate is None


def test_records_before_the_first_rate_wait_while_later_ones_are_priced_at_once(post_batch, token, make_rate):
    make_rate(date(2026, 6, 10), "0.79")
    reply = post_batch(
        token,
        {"records": [wire_record("early", occurred_at="2026-06-09T12:00:00Z"), wire_record("late")]},
    ).json()

    assert reply == {"accepted": 2, "duplicates": 0, "rejected": [], "gbp_pending": 1}
    priced = dict(AIUsageRecord.objects.values_list("request_id", "usd_gbp_rate"))
    assert priced == {"early": None, "late": Decimal("0.790000")}


# -- London-date rate selection across DST ------------------------------------------------------------
@pytest.mark.parametrize(
    ("occurred_at", "expected_rate"),
    [
        # clocks go forward at 01:00 UTC on Sunday 29 March 2026; London is still on GMT before that
        ("2026-03-28T23:30:00Z", "0.700000"),  # 23:30 GMT on the 28th
        ("2026-03-29T00:30:00Z", "0.710000"),  # 00:30 GMT on the 29th
        ("2026-03-29T01:30:00Z", "0.710000"),  # 02:30 BST on the 29th
        # BST evenings: 23:30 UTC is already the next London day
        ("2026-06-13T22:59:00Z", "0.780000"),  # 23:59 BST on the 13th
        ("2026-06-13T23:30:00Z", "0.790000"),  # 00:30 BST on the 14th
        # clocks go back at 01:00 UTC on Sunday 25 October 2026
        ("2026-10-24T22:30:00Z", "0.760000"),  # 23:30 BST on the 24th
        ("2026-10-24T23:30:00Z", "0.770000"),  # 00:30 BST on the 25th
        ("2026-10-25T23:30:00Z", "0.770000"),  # 23:30 GMT on the 25th (no rate for the 25th → the 25th's)
    ],
)
def test_rate_is_the_latest_on_or_before_the_records_london_date(
    post_batch, token, make_rate, occurred_at, expected_rate
):
    for day, rate in [
        (date(2026, 3, 28), "0.70"),
        (date(2026, 3, 29), "0.71"),
        (date(2026, 6, 13), "0.78"),
        (date(2026, 6, 14), "0.79"),
        (date(2026, 10, 24), "0.76"),
        (date(2026, 10, 25), "0.77"),
        (date(2026, 10, 27), "0.99"),
    ]:
        make_rate(day, rate)

    reply = post_batch(token, {"records": [wire_record(occurred_at=occurred_at, cost_usd="10")]}).json()

    assert reply["accepted"] == 1, reply
    row = AIUsageRecord.objects.get()
    assert row.usd_gbp_rate == Decimal(expected_rate)
    assert row.cost_gbp == Decimal(expected_rate) * 10


def test_only_usd_to_gbp_rates_are_used(post_batch, token, make_rate):
    make_rate(date(2026, 6, 13), "1.17", base="GBP", quote="EUR")
    make_rate(date(2026, 6, 1), "0.80")

    post_batch(token, {"records": [wire_record()]})

    assert AIUsageRecord.objects.get().usd_gbp_rate == Decimal("0.800000")


# -- wedding linking ------------------------------------------------------------------------------------
def test_record_links_the_wedding_that_day_preferring_the_matching_region(
    post_batch, token, organisation, make_organisation, make_wedding, june_rate
):
    london = make_wedding(organisation, date(2026, 6, 13), region="London")
    south_west = make_wedding(organisation, date(2026, 6, 13), region="South West", venue="Tithe Barn")
    make_wedding(make_organisation(), date(2026, 6, 13), region="South West")  # someone else's

    post_batch(
        token,
        {
            "records": [
                wire_record("sw", venue_region="south west "),
                wire_record("nowhere", venue_region="Highlands"),
                wire_record("other-day", wedding_date="2026-06-20"),
            ]
        },
    )

    linked = dict(AIUsageRecord.objects.values_list("request_id", "wedding_id"))
    assert linked == {"sw": south_west.id, "nowhere": london.id, "other-day": None}


# -- envelope errors: nothing is written ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "detail_starts"),
    [
        (b"{not json", "Malformed JSON"),
        (b'{"records": [{"latency_ms": NaN}]}', "Malformed JSON"),
        (b"\xff\xfe\x00garbage", "Malformed JSON"),
        (b"[]", 'Expected a JSON object {"records": [...]}'),
        (b'{"records": {"request_id": "r-1"}}', 'Expected a JSON object {"records": [...]}'),
        (b'{"items": []}', 'Expected a JSON object {"records": [...]}'),
        (b'{"records": [], "organisation": "other"}', "Unknown key(s) in the envelope: organisation."),
    ],
)
def test_malformed_envelope_is_a_400_and_stores_nothing(post_batch, token, june_rate, body, detail_starts):
    response = post_batch(token, body)

    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail_starts)
    assert _stored() == 0


def test_empty_body_is_a_400(post_batch, token):
    response = post_batch(token, b"", CONTENT_LENGTH="0", CONTENT_TYPE="application/json")

    assert response.status_code == 400
    assert response.json() == {"detail": 'Empty body: send {"records": [...]}.'}


def test_more_than_1000_records_is_refused_whole(post_batch, token, june_rate):
    records = [wire_record(f"r-{i}") for i in range(1001)]

    response = post_batch(token, {"records": records})

    assert response.status_code == 413
    assert response.json()["detail"].startswith("1001 records in one batch; at most 1000 are accepted.")
    assert _stored() == 0


def test_exactly_1000_records_are_accepted(post_batch, token, june_rate):
    response = post_batch(token, {"records": [wire_record(f"r-{i}") for i in range(1000)]})

    assert response.json() == {"accepted": 1000, "duplicates": 0, "rejected": []}


def test_oversized_body_is_refused_on_its_declared_length_before_authentication(post_batch, settings, june_rate):
    settings.USAGE_MAX_BODY_BYTES = 1000
    body = json.dumps({"records": [wire_record(f"r-{i}") for i in range(10)]})
    assert len(body) > 1000

    response = post_batch("not-even-a-token", body)

    assert response.status_code == 413
    assert response.json() == {
        "detail": f"Request body is {len(body)} bytes; the limit is 1000 bytes. Send smaller batches."
    }
    assert _stored() == 0


def test_body_longer_than_it_declared_is_refused(rf, token, settings, june_rate):
    from wedsync_integrations.usage.views import UsageIngestView

    settings.USAGE_MAX_BODY_BYTES = 50
    body = json.dumps({"records": [wire_record()]}).encode()
    request = rf.post(URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")
    request.META["CONTENT_LENGTH"] = "40"  # lies: the stream holds more
    request._stream.limit = len(body)  # a server that does not cap the stream at Content-Length

    response = UsageIngestView.as_view()(request)

    assert response.status_code == 413
    assert _stored() == 0


def test_missing_content_length_is_a_411(post_batch, token, june_rate):
    response = post_batch(token, json.dumps({"records": [wire_record()]}), CONTENT_LENGTH="")

    assert response.status_code == 411
    assert _stored() == 0


def test_non_json_content_type_is_a_415(post_batch, token, june_rate):
    response = post_batch(token, "records=1", content_type="application/x-www-form-urlencoded")

    assert response.status_code == 415
    assert _stored() == 0


def test_batch_is_all_or_nothing_when_the_database_fails_mid_write(post_batch, token, june_rate, monkeypatch):
    from wedsync_integrations.usage.models import RollupDirtyHour

    def explode(*args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(RollupDirtyHour.objects, "bulk_create", explode)

    with pytest.raises(RuntimeError):
        post_batch(token, {"records": [wire_record("r-1"), wire_record("r-2")]})

    assert _stored() == 0


# -- authentication and tenant isolation ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("authorization", "detail"),
    [
        (None, "Send the organisation's usage token as 'Authorization: Bearer <token>'."),
        ("Bearer wsu_not-a-real-token", "Unknown or revoked usage token."),
        ("Basic dXNlcjpwYXNz", 'Malformed Authorization header: expected "Bearer <token>".'),
        ("Bearer ", 'Malformed Authorization header: expected "Bearer <token>".'),
        ("Bearer " + "x" * 1000, "Unknown or revoked usage token."),
    ],
)
def test_missing_or_wrong_token_is_a_401_with_bearer_challenge(post_batch, token, june_rate, authorization, detail):
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization is not None else {}

    response = post_batch(None, {"records": [wire_record()]}, **extra)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="wedsync-usage"'
    assert response.json() == {"detail": detail}
    assert _stored() == 0


def test_revoked_token_no_longer_works(post_batch, organisation, token, june_rate):
    new_token = issue_token(organisation, created_by="test")

    assert post_batch(token, {"records": [wire_record("r-1")]}).status_code == 401
    assert post_batch(new_token, {"records": [wire_record("r-1")]}).status_code == 200


def test_deactivated_organisation_is_refused(post_batch, organisation, token, june_rate):
    organisation.is_active = False
    organisation.save()

    response = post_batch(token, {"records": [wire_record()]})

    assert response.status_code == 403
    assert _stored() == 0


def test_a_token_only_writes_its_own_organisations_records(post_batch, organisation, make_organisation, june_rate):
    other = make_organisation(slug="bloom", name="Bloom Florists")
    acme_token = issue_token(organisation, created_by="test")
    bloom_token = issue_token(other, created_by="test")

    assert post_batch(acme_token, {"records": [wire_record("r-1")]}).json()["accepted"] == 1
    # the same request id belongs to a different organisation: not a duplicate of acme's
    assert post_batch(bloom_token, {"records": [wire_record("r-1", latency_ms=5)]}).json() == {
        "accepted": 1,
        "duplicates": 0,
        "rejected": [],
    }
    assert post_batch(acme_token, {"records": [wire_record("r-1")]}).json()["duplicates"] == 1

    by_org = dict(AIUsageRecord.objects.values_list("organisation__slug", "latency_ms"))
    assert by_org == {"acme": 930, "bloom": 5}


# -- side effects: dirty hours, metrics, log line -----------------------------------------------------------
def test_ingest_marks_each_touched_hour_dirty_with_a_fresh_token(post_batch, token, organisation, june_rate):
    post_batch(token, {"records": [wire_record("a"), wire_record("b", occurred_at="2026-06-13T15:10:00Z")]})
    first = dict(RollupDirtyHour.objects.values_list("hour", "token"))
    assert set(first) == {datetime(2026, 6, 13, 14, tzinfo=UTC), datetime(2026, 6, 13, 15, tzinfo=UTC)}

    post_batch(token, {"records": [wire_record("c")]})  # a late record for 14:00
    second = dict(RollupDirtyHour.objects.values_list("hour", "token"))

    assert second[datetime(2026, 6, 13, 15, tzinfo=UTC)] == first[datetime(2026, 6, 13, 15, tzinfo=UTC)]
    assert second[datetime(2026, 6, 13, 14, tzinfo=UTC)] != first[datetime(2026, 6, 13, 14, tzinfo=UTC)]
    assert isinstance(second[datetime(2026, 6, 13, 14, tzinfo=UTC)], uuid.UUID)


def test_a_pure_resend_does_not_mark_hours_dirty(post_batch, token, june_rate):
    post_batch(token, {"records": [wire_record()]})
    RollupDirtyHour.objects.all().delete()

    post_batch(token, {"records": [wire_record()]})

    assert not RollupDirtyHour.objects.exists()


def test_results_are_counted_in_prometheus(post_batch, token, june_rate):
    def value(result):
        return USAGE_RECORDS.labels(result=result)._value.get()

    before = {r: value(r) for r in ("accepted", "duplicate", "rejected")}

    post_batch(token, {"records": [wire_record("a"), wire_record("a"), wire_record("b", cost_usd=1)]})

    assert {r: value(r) - before[r] for r in before} == {"accepted": 1, "duplicate": 1, "rejected": 1}


def test_one_log_line_per_batch_with_counts_and_never_the_token(post_batch, token, june_rate, caplog):
    with caplog.at_level(logging.INFO, logger="wedsync.usage"):
        post_batch(token, {"records": [wire_record("a"), wire_record("a"), wire_record("b", cost_usd=1)]})

    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("usage.batch")]
    assert len(lines) == 1
    assert lines[0].startswith("usage.batch org=acme records=3 accepted=1 duplicates=1 rejected=1 batch=")
    assert token not in caplog.text


def test_a_rate_over_a_month_old_is_used_and_warned_about_at_most_hourly(post_batch, token, make_rate, caplog):
    make_rate(date(2026, 5, 1), "0.80")

    with caplog.at_level(logging.WARNING, logger="wedsync.usage"):
        post_batch(token, {"records": [wire_record("a")]})
        post_batch(token, {"records": [wire_record("b")]})

    assert AIUsageRecord.objects.filter(usd_gbp_rate=Decimal("0.8")).count() == 2
    warnings = [r.getMessage() for r in caplog.records if "usage.stale_rate" in r.getMessage()]
    assert warnings == [
        "usage.stale_rate org=acme days=43: the USD→GBP rate used is over a month old; add current rates in admin"
    ]


@pytest.mark.services
@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (concurrent transactions)")
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sends_of_one_batch_store_it_once_and_count_exactly(organisation, june_rate):
    import threading

    from django.db import connections

    from wedsync_integrations.usage.ingest import ingest_batch

    records = [wire_record(f"r-{i}") for i in range(300)]
    start = threading.Barrier(2)
    results = []

    def send():
        try:
            start.wait(5)
            results.append(ingest_batch(organisation, records))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=send) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert [r.accepted + r.duplicates for r in results] == [300, 300]
    assert sum(r.accepted for r in results) == 300
    assert sum(r.duplicates for r in results) == 300
    assert AIUsageRecord.objects.count() == 300


# -- issue 14, item 9: the path without its trailing slash ----------------------------------------------
@pytest.mark.parametrize("debug", [True, False])
def test_a_post_without_the_trailing_slash_is_served_like_the_documented_path(
    client, token, june_rate, settings, debug
):
    """Django's APPEND_SLASH cannot redirect a POST (DEBUG: a RuntimeError, a 500; otherwise a 301
    the client follows as a GET and its batch is lost): both spellings are routed to the view."""
    settings.DEBUG = debug
    response = client.post(
        URL.rstrip("/"),
        data=json.dumps({"records": [wire_record()]}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )

    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert _stored() == 1
