"""What each channel is sent about an alert, rendered once when the notification is queued.

The outbox stores exactly these bodies (never a credential: webhook URLs, routing keys and
auth tokens are added at send time), so a replay sends what was originally decided.
"""

from __future__ import annotations

from django.conf import settings
from django.template.loader import render_to_string
from django.urls import NoReverseMatch, reverse

from wedsync_integrations import calendar

from . import sms_text
from .models import PAGERDUTY_SEVERITY, Alert, AlertStatus, Purpose, Severity

# Block Kit limits (docs/vendors/slack.md, "Block Kit limits we keep").
HEADER_MAX = 150
SECTION_TEXT_MAX = 3000
FIELD_MAX = 2000
BUTTON_TEXT_MAX = 75
TOP_TEXT_MAX = 4000
PAGERDUTY_SUMMARY_MAX = 1024

SEVERITY_EMOJI = {
    "low": ":large_blue_circle:",
    "medium": ":large_yellow_circle:",
    "high": ":large_orange_circle:",
    "critical": ":red_circle:",
}
PAGERDUTY_SOURCE = "wedsync-ai-platform"


def clip(text: str, limit: int) -> str:
    text = str(text or "")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def esc(text) -> str:
    """Slack mrkdwn escaping: alert text can come from outside (a Datadog title), and an
    unescaped "<!channel>" or "<https://evil|click>" would ping everyone or disguise a link."""
    return str(text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def dashboard_url(alert: Alert) -> str:
    try:
        path = reverse("admin:alerts_alert_change", args=[alert.pk])
    except NoReverseMatch:
        path = f"/admin/alerts/alert/{alert.pk}/change/"
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def london_time(value) -> str:
    return calendar.london(value).strftime("%a %d %b %H:%M %Z")


def headline(alert: Alert) -> str:
    return f"{alert.effective_severity.upper()}: {alert.title}"


def weddings_line(alert: Alert) -> str:
    ctx = alert.context or {}
    count = ctx.get("weddings_today", 0)
    who = "platform-wide" if alert.organisation_id is None else "for this organisation"
    line = f"{count} wedding{'s' if count != 1 else ''} today {who}"
    venues = ctx.get("venues") or []
    if venues:
        shown = venues[:5]
        more = max(ctx.get("venues_total", len(venues)), len(venues)) - len(shown)
        line += " · venues: " + ", ".join(shown) + (f" +{more} more" if more else "")
    return line


def status_line(alert: Alert) -> str:
    if alert.status == AlertStatus.ACKNOWLEDGED:
        via, at = alert.get_acknowledged_via_display(), london_time(alert.acknowledged_at)
        return f"Acknowledged by {alert.acknowledged_by} via {via} at {at}"
    if alert.status == AlertStatus.RESOLVED:
        via, at = alert.get_resolved_via_display(), london_time(alert.resolved_at)
        return f"Resolved by {alert.resolved_by} via {via} at {at}"
    return "Triggered, not yet acknowledged"


# What each channel puts before the headline when it is not the first notification.
SLACK_PREFIX = {Purpose.REPEAT: "Still firing: ", Purpose.WORSE: "Worse: ", Purpose.ESCALATE: "ESCALATED: "}
EMAIL_PREFIX = {Purpose.REPEAT: "[still firing] ", Purpose.WORSE: "[worse] ", Purpose.ESCALATE: "[ESCALATED] "}
SMS_PREFIX = {Purpose.REPEAT: "STILL FIRING ", Purpose.WORSE: "WORSE ", Purpose.ESCALATE: "ESCALATED "}


# -- Slack -------------------------------------------------------------------------------------------
def slack_message(alert: Alert, purpose: str) -> dict:
    """Block Kit message: header (severity + title), fields (severity, affected vendors,
    wedding-day mode, impact), description, recovery actions, context, and the buttons that
    still make sense in the alert's state."""
    ctx = alert.context or {}
    prefix = SLACK_PREFIX.get(purpose, "")
    version = f"{alert.ref}:v{alert.version}:{purpose}"
    header = clip(f"{prefix}{headline(alert)}", HEADER_MAX)
    vendors = esc(", ".join(alert.affected_vendors)) if alert.affected_vendors else "none named"
    blocks: list[dict] = [
        {
            "type": "header",
            "block_id": f"{version}:header",
            "text": {"type": "plain_text", "text": header, "emoji": True},
        },
        {
            "type": "section",
            "block_id": f"{version}:fields",
            "fields": [
                {
                    "type": "mrkdwn",
                    "text": clip(
                        f"*Severity*\n{SEVERITY_EMOJI[alert.effective_severity]} "
                        f"{alert.get_effective_severity_display()}"
                        + (f" (raised as {alert.severity})" if alert.severity != alert.effective_severity else ""),
                        FIELD_MAX,
                    ),
                },
                {"type": "mrkdwn", "text": clip(f"*Affected vendors*\n{vendors}", FIELD_MAX)},
                {
                    "type": "mrkdwn",
                    "text": f"*Wedding-day mode*\n{'ON' if ctx.get('wedding_day_mode') else 'off'}"
                    + (" · Saturday" if ctx.get("saturday") else ""),
                },
                {"type": "mrkdwn", "text": clip(f"*Impact*\n{esc(alert.impact) or 'not assessed'}", FIELD_MAX)},
            ],
        },
    ]
    if alert.description:
        blocks.append(
            {
                "type": "section",
                "block_id": f"{version}:description",
                "text": {"type": "mrkdwn", "text": clip(esc(alert.description), SECTION_TEXT_MAX)},
            }
        )
    if alert.recovery_actions:
        steps = "\n".join(f"{i}. {esc(step)}" for i, step in enumerate(alert.recovery_actions, 1))
        blocks.append(
            {
                "type": "section",
                "block_id": f"{version}:recovery",
                "text": {"type": "mrkdwn", "text": clip(f"*Recovery actions*\n{steps}", SECTION_TEXT_MAX)},
            }
        )
    context_bits = [esc(weddings_line(alert)), f"{alert.scope} · {alert.ref} · raised {london_time(alert.raised_at)}"]
    if alert.occurrence_count > 1:
        context_bits.append(f"seen {alert.occurrence_count} times")
    if alert.status != AlertStatus.TRIGGERED:
        context_bits.insert(0, f"*{esc(status_line(alert))}*")
    blocks.append(
        {
            "type": "context",
            "block_id": f"{version}:context",
            "elements": [{"type": "mrkdwn", "text": clip(bit, FIELD_MAX)} for bit in context_bits[:10]],
        }
    )
    buttons = []
    if alert.status == AlertStatus.TRIGGERED:
        buttons.append(_button("Acknowledge", "alert_ack", alert.ref, style="primary"))
    if alert.status != AlertStatus.RESOLVED:
        buttons.append(_button("Resolve", "alert_resolve", alert.ref, style="danger"))
    buttons.append(
        {
            "type": "button",
            "action_id": "alert_open",
            "url": dashboard_url(alert),
            "text": {"type": "plain_text", "text": "Open alert page"},
        }
    )
    blocks.append({"type": "actions", "block_id": f"{version}:actions", "elements": buttons})
    text = f"{prefix}{esc(headline(alert))} — {esc(weddings_line(alert))}"
    if alert.status != AlertStatus.TRIGGERED:
        text = f"{esc(status_line(alert))}: {esc(headline(alert))}"
    return {"text": clip(text, TOP_TEXT_MAX), "blocks": blocks}


def _button(label: str, action_id: str, value: str, *, style: str) -> dict:
    return {
        "type": "button",
        "action_id": action_id,
        "value": value,
        "style": style,
        "text": {"type": "plain_text", "text": clip(label, BUTTON_TEXT_MAX)},
    }


# -- email -------------------------------------------------------------------------------------------
def email_message(alert: Alert, purpose: str) -> dict:
    # Email hears of new alerts, repeats and escalations; state changes go to Slack, PagerDuty and
    # the webhook only (notify.STATE_CHANGE_CHANNELS).
    prefix = EMAIL_PREFIX.get(purpose, "")
    context = {
        "alert": alert,
        "purpose": purpose,
        "headline": headline(alert),
        "status_line": status_line(alert),
        "weddings_line": weddings_line(alert),
        "raised_at": london_time(alert.raised_at),
        "dashboard_url": dashboard_url(alert),
        "ctx": alert.context or {},
        "escalation_level": alert.escalation_level,
    }
    return {
        "subject": clip(f"{prefix}[WedSync {alert.effective_severity.upper()}] {alert.title}", 200).replace("\n", " "),
        "text": render_to_string("alerts/email_alert.txt", context),
        "html": render_to_string("alerts/email_alert.html", context),
    }


# -- SMS ---------------------------------------------------------------------------------------------
def is_wedding_day(alert: Alert) -> bool:
    """Wedding-day mode when raised, or a day with the organisation's own weddings."""
    ctx = alert.context or {}
    return bool(ctx.get("wedding_day_mode") or (alert.organisation_id and ctx.get("weddings_today")))


def sms_body(alert: Alert, purpose: str, max_segments: int) -> str:
    """The SMS text, within `max_segments` segments; on a wedding day within one GSM-7 segment
    (160 characters), as docs/vendors/twilio.md explains: a single segment arrives whole, never in
    parts or out of order, and costs the least at the moment it matters most."""
    ctx = alert.context or {}
    prefix = SMS_PREFIX.get(purpose, "")
    weddings = ctx.get("weddings_today", 0)
    text = (
        f"{prefix}WedSync {alert.effective_severity.upper()} {alert.ref}: {alert.title}. "
        f"{weddings} wedding{'s' if weddings != 1 else ''} today"
        f"{', wedding-day mode' if ctx.get('wedding_day_mode') else ''}. "
        f"{alert.impact}".strip()
    )
    if is_wedding_day(alert):
        return sms_text.fit(sms_text.to_gsm7(text), 1)
    return sms_text.fit(text, max_segments)


# -- PagerDuty ---------------------------------------------------------------------------------------
def pagerduty_event(alert: Alert, purpose: str) -> dict:
    """An Events API v2 event without its routing_key (added at send time)."""
    if purpose == Purpose.ACKNOWLEDGE:
        return {"event_action": "acknowledge", "dedup_key": alert.pagerduty_dedup_key}
    if purpose == Purpose.RESOLVE:
        return {"event_action": "resolve", "dedup_key": alert.pagerduty_dedup_key}
    ctx = alert.context or {}
    weddings = ctx.get("weddings_today", 0)
    summary = f"{alert.title} ({weddings} wedding{'s' if weddings != 1 else ''} today"
    summary += ", wedding-day mode)" if ctx.get("wedding_day_mode") else ")"
    return {
        "event_action": "trigger",
        "dedup_key": alert.pagerduty_dedup_key,
        "payload": {
            "summary": clip(summary, PAGERDUTY_SUMMARY_MAX),
            "source": PAGERDUTY_SOURCE,
            "severity": PAGERDUTY_SEVERITY[Severity(alert.effective_severity)],
            "timestamp": alert.raised_at.isoformat(),
            "component": str(alert.details.get("component") or alert.source)[:255],
            "group": alert.scope,
            "class": alert.kind,
            "custom_details": {
                "alert": alert.ref,
                "description": alert.description,
                "severity_raised": alert.severity,
                "impact": alert.impact,
                "affected_vendors": alert.affected_vendors,
                "recovery_actions": alert.recovery_actions,
                "occurrences": alert.occurrence_count,
                "weddings_today": ctx.get("weddings_today", 0),
                "platform_weddings_today": ctx.get("platform_weddings_today", 0),
                "venues": ctx.get("venues", []),
                "vendor_types": ctx.get("vendor_types", []),
                "season": ctx.get("season"),
                "wedding_day_mode": ctx.get("wedding_day_mode", False),
                "saturday": ctx.get("saturday", False),
                "peak_ceremony_hours": ctx.get("peak_ceremony_hours", False),
                "routing_reasons": (alert.routing or {}).get("reasons", []),
                **{k: v for k, v in (alert.details or {}).items() if k not in ("component",)},
            },
        },
        "client": "WedSync Integrations",
        "client_url": dashboard_url(alert),
        "links": [{"href": dashboard_url(alert), "text": f"WedSync alert {alert.ref}"}],
    }


# -- outbound webhook (Standard Webhooks) ---------------------------------------------------------------
WEBHOOK_EVENT_TYPE = {
    Purpose.NOTIFY: "alert.triggered",
    Purpose.REPEAT: "alert.repeated",
    Purpose.WORSE: "alert.severity_raised",
    Purpose.ESCALATE: "alert.escalated",
    Purpose.ACKNOWLEDGE: "alert.acknowledged",
    Purpose.RESOLVE: "alert.resolved",
}


def webhook_event(alert: Alert, purpose: str, at) -> dict:
    """A small ("thin") event: the receiver can fetch more from us if it needs it."""
    ctx = alert.context or {}
    return {
        "type": WEBHOOK_EVENT_TYPE[Purpose(purpose)],
        "timestamp": at.isoformat().replace("+00:00", "Z"),
        "data": {
            "id": alert.ref,
            "organisation": alert.organisation.slug if alert.organisation_id else None,
            "title": alert.title,
            "description": alert.description,
            "severity": alert.effective_severity,
            "severity_raised": alert.severity,
            "status": alert.status,
            "source": alert.source,
            "occurrences": alert.occurrence_count,
            "raised_at": alert.raised_at.isoformat(),
            "acknowledged_by": alert.acknowledged_by or None,
            "resolved_by": alert.resolved_by or None,
            "affected_vendors": alert.affected_vendors,
            "impact": alert.impact,
            "recovery_actions": alert.recovery_actions,
            "wedding_context": {
                key: ctx.get(key)
                for key in (
                    "weddings_today",
                    "venues",
                    "vendor_types",
                    "season",
                    "wedding_day_mode",
                    "saturday",
                    "peak_ceremony_hours",
                )
            },
            "url": dashboard_url(alert),
        },
    }
