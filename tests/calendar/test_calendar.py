"""The wedding calendar, judged in Europe/London across month boundaries and DST changes.

Every table runs twice: with the instant passed explicitly, and with the clock frozen at it
(freezegun) and the default "now" used, so both ways callers use the functions are covered.
DST in 2026: clocks go forward on Sunday 29 March (01:00 GMT -> 02:00 BST) and back on
Sunday 25 October (02:00 BST -> 01:00 GMT). Instants below are UTC ("Z") unless stated.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from wedsync_integrations import calendar
from wedsync_integrations.calendar import LONDON, Season

NEW_YORK = ZoneInfo("America/New_York")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def london(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


@pytest.fixture(params=["explicit", "frozen"])
def judge(request):
    """judge(fn, instant) -> fn's answer, with `instant` passed or frozen as now."""

    def run(fn, instant: datetime):
        if request.param == "explicit":
            return fn(instant)
        with freeze_time(instant):
            return fn()

    return run


# -- season ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        ("2026-01-15T12:00:00", "off_season"),
        ("2026-03-31T22:59:59", "off_season"),  # 31 Mar 23:59:59 BST
        ("2026-03-31T23:00:00", "shoulder"),  # 1 Apr 00:00 BST
        ("2026-04-30T22:59:59", "shoulder"),  # 30 Apr 23:59:59 BST
        ("2026-04-30T23:00:00", "peak"),  # 1 May 00:00 BST
        ("2026-04-30T23:30:00", "peak"),  # 1 May 00:30 BST, though still 30 April in UTC
        ("2026-07-04T12:00:00", "peak"),
        ("2026-09-30T22:59:59", "peak"),  # 30 Sep 23:59:59 BST
        ("2026-09-30T23:00:00", "shoulder"),  # 1 Oct 00:00 BST
        ("2026-10-31T23:59:59", "shoulder"),  # 31 Oct 23:59:59 GMT (clocks went back on the 25th)
        ("2026-11-01T00:00:00", "off_season"),
        ("2026-12-31T23:59:59", "off_season"),
        ("2027-01-01T00:00:00", "off_season"),
    ],
)
def test_season_by_london_month(judge, instant, expected):
    result = judge(calendar.season, utc(instant))
    assert result == Season(expected) and str(result) == expected


def test_season_tags_are_exactly_the_product_values():
    assert [str(s) for s in Season] == ["peak", "shoulder", "off_season"]
    assert calendar.season_of_date(date(2026, 4, 1)) == "shoulder"
    assert calendar.season_of_date(date(2026, 5, 1)) == "peak"
    assert calendar.season_of_date(date(2026, 11, 30)) == "off_season"


def test_the_same_instant_in_any_zone_gets_the_same_answer():
    instant = utc("2026-04-30T23:30:00")
    assert calendar.season(instant.astimezone(NEW_YORK)) == Season.PEAK  # 19:30 on 30 April in New York
    assert calendar.is_saturday(utc("2026-06-12T23:30:00").astimezone(NEW_YORK))


# -- wedding-day mode -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("instant", "expected", "what"),
    [
        # a GMT week: London time is UTC
        ("2026-01-08T23:59:59", False, "Thursday 23:59"),
        ("2026-01-09T17:59:00", False, "Friday 17:59 GMT"),
        ("2026-01-09T17:59:59", False, "Friday 17:59:59 GMT"),
        ("2026-01-09T18:00:00", True, "Friday 18:00 GMT"),
        ("2026-01-10T03:00:00", True, "Saturday small hours"),
        ("2026-01-11T22:59:00", True, "Sunday 22:59 GMT"),
        ("2026-01-11T22:59:59", True, "Sunday 22:59:59 GMT"),
        ("2026-01-11T23:00:00", False, "Sunday 23:00 GMT"),
        ("2026-01-12T00:00:00", False, "Monday 00:00"),
        # a BST week: London is UTC+1
        ("2026-06-12T16:59:00", False, "Friday 17:59 BST"),
        ("2026-06-12T17:00:00", True, "Friday 18:00 BST"),
        ("2026-06-12T17:30:00", True, "Friday 18:30 BST (17:30 UTC)"),
        ("2026-06-14T21:59:00", True, "Sunday 22:59 BST"),
        ("2026-06-14T22:00:00", False, "Sunday 23:00 BST"),
        ("2026-06-14T22:30:00", False, "Sunday 23:30 BST (22:30 UTC)"),
        # spring forward weekend (Sunday 29 March 2026)
        ("2026-03-27T17:59:00", False, "Friday 17:59 GMT"),
        ("2026-03-27T18:00:00", True, "Friday 18:00 GMT"),
        ("2026-03-28T23:30:00", True, "Saturday 23:30 GMT"),
        ("2026-03-29T00:59:59", True, "Sunday 00:59:59 GMT, just before the change"),
        ("2026-03-29T01:00:00", True, "Sunday 02:00 BST, just after the change"),
        ("2026-03-29T21:59:00", True, "Sunday 22:59 BST"),
        ("2026-03-29T22:00:00", False, "Sunday 23:00 BST"),
        # fall back weekend (Sunday 25 October 2026)
        ("2026-10-23T16:59:00", False, "Friday 17:59 BST"),
        ("2026-10-23T17:00:00", True, "Friday 18:00 BST"),
        ("2026-10-24T23:30:00", True, "Sunday 00:30 BST"),
        ("2026-10-25T00:30:00", True, "Sunday 01:30 BST, first pass"),
        ("2026-10-25T01:30:00", True, "Sunday 01:30 GMT, second pass"),
        ("2026-10-25T22:59:00", True, "Sunday 22:59 GMT"),
        ("2026-10-25T23:00:00", False, "Sunday 23:00 GMT"),
    ],
)
def test_wedding_day_mode(judge, instant, expected, what):
    assert judge(calendar.is_wedding_day_mode, utc(instant)) is expected, what


