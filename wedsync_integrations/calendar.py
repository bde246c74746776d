"""The wedding calendar: pure functions of an instant, all judged in Europe/London.

Every function takes the instant to judge (default: now) and refuses naive datetimes, so DST
changes can never shift a rule by an hour: the instant is converted to London wall-clock time
first and the rule is applied to that wall clock.

- season: peak May–September, shoulder April and October, off_season November–March
- wedding-day mode: Friday 18:00 (inclusive) to Sunday 23:00 (exclusive)
- Saturday protection: the London calendar day is a Saturday
- peak ceremony hours: 10:00 (inclusive) to 18:00 (exclusive)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.utils import timezone

LONDON = ZoneInfo("Europe/London")

FRIDAY, SATURDAY, SUNDAY = 4, 5, 6
WEDDING_WINDOW_OPENS = time(18, 0)  # Friday
WEDDING_WINDOW_CLOSES = time(23, 0)  # Sunday
CEREMONY_HOURS = (time(10, 0), time(18, 0))


class Season(enum.StrEnum):
    PEAK = "peak"
    SHOULDER = "shoulder"
    OFF_SEASON = "off_season"


_SEASON_BY_MONTH = {
    **dict.fromkeys((5, 6, 7, 8, 9), Season.PEAK),
    **dict.fromkeys((4, 10), Season.SHOULDER),
    **dict.fromkeys((11, 12, 1, 2, 3), Season.OFF_SEASON),
}


def london(at: datetime | None = None) -> datetime:
    """The instant as London wall-clock time (now when omitted)."""
    at = timezone.now() if at is None else at
    if timezone.is_naive(at):
        raise ValueError("wedding calendar needs a timezone-aware datetime")
    return at.astimezone(LONDON)


def season(at: datetime | None = None) -> Season:
    return _SEASON_BY_MONTH[london(at).month]


def season_of_date(day: date) -> Season:
    return _SEASON_BY_MONTH[day.month]


def is_wedding_day_mode(at: datetime | None = None) -> bool:
    local = london(at)
    weekday, clock = local.weekday(), local.time()
    if weekday == FRIDAY:
        return clock >= WEDDING_WINDOW_OPENS
    if weekday == SATURDAY:
        return True
    if weekday == SUNDAY:
        return clock < WEDDING_WINDOW_CLOSES
    return False


def is_saturday(at: datetime | None = None) -> bool:
    return london(at).weekday() == SATURDAY


def is_peak_ceremony_hours(at: datetime | None = None) -> bool:
    start, end = CEREMONY_HOURS
    return start <= london(at).time() < end


def london_day_bounds(day: date) -> tuple[datetime, datetime]:
    """The [start, end) of a London calendar day as UTC instants (23 or 25 hours apart on DST days).

    UTC, not London: Python subtracts and compares two datetimes sharing one tzinfo by wall
    clock, so London-zoned bounds of 29 March would claim the day lasts 24 hours.
    """
    start = datetime.combine(day, time.min, tzinfo=LONDON)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=LONDON)
    return start.astimezone(UTC), end.astimezone(UTC)


def next_wedding_window(at: datetime | None = None) -> tuple[datetime, datetime]:
    """The wedding-day window in force at `at`, or the next one to open (aware London datetimes)."""
    local = london(at)
    friday = local.date() - timedelta(days=(local.weekday() - FRIDAY) % 7)
    opens, closes = _window_from(friday)
    if local >= closes:
        opens, closes = _window_from(friday + timedelta(days=7))
    return opens, closes


def _window_from(friday: date) -> tuple[datetime, datetime]:
    opens = datetime.combine(friday, WEDDING_WINDOW_OPENS, tzinfo=LONDON)
    closes = datetime.combine(friday + timedelta(days=2), WEDDING_WINDOW_CLOSES, tzinfo=LONDON)
    return opens, closes


@dataclass(frozen=True)
class CalendarSnapshot:
    """Everything the calendar says about one instant, for alert context and metric tags."""

    at: datetime
    london_time: datetime
    season: Season
    wedding_day_mode: bool
    saturday: bool
    peak_ceremony_hours: bool

    def as_dict(self) -> dict:
        return {
            "london_time": self.london_time.isoformat(),
            "season": str(self.season),
            "wedding_day_mode": self.wedding_day_mode,
            "saturday": self.saturday,
            "peak_ceremony_hours": self.peak_ceremony_hours,
        }


def snapshot(at: datetime | None = None) -> CalendarSnapshot:
    at = timezone.now() if at is None else at
    local = london(at)
    return CalendarSnapshot(
        at=at,
        london_time=local,
        season=season(at),
        wedding_day_mode=is_wedding_day_mode(at),
        saturday=is_saturday(at),
        peak_ceremony_hours=is_peak_ceremony_hours(at),
    )
