"""A chart as the console draws it: labels and named series, rendered by Chart.js from JSON in the
page, and always offered as a table of the same numbers (for screen readers, copying into a
message, and anyone who wants the figure rather than the shape).

    chart = Chart("exports", "Deliveries and exports per hour", labels=["14:00", "15:00"],
                  series=[Series("monitoring succeeded", [3, 4], stack="succeeded")])
    {% include "console/_chart.html" with chart=chart %}
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from django.utils import timezone

# Colours people read the same way everywhere in the admin: green fine, red failed, amber waiting.
GOOD, BAD, WAITING, QUIET, BLUE = "#1a7f37", "#cf222e", "#bf8700", "#8c959f", "#0969da"
PALETTE = ("#0969da", "#8250df", "#1a7f37", "#bf8700", "#cf222e", "#57606a", "#bc4c00", "#1b7c83")


@dataclass(frozen=True)
class Series:
    label: str
    values: list[float]
    colour: str = BLUE
    stack: str | None = None  # series with the same stack are drawn on top of each other
    kind: str | None = None  # "line" drawn over a bar chart (e.g. a time beside counts)
    axis: str = "y"  # "y2": a second axis on the right, for a different unit

    def as_json(self) -> dict:
        return {"label": self.label, "values": self.values, "colour": self.colour, "stack": self.stack,
                "kind": self.kind, "axis": self.axis}  # fmt: skip


@dataclass(frozen=True)
class Chart:
    key: str  # the element id: "chart-<key>"
    title: str
    labels: list[str]
    series: list[Series]
    kind: str = "bar"
    unit: str = ""  # what the left axis counts
    unit2: str = ""  # what the right axis counts, when a series uses "y2"
    note: str = ""  # one sentence under the title: where the numbers come from
    empty: str = "Nothing in this period."

    @property
    def data_id(self) -> str:
        return f"chart-data-{self.key}"

    @property
    def is_empty(self) -> bool:
        return not any(value for series in self.series for value in series.values)

    @property
    def rows(self) -> list[tuple[str, list[float]]]:
        """The table under the chart: one row per label, one column per series."""
        return [(label, [series.values[i] for series in self.series]) for i, label in enumerate(self.labels)]

    def as_json(self) -> dict:
        return {"kind": self.kind, "labels": self.labels, "series": [s.as_json() for s in self.series],
                "unit": self.unit, "unit2": self.unit2}  # fmt: skip


def hour_slots(now: datetime, hours: int) -> list[datetime]:
    """The last `hours` whole UTC hours up to and including the current one, oldest first."""
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return [current - timedelta(hours=hours - 1 - i) for i in range(hours)]


def hour_label(slot: datetime) -> str:
    """An hour as people here read it: London time, with the day at midnight and at the start."""
    local = timezone.localtime(slot)
    return f"{local:%a %H:%M}" if local.hour == 0 else f"{local:%H:%M}"


def day_slots(today: date, days: int) -> list[date]:
    return [today - timedelta(days=days - 1 - i) for i in range(days)]


def day_label(day: date) -> str:
    return f"{day:%a %d %b}"
