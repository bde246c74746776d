"""What each fault did, as one row of the drill's table, and whether it passes."""

from __future__ import annotations

from dataclasses import dataclass, field

# A worker killed mid-drain must be succeeded within this (the bar; the lease is 10 s).
WORKER_RECOVERY_LIMIT_SECONDS = 30.0


@dataclass
class Row:
    """One fault. `accepted` is what the senders were told was taken (2xx), `stored` what is
    really there afterwards (the database, or the vendor for outbound faults), `lost` what was
    accepted but is not stored, `duplicated` what is stored or sent more than once."""

    fault: str
    requests: int = 0
    accepted: int = 0
    stored: int = 0
    lost: int = 0
    duplicated: int = 0
    recovered_in: float | None = None  # seconds from the fault's end (or the kill) to normal service
    allowed_duplicates: int = 0  # sends in flight at a fault, which the outbox may repeat (at-least-once)
    recovery_limit: float | None = None
    problems: list[str] = field(default_factory=list)  # anything else that went wrong, in words

    def failures(self) -> list[str]:
        found = list(self.problems)
        if self.lost:
            found.append(f"{self.lost} lost")
        if self.duplicated > self.allowed_duplicates:
            found.append(f"{self.duplicated} duplicated (at most {self.allowed_duplicates} in flight)")
        if self.recovery_limit is not None and (self.recovered_in is None or self.recovered_in >= self.recovery_limit):
            found.append(f"no recovery within {self.recovery_limit:.0f} s")
        return found


COLUMNS = ("fault", "requests", "accepted", "stored", "lost", "duplicated", "time to recover")


def _cells(row: Row) -> tuple[str, ...]:
    recovered = "-" if row.recovered_in is None else f"{row.recovered_in:.1f} s"
    return (
        row.fault,
        str(row.requests),
        str(row.accepted),
        str(row.stored),
        str(row.lost),
        str(row.duplicated),
        recovered,
    )


def table(rows: list[Row]) -> str:
    """The rows as an aligned text table, failures listed under it."""
    cells = [COLUMNS, *(_cells(row) for row in rows)]
    widths = [max(len(line[column]) for line in cells) for column in range(len(COLUMNS))]

    def line(values) -> str:
        first, *numbers = values
        return "  ".join([first.ljust(widths[0]), *(v.rjust(w) for v, w in zip(numbers, widths[1:], strict=True))])

    text = [line(COLUMNS), "  ".join("-" * width for width in widths), *(line(c) for c in cells[1:])]
    for row in rows:
        for failure in row.failures():
            text.append(f"FAILED  {row.fault}: {failure}")
    return "\n".join(text)
