"""What the alert page leads with: the alert's state, its wedding context and its times, as rows
a person reads top to bottom at 3 a.m. (the timelines below them come from timeline.py).

The wedding context is the one frozen on the alert when it was raised (context.py), so the page
says what was true then; "right now" is added beside it from the calendar, since on-call also
needs to know whether the wedding-day window is open as they read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings

from wedsync_integrations import calendar

from .models import Alert, AlertStatus
from .timeline import when


@dataclass(frozen=True)
class Fact:
    label: str
    value: str
    emphasis: bool = False  # wedding day, Saturday: what changes how fast to act


def status_text(alert: Alert, now: datetime) -> str:
    if alert.status == AlertStatus.ACKNOWLEDGED:
        return (
            f"Acknowledged by {alert.acknowledged_by} via {alert.get_acknowledged_via_display()}, "
            f"{when(alert.acknowledged_at, now)}"
        )
    if alert.status == AlertStatus.RESOLVED:
        return f"Resolved by {alert.resolved_by} via {alert.get_resolved_via_display()}, {when(alert.resolved_at, now)}"
    return "Triggered: nobody has acknowledged it yet"


def wedding_facts(alert: Alert, now: datetime) -> list[Fact]:
    ctx = alert.context or {}
    return [
        Fact("Organisation", _organisation(alert, ctx)),
        Fact("Wedding date", _wedding_date(alert, ctx)),
        Fact("Venues", _venues(ctx)),
        Fact("When raised", _calendar_flags(ctx), emphasis=bool(ctx.get("wedding_day_mode") or ctx.get("saturday"))),
        Fact(
            "Right now", _calendar_flags(calendar.snapshot(now).as_dict()), emphasis=calendar.is_wedding_day_mode(now)
        ),
    ]


def time_facts(alert: Alert, now: datetime) -> list[Fact]:
    facts = [Fact("Raised", when(alert.raised_at, now))]
    if alert.occurrence_count > 1:
        facts.append(Fact("Last seen", f"{when(alert.last_occurred_at, now)}, {alert.occurrence_count} times in all"))
    if alert.acknowledged_at:
        facts.append(Fact("Acknowledged", f"{when(alert.acknowledged_at, now)} by {alert.acknowledged_by}"))
    if alert.resolved_at:
        facts.append(Fact("Resolved", f"{when(alert.resolved_at, now)} by {alert.resolved_by}"))
    return facts


def impact_facts(alert: Alert) -> list[Fact]:
    return [
        Fact("Impact", alert.impact or "not assessed"),
        Fact("Affected vendors", ", ".join(alert.affected_vendors) or "none named"),
        Fact("Source", f"{alert.source} · {alert.kind} · dedup key {alert.dedup_key}"),
    ]


def _organisation(alert: Alert, ctx: dict) -> str:
    if alert.organisation_id is None:
        return f"Platform-wide (sent through {settings.ALERTS_PLATFORM_ORGANISATION}'s channels)"
    organisation = alert.organisation
    vendor_types = ", ".join(ctx.get("vendor_types") or [organisation.get_vendor_type_display()])
    return f"{organisation.name} ({organisation.slug}) · {vendor_types}"


def _wedding_date(alert: Alert, ctx: dict) -> str:
    day = date.fromisoformat(ctx["date"]) if ctx.get("date") else calendar.london(alert.raised_at).date()
    own, platform = ctx.get("weddings_today", 0), ctx.get("platform_weddings_today", 0)
    whose = "on the platform" if alert.organisation_id is None else "for this organisation"
    text = f"{day:%A} {day.day} {day:%B %Y}: {_weddings(own)} {whose}"
    if alert.organisation_id is not None:
        text += f", {_weddings(platform)} on the platform"
    return text


def _weddings(count: int) -> str:
    return f"{count} wedding{'s' if count != 1 else ''}"


def _venues(ctx: dict) -> str:
    venues = ctx.get("venues") or []
    if not venues:
        return "none recorded"
    more = max(ctx.get("venues_total", len(venues)), len(venues)) - len(venues)
    regions = ", ".join(ctx.get("regions") or [])
    text = ", ".join(venues) + (f" +{more} more" if more else "")
    return text + (f" ({regions})" if regions else "")


def _calendar_flags(ctx: dict) -> str:
    flags = [
        "Saturday" if ctx.get("saturday") else "not a Saturday",
        "wedding-day mode ON" if ctx.get("wedding_day_mode") else "wedding-day mode off",
    ]
    if ctx.get("peak_ceremony_hours"):
        flags.append("peak ceremony hours")
    if ctx.get("season"):
        flags.append("off season" if ctx["season"] == "off_season" else f"{ctx['season']} season")
    return " · ".join(flags)
