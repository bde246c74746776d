"""How a value report (or a wedding's AI help) reads: one list of lines, written as plain text
(Light Blue's Inbox message, the HoneyBook summary field, the admin preview) or simple HTML (a
Tave note). Every CRM therefore says the same thing in the same words.

The last line is a visible footer naming the organisation and the period with the report's
reference, e.g. "WedSync AI value report for Acme Photography, June 2026 (ref
wedsync:acme:2026-06)". Tave has no idempotency key: after an ambiguous failure the provider looks
for that reference among the studio's notes before posting again (providers/tave.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import escape

from .value import ValueReport, decimal_text

SEASON_NAMES = {"peak": "peak season", "shoulder": "shoulder season", "off_season": "off-season"}


def pounds(amount: Decimal) -> str:
    return f"£{amount:,.2f}"


def hours(amount: Decimal) -> str:
    text = decimal_text(amount)
    return f"{text} hour" if text == "1" else f"{text} hours"


def signed_percent(value: Decimal) -> str:
    return f"{'+' if value > 0 else ''}{decimal_text(value)}%"


def reference(report_id: str) -> str:
    """The part of the footer the Tave provider searches for (ASCII: survives HTML sanitising)."""
    return f"(ref {report_id})"


@dataclass(frozen=True)
class Document:
    title: str
    lines: tuple[str, ...]
    footer: str

    def as_text(self) -> str:
        return "\n".join([self.title, "", *(f"- {line}" for line in self.lines), "", self.footer])

    def as_html(self) -> str:
        items = "".join(f"<li>{escape(line)}</li>" for line in self.lines)
        return f"<p><strong>{escape(self.title)}</strong></p><ul>{items}</ul><p><em>{escape(self.footer)}</em></p>"


def report_document(report: ValueReport) -> Document:
    parameters = report.parameters
    previous = report.previous.month.label
    lines = [
        f"AI requests: {report.requests:,} ({report.successful_requests:,} completed)",
        f"Time saved: {hours(report.time_saved_hours)} "
        f"({decimal_text(parameters.minutes_saved_per_request)} minutes per completed request)",
        f"Cost savings: {pounds(report.cost_savings_gbp)} "
        f"({pounds(parameters.value_per_request_gbp)} per completed request)",
        f"Revenue opportunity: {pounds(report.revenue_opportunity_gbp)} "
        f"({decimal_text(parameters.revenue_multiplier)} × cost savings)",
        f"Client retention improvement: {decimal_text(report.client_retention_improvement_pct)}% "
        "(WedSync's estimate for months with AI use)",
        f"Weddings assisted: {report.weddings_assisted:,}",
        _efficiency(report, previous),
        _response(report, previous),
        _peak(report),
        _season(report),
        _projection(report),
    ]
    title = f"WedSync AI value report: {report.month.label}"
    footer = (
        f"WedSync AI value report for {report.organisation_name}, {report.month.label} {reference(report.report_id)}"
    )
    return Document(title, tuple(lines), footer)


def _efficiency(report: ValueReport, previous: str) -> str:
    if report.efficiency_improvement_pct is None:
        return f"Efficiency: no completed AI requests in {previous} to compare with"
    return (
        f"Efficiency: {signed_percent(report.efficiency_improvement_pct)} AI-completed tasks per day against {previous}"
    )


def _response(report: ValueReport, previous: str) -> str:
    if report.mean_response_ms is None:
        return "Response time: no AI requests this month"
    mean = f"mean AI response {int(report.mean_response_ms):,} ms"
    change = report.faster_response_pct
    if change is None:
        return f"Response time: {mean} (no {previous} requests to compare with)"
    if change >= 0:
        return f"Response time: {mean}, {decimal_text(change)}% faster than {previous}"
    return f"Response time: {mean}, {decimal_text(-change)}% slower than {previous}"


def _peak(report: ValueReport) -> str:
    if report.peak_usage_share_pct is None:
        return "Peak usage: no AI requests this month"
    return (
        f"Peak usage: {decimal_text(report.peak_usage_share_pct)}% of requests in the wedding-day window "
        "(Friday 18:00 to Sunday 23:00)"
    )


def _season(report: ValueReport) -> str:
    season = SEASON_NAMES[str(report.season)]
    if report.season_performance_pct is None:
        return f"Season: {season} (no earlier months to compare with yet)"
    return (
        f"Season: {season}, {signed_percent(report.season_performance_pct)} requests per day against your usual level"
    )


def _projection(report: ValueReport) -> str:
    projection = report.projection
    basis = (
        f"your own {SEASON_NAMES[str(report.season)]} to next season ratio ({decimal_text(projection.season_factor)})"
        if projection.season_factor is not None
        else "no seasonal adjustment"
    )
    return (
        f"{projection.month.label} projection: about {projection.requests:,} requests, "
        f"{hours(projection.time_saved_hours)} saved, {pounds(projection.cost_savings_gbp)} "
        f"(this month's daily rate; {basis})"
    )


# -- a wedding's note ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class WeddingHelp:
    """What WedSync's AI did for one wedding (weddings.py counts it)."""

    report_id: str
    organisation_name: str
    wedding_date_label: str
    venue: str
    requests: int
    successful: int
    by_feature: tuple[tuple[str, int], ...]  # most used first
    time_saved_hours: Decimal
    cost_savings_gbp: Decimal

    def figures(self) -> dict:
        return {
            "report_id": self.report_id,
            "wedding_date": self.wedding_date_label,
            "venue": self.venue,
            "requests": self.requests,
            "successful_requests": self.successful,
            "by_feature": dict(self.by_feature),
            "time_saved_hours": decimal_text(self.time_saved_hours),
            "cost_savings_gbp": f"{self.cost_savings_gbp:.2f}",
        }


def wedding_document(help_: WeddingHelp) -> Document:
    where = f" at {help_.venue}" if help_.venue else ""
    features = ", ".join(f"{name.replace('_', ' ')} {count:,}" for name, count in help_.by_feature[:5])
    lines = [
        f"AI requests for this wedding: {help_.requests:,} ({help_.successful:,} completed)",
        f"Most used: {features}" if features else "Most used: -",
        f"Time saved: {hours(help_.time_saved_hours)}",
        f"Cost savings: {pounds(help_.cost_savings_gbp)}",
    ]
    title = f"WedSync AI helped with this wedding ({help_.wedding_date_label}{where})"
    footer = f"WedSync wedding summary for {help_.organisation_name} {reference(help_.report_id)}"
    return Document(title, tuple(lines), footer)
