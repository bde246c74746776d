"""Issue 14, item 1: one record the database or the date arithmetic cannot hold must never cost
the batch. Each field parser rejects such a value per record; the batch's good records are stored
and the reply is a 2xx, whatever JSON value arrives in whichever field."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from datetime import timezone as dt_timezone
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wedsync_integrations.usage.models import AIUsageRecord
from wedsync_integrations.usage.validation import WIRE_FIELDS

from .conftest import URL, wire_record

pytestmark = pytest.mark.django_db


def _post(client, token, records):
    return client.post(
        URL,
        data=json.dumps({"records": records}),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


# -- the values the issue found ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cost_usd", "99999999.9999999"),  # under 10^8 as sent, 10^8 once rounded to six places
        ("occurred_at", "0001-01-01T00:00:00Z"),  # its London date is in year 0
        ("occurred_at", "0001-01-01T05:00:00+14:00"),  # its UTC time is in year 0
        ("occurred_at", "9999-12-31T23:59:59-14:00"),  # its UTC time is in year 10000
        ("quality_score", 10**400),  # too large to become a float
        ("quality_score", -(10**400)),
    ],
    ids=["cost-rounds-past-column", "london-date-year-0", "utc-year-0", "utc-year-10000", "huge-int", "huge-negative"],
)
def test_a_value_the_database_or_the_calendar_cannot_hold_rejects_only_its_record(
    client, token, june_rate, field, value
):
    poison = {**wire_record("poison"), field: value}
    response = _post(client, token, [wire_record("good-1"), poison, wire_record("good-2")])

    assert response.status_code == 200
    reply = response.json()
    assert reply["accepted"] == 2
    assert [item["index"] for item in reply["rejected"]] == [1]
    assert list(reply["rejected"][0]["errors"]) == [field]
    assert sorted(AIUsageRecord.objects.values_list("request_id", flat=True)) == ["good-1", "good-2"]


def test_a_cost_whose_gbp_figure_the_column_cannot_hold_rejects_only_its_record(client, token, make_rate):
    """The GBP column has the USD column's size: a staff rate above 1 could push a large but valid
    USD cost past it, which PostgreSQL refuses for the whole INSERT."""
    make_rate(date(2026, 6, 1), "1.500000")
    response = _post(client, token, [wire_record("good"), wire_record("huge", cost_usd="90000000")])

    assert response.status_code == 200
    reply = response.json()
    assert reply["accepted"] == 1
    assert [(item["index"], list(item["errors"])) for item in reply["rejected"]] == [(1, ["cost_usd"])]
    assert list(AIUsageRecord.objects.values_list("request_id", flat=True)) == ["good"]


def test_a_field_name_no_reply_can_encode_is_refused_in_its_record_only(client, token, june_rate):
    """JSON may carry a lone surrogate (\\ud800) in a key; naming it in the reply as is made the
    reply unencodable (a 500 for the whole batch), so the reply names it escaped."""
    response = _post(client, token, [wire_record("good"), {**wire_record("odd"), "\ud800": 1}])

    assert response.status_code == 200
    assert response.json()["accepted"] == 1
    assert response.json()["rejected"][0]["errors"]["\\ud800"] == ["Unknown field."]


def test_an_envelope_key_no_reply_can_encode_is_a_400_naming_it_escaped(client, token, june_rate):
    body = json.dumps({"records": [], "\udfffx": 1})  # json.dumps writes the surrogate as an escape

    response = client.post(URL, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 400
    assert "\\udfffx" in response.json()["detail"]


# -- the property: any JSON value in any field --------------------------------------------------------
# Any text JSON can carry: NUL, lone surrogates (\\ud800) and every other code point.
_ANY_TEXT = st.text(st.characters(exclude_categories=()), max_size=300)


def _json_values():
    """Arbitrary JSON: every scalar JSON can carry (text with lone surrogates and NUL included,
    integers of any size, floats of any finite size), nested in lists and objects."""
    scalars = (
        st.none()
        | st.booleans()
        | st.integers()
        | st.integers(min_value=-(10**450), max_value=10**450)
        | st.floats(allow_nan=False, allow_infinity=False)
        | _ANY_TEXT
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_ANY_TEXT, inner, max_size=3),
        max_leaves=6,
    )


# Offsets a fixed-offset time may carry: datetime allows up to ±23:59, real zones reach ±14:00.
_OFFSETS = (
    st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1) | st.sampled_from([-14 * 60, 14 * 60, 24 * 60 - 1])
).map(lambda minutes: timedelta(minutes=minutes))
_INSTANTS = (
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59))
    # the calendar's two ends, where an offset or the London date leaves the range
    | st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(1, 1, 1, 14))
    | st.datetimes(min_value=datetime(9999, 12, 31, 10), max_value=datetime(9999, 12, 31, 23, 59, 59))
)
_TIMES = st.builds(lambda at, offset: at.replace(tzinfo=dt_timezone(offset)).isoformat(), _INSTANTS, _OFFSETS)
_MONEY = (
    st.decimals(min_value=0, allow_nan=False, allow_infinity=False).map(lambda d: format(d, "f"))
    | st.from_regex(r"\A[0-9]{1,12}(\.[0-9]{1,12})?\Z")
    # just under and over the column's 8 integer digits, with more places than it keeps
    | st.decimals(min_value=Decimal("99999999.99"), max_value=Decimal("100000000.01"), places=8).map(str)
)
_COUNTS = st.integers(min_value=2**31 - 3, max_value=2**31 + 3) | st.integers(min_value=-(10**450), max_value=10**450)
_NUMBERS = _COUNTS | st.floats(allow_nan=False, allow_infinity=False) | st.floats(min_value=-1, max_value=2)
_TEXT = _ANY_TEXT | st.text(max_size=600)
# Values shaped like what each field expects, reaching the edges of its range: that is where a
# value passes a naive check and then fails the database or the date arithmetic.
_SHAPED = {"occurred_at": _TIMES, "wedding_date": st.dates().map(date.isoformat), "cost_usd": _MONEY}


def _values_for(field: str):
    """Any JSON value, or (twice as often) one shaped like the field's own: a time, money, a
    number, text."""
    shaped = _SHAPED.get(field, _NUMBERS | _TEXT)
    return st.one_of(_json_values(), shaped, shaped)


@pytest.mark.parametrize("field", sorted(WIRE_FIELDS))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_one_bad_field_value_never_costs_the_batch_its_good_records(client, token, june_rate, field, data):
    value = data.draw(_values_for(field), label=field)
    run = uuid.uuid4().hex  # the examples share one database transaction: ids of their own
    good_ids = [f"{run}-good-1", f"{run}-good-2"]
    suspect = {**wire_record(f"{run}-suspect"), field: value}

    response = _post(client, token, [wire_record(good_ids[0]), suspect, wire_record(good_ids[1])])

    assert response.status_code == 200, response.content[:500]
    reply = response.json()
    assert set(AIUsageRecord.objects.filter(request_id__in=good_ids).values_list("request_id", flat=True)) == set(
        good_ids
    )
    rejected = [item["index"] for item in reply["rejected"]]
    assert rejected in ([], [1])
    assert reply["accepted"] >= 2
    assert reply["accepted"] + reply["duplicates"] + len(rejected) == 3
    if not rejected:  # the value was fine after all: the record is stored (or was, by an earlier example)
        assert AIUsageRecord.objects.filter(request_id=suspect["request_id"]).exists()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=_ANY_TEXT.filter(lambda name: name not in WIRE_FIELDS), value=_json_values())
def test_an_unknown_field_of_any_name_never_costs_the_batch_its_good_records(client, token, june_rate, name, value):
    run = uuid.uuid4().hex
    suspect = {**wire_record(f"{run}-suspect"), name: value}

    response = _post(client, token, [wire_record(f"{run}-good"), suspect])

    assert response.status_code == 200, response.content[:500]
    assert response.json()["accepted"] == 1
    assert [item["index"] for item in response.json()["rejected"]] == [1]
