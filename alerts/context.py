"""What an alert says about the weddings it may affect, and what on-call should do about it.

Both are computed once, when the alert is raised, and stored on it: a page read at 15:00 must
say what was true at 14:02, not what is true now.
"""

from __future__ import annotations

from datetime import datetime

from wedsync_integrations import calendar
from wedsync_integrations.tenants.models import Organisation, Wedding

MAX_VENUES = 20

# Recovery steps per alert kind (the product asks for templates per kind, not free text).
RECOVERY_ACTIONS: dict[str, list[str]] = {
    "integration_failing": [
        "Open the integration's health page in admin and run 'Test connection'.",
        "Check the vendor's status page for an outage.",
        "Queued items are kept: once the vendor answers again they are delivered in order.",
    ],
    "config_stopped": [
        "The vendor rejected our credentials or URL: fix them in admin (secrets are write-only).",
        "Run 'Resume and replay held items' on the configuration; nothing queued has been lost.",
    ],
    "delivery_dead": [
        "Open the retry queue in admin and read the item's last error.",
        "Fix the cause, then use 'Replay now' on the dead item.",
    ],
    "error_rate": [
        "Check the AI provider's status page and the error types in the last hour's usage.",
        "If one model is failing, switch the affected feature to its fallback model.",
        "Tell vendors with weddings today which AI features are degraded.",
    ],
    "vendor_alert": [
        "Open the monitoring alert linked in the details and follow its runbook.",
        "Confirm whether wedding-day features (timelines, messaging, galleries) are affected.",
    ],
    "data_quality": [
        "Inspect the metrics that failed the data-quality gate; the push was blocked, nothing wrong was sent.",
        "Fix the source data, then re-run the push.",
    ],
    "test": ["This is a test alert: acknowledge it to check the acknowledgement path, then resolve it."],
    "generic": [
        "Acknowledge the alert so escalation stops, then investigate.",
        "Resolve it once the service is healthy again.",
    ],
}


def recovery_actions_for(kind: str) -> list[str]:
    return list(RECOVERY_ACTIONS.get(kind, RECOVERY_ACTIONS["generic"]))


def wedding_context(organisation: Organisation | None, at: datetime) -> dict:
    """Weddings today (the organisation's, or the platform's for platform alerts), their venues,
    the vendor types involved, and the calendar flags, judged in London time."""
    snap = calendar.snapshot(at)
    today = snap.london_time.date()
    todays = Wedding.objects.filter(date=today, organisation__is_active=True)
    platform_count = todays.count()
    scoped = todays.filter(organisation=organisation) if organisation is not None else todays
    venues = sorted({v for v in scoped.values_list("venue", flat=True) if v})
    regions = sorted({r for r in scoped.values_list("region", flat=True) if r})
    if organisation is not None:
        weddings_today = scoped.count()
        vendor_types = [organisation.vendor_type]
    else:
        weddings_today = platform_count
        vendor_types = sorted(set(todays.values_list("organisation__vendor_type", flat=True)))
    return {
        **snap.as_dict(),
        "date": today.isoformat(),
        "weddings_today": weddings_today,
        "platform_weddings_today": platform_count,
        "venues": venues[:MAX_VENUES],
        "venues_total": len(venues),
        "regions": regions,
        "vendor_types": vendor_types,
        "organisation": organisation.slug if organisation is not None else None,
    }
