"""The wedding calendar: pure functions of an instant, all judged in Europe/London.

Every function takes the instant to judge (default: now) and refuses naive datetimes, so DST
changes can never shift a rule by an hour: the instant is converted to London wall-clock time
first and the rule is applied to that wall clock.

- season: peak May–September, shoulder April and October, off_season November–March
- wedding-day mode: Friday 18:00 (inclusive) to Sunday 23:00 (exclusive)
- Saturday protection: the London calendar day is a Saturday
- peak ceremony hours: 10:00 (inclusive) to 18:00 (exclusive)
- a month (monthly reports): the London calendar month, from 00:00 London on its first day
"""

from __future__ import annotations

import calendar as _stdlib_calendar
import enum
import re
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


def wedding_windows(start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
    """The wedding-day windows overlapping [start, end), each clipped to it, as UTC instants in
    time order. The window opens and closes on the hour (London offsets are whole hours), so an
    hourly UTC bucket is either wholly inside a window or wholly outside it."""
    local = london(start)
    friday = local.date() - timedelta(days=(local.weekday() - FRIDAY) % 7)
    windows = []
    while True:
        opens, closes = (moment.astimezone(UTC) for moment in _window_from(friday))
        if opens >= end:
            return windows
        opens, closes = max(opens, start), min(closes, end)
        if opens < closes:
            windows.append((opens, closes))
        friday += timedelta(days=7)


def _window_from(friday: date) -> tuple[datetime, datetime]:
    opens = datetime.combine(friday, WEDDING_WINDOW_OPENS, tzinfo=LONDON)
    closes = datetime.combine(friday + timedelta(days=2), WEDDING_WINDOW_CLOSES, tzinfo=LONDON)
    return opens, closes


_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


@dataclass(frozen=True, order=True)
class Month:
    """A London calendar month, the period of monthly reports; written "2026-06" (zero-padded).

    Its instants run from 00:00 London on the first day to 00:00 London on the next month's first
    day, so a month's UTC bounds move by an hour with British Summer Time, and hourly UTC rollups
    fall wholly inside or outside it.
    """

    year: int
    month: int

    def __post_init__(self):
        if not (1 <= self.month <= 12 and 1 <= self.year <= 9998):
            raise ValueError(f"not a month: {self.year}-{self.month}")

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH.match(text or "")
        if not match:
            raise ValueError(f"{text!r} is not a month written YYYY-MM (e.g. 2026-06)")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @classmethod
    def containing(cls, at: datetime | None = None) -> Month:
        """The London month of an instant (now when omitted)."""
        return cls.of(london(at).date())

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        """'June 2026'."""
        return f"{_stdlib_calendar.month_name[self.month]} {self.year}"

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def days(self) -> int:
        return _stdlib_calendar.monthrange(self.year, self.month)[1]

    @property
    def season(self) -> Season:
        return _SEASON_BY_MONTH[self.month]

    @property
    def last_day(self) -> date:
        return date(self.year, self.month, self.days)

    def shifted(self, months: int) -> Month:
        index = self.year * 12 + self.month - 1 + months
        return Month(index // 12, index % 12 + 1)

    @property
    def next(self) -> Month:
        return self.shifted(1)

    @property
    def previous(self) -> Month:
        return self.shifted(-1)

    def bounds(self) -> tuple[datetime, datetime]:
        """[start, end) of the month as UTC instants."""
        return london_day_bounds(self.first_day)[0], london_day_bounds(self.next.first_day)[0]

    def months_until(self, last: Month) -> list[Month]:
        """This month and every month after it up to `last` (inclusive); empty if `last` is earlier."""
        months, month = [], self
        while month <= last:
            months.append(month)
            month = month.next
        return months


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
