"""Accounting months: calendar months in Europe/London, named "YYYY-MM".

A month runs from London midnight on the 1st to London midnight on the 1st of the next month
(23:00 UTC the day before in summer), so usage at 00:30 BST on 1 June belongs to June even though
it is still 31 May in UTC. It *closes* ACCOUNTING_MONTH_CLOSE_DAYS days after it ends (London
midnight again): late usage has landed and the month is exported.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cached_property

from django.conf import settings
from django.utils import timezone

from wedsync_integrations.calendar import LONDON

MONTH_PATTERN = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """A month from "YYYY-MM" (zero-padded); ValueError naming the format otherwise."""
        match = MONTH_PATTERN.match(str(text or ""))
        if not match or int(match.group(1)) < 2000:
            raise ValueError(f"{text!r} is not a month: use YYYY-MM, e.g. 2026-05")
        return cls(int(match.group(1)), int(match.group(2)))

    @classmethod
    def of(cls, instant: datetime | date) -> Month:
        """The London month an instant (or a calendar date) falls in."""
        if isinstance(instant, datetime):
            instant = timezone.localtime(instant, LONDON).date()
        return cls(instant.year, instant.month)

    @classmethod
    def from_date(cls, day: date) -> Month:
        return cls(day.year, day.month)

    def __str__(self) -> str:
        return self.label

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @cached_property
    def title(self) -> str:
        return self.first_day.strftime("%B %Y")

    @property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last_day(self) -> date:
        return self.next().first_day - timedelta(days=1)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    @property
    def start(self) -> datetime:
        """London midnight on the 1st (aware)."""
        return datetime.combine(self.first_day, time(0), tzinfo=LONDON)

    @property
    def end(self) -> datetime:
        """London midnight on the 1st of the next month (exclusive)."""
        return self.next().start

    @property
    def closes_at(self) -> datetime:
        return datetime.combine(self.next().first_day + timedelta(days=settings.ACCOUNTING_MONTH_CLOSE_DAYS), time(0),
                                tzinfo=LONDON)  # fmt: skip

    def is_closed(self, now: datetime) -> bool:
        return now >= self.closes_at


def closed_months(first: Month, now: datetime) -> list[Month]:
    """Every month from `first` up to the newest closed one, oldest first."""
    months, month = [], first
    while month.is_closed(now):
        months.append(month)
        month = month.next()
    return months


def rolling_twelve_months(now: datetime) -> tuple[date, date]:
    """The last twelve whole London months before `now` (first day, last day): the VAT
    registration test looks at rolling 12-month turnover at each month end."""
    last = Month.of(now).previous()
    first = last
    for _ in range(11):
        first = first.previous()
    return first.first_day, last.last_day
