"""London calendar months (the period of monthly reports) and the wedding-day windows inside a
span of time, both DST-correct."""

from datetime import UTC, date, datetime

import pytest

from wedsync_integrations.calendar import Month, wedding_windows


def test_a_month_is_written_zero_padded_and_parsed_strictly():
    assert str(Month.parse("2026-06")) == "2026-06" and Month.parse("2026-06").label == "June 2026"
    for bad in ("2026-6", "2026-13", "2026-00", "26-06", "2026/06", "", "2026-06-01"):
        with pytest.raises(ValueError):
            Month.parse(bad)


def test_months_step_over_year_ends():
    assert Month(2026, 12).next == Month(2027, 1) and Month(2027, 1).previous == Month(2026, 12)
    assert Month(2026, 3).shifted(-12) == Month(2025, 3)
    assert [str(m) for m in Month(2026, 11).months_until(Month(2027, 2))] == ["2026-11", "2026-12", "2027-01",
                                                                              "2027-02"]  # fmt: skip
    assert Month(2026, 5).months_until(Month(2026, 4)) == []
    assert (Month(2028, 2).days, Month(2026, 2).last_day) == (29, date(2026, 2, 28))


def test_a_month_runs_from_london_midnight_to_london_midnight():
    assert Month(2026, 6).bounds() == (datetime(2026, 5, 31, 23, tzinfo=UTC), datetime(2026, 6, 30, 23, tzinfo=UTC))
    assert Month(2026, 1).bounds() == (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    # March 2026: GMT at the start, BST (from 29 March) at the end
    assert Month(2026, 3).bounds() == (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 31, 23, tzinfo=UTC))
    assert Month.containing(datetime(2026, 5, 31, 23, 30, tzinfo=UTC)) == Month(2026, 6)


def test_wedding_windows_in_a_span_are_clipped_and_dst_correct():
    windows = wedding_windows(*Month(2026, 3).bounds())
    # Sunday 1 March 2026 (the window that opened Friday 27 February, clipped), then four full ones
    assert windows[0] == (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 1, 23, tzinfo=UTC))
    assert windows[1] == (datetime(2026, 3, 6, 18, tzinfo=UTC), datetime(2026, 3, 8, 23, tzinfo=UTC))
    # the weekend the clocks go forward: opens 18:00 GMT, closes 23:00 BST = 22:00 UTC
    assert windows[4] == (datetime(2026, 3, 27, 18, tzinfo=UTC), datetime(2026, 3, 29, 22, tzinfo=UTC))
    assert len(windows) == 5