# -- Saturday protection --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("instant", "expected", "what"),
    [
        ("2026-06-12T22:59:59", False, "Friday 23:59:59 BST"),
        ("2026-06-12T23:30:00", True, "Friday 23:30 UTC is Saturday 00:30 BST"),
        ("2026-06-13T22:59:59", True, "Saturday 23:59:59 BST"),
        ("2026-06-13T23:30:00", False, "Saturday 23:30 UTC is Sunday 00:30 BST"),
        ("2026-01-09T23:30:00", False, "Friday 23:30 GMT"),
        ("2026-01-10T00:00:00", True, "Saturday 00:00 GMT"),
        ("2026-01-10T23:59:59", True, "Saturday 23:59:59 GMT"),
        ("2026-03-28T23:59:59", True, "Saturday before spring forward, 23:59:59 GMT"),
        ("2026-03-29T00:00:00", False, "Sunday of spring forward"),
        ("2026-10-24T22:59:59", True, "Saturday before fall back, 23:59:59 BST"),
        ("2026-10-24T23:00:00", False, "Sunday of fall back, 00:00 BST"),
    ],
)
def test_saturday_is_judged_by_the_london_date(judge, instant, expected, what):
    assert judge(calendar.is_saturday, utc(instant)) is expected, what


# -- peak ceremony hours --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        ("2026-06-13T08:59:59", False),  # 09:59:59 BST
        ("2026-06-13T09:00:00", True),  # 10:00 BST
        ("2026-06-13T16:59:59", True),  # 17:59:59 BST
        ("2026-06-13T17:00:00", False),  # 18:00 BST
        ("2026-01-10T09:59:59", False),  # 09:59:59 GMT
        ("2026-01-10T10:00:00", True),
        ("2026-01-10T17:59:59", True),
        ("2026-01-10T18:00:00", False),
        ("2026-03-29T09:00:00", True),  # 10:00 BST on the day the clocks changed
        ("2026-10-25T09:30:00", False),  # 09:30 GMT on the day they went back
    ],
)
def test_peak_ceremony_hours(judge, instant, expected):
    assert judge(calendar.is_peak_ceremony_hours, utc(instant)) is expected


# -- naive datetimes ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "fn",
    [
        calendar.london,
        calendar.season,
        calendar.is_wedding_day_mode,
        calendar.is_saturday,
        calendar.is_peak_ceremony_hours,
        calendar.next_wedding_window,
        calendar.snapshot,
    ],
)
def test_naive_datetimes_are_refused(fn):
    with pytest.raises(ValueError, match="timezone-aware"):
        fn(datetime(2026, 6, 13, 12, 0))


