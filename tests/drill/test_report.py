"""The drill's verdict (drill/report.py): what fails a row, and the table it prints."""

from __future__ import annotations

from drill.report import Row, table


def test_a_row_with_nothing_lost_doubled_or_late_passes():
    assert Row("vendor outage", requests=13, accepted=8, stored=8, duplicated=1, allowed_duplicates=1).failures() == []


def test_loss_doubling_beyond_the_sends_in_flight_and_a_late_recovery_each_fail():
    row = Row("worker", lost=2, duplicated=2, allowed_duplicates=1, recovered_in=31.0, recovery_limit=30.0)

    assert row.failures() == ["2 lost", "2 duplicated (at most 1 in flight)", "no recovery within 30 s"]
    assert Row("worker", recovery_limit=30.0).failures() == ["no recovery within 30 s"]  # never recovered
    assert Row("flood", problems=["a forged request was accepted"]).failures() == ["a forged request was accepted"]


def test_the_table_aligns_its_columns_and_lists_failures_under_it():
    text = table([Row("web", 10, 500, 500, recovered_in=4.25), Row("cache", 3, 2, 1, lost=1)])

    lines = text.splitlines()
    assert lines[0].split() == "fault requests accepted stored lost duplicated time to recover".split()
    assert lines[2].split() == ["web", "10", "500", "500", "0", "0", "4.2", "s"]
    assert lines[3].split() == ["cache", "3", "2", "1", "1", "0", "-"]
    assert lines[-1] == "FAILED  cache: 1 lost"
    assert len({len(line) for line in lines[:4]}) == 1  # aligned