# -- next wedding window --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("instant", "opens", "closes"),
    [
        # mid-week: the coming weekend
        ("2026-06-10T12:00:00", "2026-06-12T17:00:00", "2026-06-14T22:00:00"),
        # Friday 17:59 BST: today's window, opening in a minute
        ("2026-06-12T16:59:00", "2026-06-12T17:00:00", "2026-06-14T22:00:00"),
        # inside the window: the one in force
        ("2026-06-13T12:00:00", "2026-06-12T17:00:00", "2026-06-14T22:00:00"),
        ("2026-06-14T21:59:59", "2026-06-12T17:00:00", "2026-06-14T22:00:00"),
        # Sunday 23:00 BST exactly: closed, so next week's
        ("2026-06-14T22:00:00", "2026-06-19T17:00:00", "2026-06-21T22:00:00"),
        # Monday: the coming Friday
        ("2026-06-15T00:00:00", "2026-06-19T17:00:00", "2026-06-21T22:00:00"),
        # spring forward: opens 18:00 GMT, closes 23:00 BST (52 hours)
        ("2026-03-25T12:00:00", "2026-03-27T18:00:00", "2026-03-29T22:00:00"),
        ("2026-03-29T01:30:00", "2026-03-27T18:00:00", "2026-03-29T22:00:00"),
        # the week after spring forward, judged on the Sunday evening after closing
        ("2026-03-29T22:00:00", "2026-04-03T17:00:00", "2026-04-05T22:00:00"),
        # fall back: opens 18:00 BST, closes 23:00 GMT (54 hours)
        ("2026-10-21T12:00:00", "2026-10-23T17:00:00", "2026-10-25T23:00:00"),
        ("2026-10-25T01:30:00", "2026-10-23T17:00:00", "2026-10-25T23:00:00"),
        ("2026-10-25T23:00:00", "2026-10-30T18:00:00", "2026-11-01T23:00:00"),
        # across the new year
        ("2026-12-28T09:00:00", "2027-01-01T18:00:00", "2027-01-03T23:00:00"),
    ],
)
def test_next_wedding_window(judge, instant, opens, closes):
    window_opens, window_closes = judge(calendar.next_wedding_window, utc(instant))
    assert window_opens == utc(opens) and window_closes == utc(closes)
    assert window_opens.tzinfo == LONDON and window_closes.tzinfo == LONDON  # shown as London time
    assert window_opens.astimezone(LONDON).strftime("%a %H:%M") == "Fri 18:00"
    assert window_closes.astimezone(LONDON).strftime("%a %H:%M") == "Sun 23:00"
    # consistent with wedding-day mode at its edges
    assert calendar.is_wedding_day_mode(window_opens) and not calendar.is_wedding_day_mode(window_closes)
    assert not calendar.is_wedding_day_mode(window_opens - timedelta(seconds=1))
    assert calendar.is_wedding_day_mode(window_closes - timedelta(seconds=1))


def test_window_length_follows_the_clock_changes():
    def hours(instant):
        opens, closes = calendar.next_wedding_window(utc(instant))
        return (closes.astimezone(UTC) - opens.astimezone(UTC)) / timedelta(hours=1)

    assert hours("2026-06-10T12:00:00") == 53
    assert hours("2026-03-25T12:00:00") == 52
    assert hours("2026-10-21T12:00:00") == 54


# -- London day bounds ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("day", "start", "end", "hours"),
    [
        (date(2026, 1, 10), "2026-01-10T00:00:00", "2026-01-11T00:00:00", 24),
        (date(2026, 6, 13), "2026-06-12T23:00:00", "2026-06-13T23:00:00", 24),
        (date(2026, 3, 29), "2026-03-29T00:00:00", "2026-03-29T23:00:00", 23),
        (date(2026, 10, 25), "2026-10-24T23:00:00", "2026-10-26T00:00:00", 25),
    ],
)
def test_london_day_bounds(day, start, end, hours):
    day_start, day_end = calendar.london_day_bounds(day)
    assert (day_start, day_end) == (utc(start), utc(end))
    assert day_end - day_start == timedelta(hours=hours)  # plain arithmetic is exact
    assert day_start.astimezone(LONDON).date() == day and day_start.astimezone(LONDON).hour == 0
    assert (day_end - timedelta(microseconds=1)).astimezone(LONDON).date() == day


# -- snapshot --------------------------------------------------------------------------------------
def test_snapshot_of_a_saturday_afternoon_in_peak_season(judge):
    snap = judge(calendar.snapshot, utc("2026-06-13T13:00:00"))
    assert snap.as_dict() == {
        "london_time": "2026-06-13T14:00:00+01:00",
        "season": "peak",
        "wedding_day_mode": True,
        "saturday": True,
        "peak_ceremony_hours": True,
    }


def test_snapshot_of_a_winter_weekday_night():
    snap = calendar.snapshot(london("2026-01-14T21:00:00"))
    assert snap.as_dict() == {
        "london_time": "2026-01-14T21:00:00+00:00",
        "season": "off_season",
        "wedding_day_mode": False,
        "saturday": False,
        "peak_ceremony_hours": False,
    }
