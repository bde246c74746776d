"""The alert page's two timelines, read from what the system recorded (never re-derived):

- deliveries, per channel: each outbox item queued, each attempt (the Delivery row: sent, failed,
  will retry, skipped, with the vendor's HTTP status and reply) and, for an item still in the
  outbox, what happens next (the next retry, or what holds it back); for a dead item, that the
  outbox gave up.
- escalation: what the frozen routing snapshot planned, each step that fired (audit entries and
  the escalation items), and the step an acknowledgement or resolution stopped.

Every event carries an aware instant; the page shows it in London time with its age.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.utils import timezone
from django.utils.timesince import timesince, timeuntil

from wedsync_integrations.integrations.models import RetryState

from . import routing as routing_rules
from .family import FAMILY
from .models import Alert, AlertConfig, AlertStatus, Delivery, DeliveryStatus, Purpose
from .notify import ESCALATION_CHANNELS, delivering_organisation
from .outcomes import PURPOSE_SINGULAR, ChannelOutcome, channel_name, why_held
from .routing import CHANNEL_ORDER

RESPONSE_SHOWN = 300
# An item is shown as queued apart from its first attempt only when it waited this long.
WAITED = timedelta(minutes=1)
# Delivery statuses as a word and a look (the CSS class on the page).
DELIVERY_LOOK = {
    DeliveryStatus.SENT: "ok",
    DeliveryStatus.RETRYING: "retrying",
    DeliveryStatus.AMBIGUOUS: "retrying",
    DeliveryStatus.FAILED: "failed",
    DeliveryStatus.DEAD: "failed",
    DeliveryStatus.SKIPPED: "skipped",
}


def when(at: datetime | None, now: datetime) -> str:
    """'Sat 13 Jun 14:02:11 BST (3 minutes ago)': London wall clock, and how long ago (or until)."""
    if at is None:
        return "—"
    return f"{clock(at)} ({age(at, now)})"


def clock(at: datetime) -> str:
    return timezone.localtime(at).strftime("%a %d %b %H:%M:%S %Z")


def age(at: datetime, now: datetime) -> str:
    if abs(at - now) < timedelta(minutes=1):
        return "just now" if at <= now else "in under a minute"
    # timesince joins number and unit with a no-break space; a plain one reads (and searches) the same
    if at <= now:
        return f"{timesince(at, now, depth=1)} ago".replace("\xa0", " ")
    return f"in {timeuntil(at, now, depth=1)}".replace("\xa0", " ")


@dataclass
class Event:
    at: datetime
    what: str
    look: str = "info"  # ok, failed, retrying, waiting, skipped, planned, stopped, info
    detail: str = ""
    http_status: int | None = None
    order: int = 0  # among events of one instant: queued, then attempts, then what comes next
    clock: str = ""
    age: str = ""


@dataclass
class ChannelTimeline:
    channel: str
    name: str
    configuration: str
    events: list[Event] = field(default_factory=list)


def _sorted(events: list[Event], now: datetime) -> list[Event]:
    events.sort(key=lambda event: (event.at, event.order))
    for event in events:
        event.clock, event.age = clock(event.at), age(event.at, now)
    return events


def _purpose_label(purpose: str) -> str:
    try:
        return Purpose(purpose).label
    except ValueError:
        return purpose


# -- deliveries ------------------------------------------------------------------------------------------
def delivery_timeline(alert: Alert, now: datetime | None = None) -> list[ChannelTimeline]:
    """One timeline per channel concerned: routed, configured and given something, or tried."""
    now = now or timezone.now()
    items = list(FAMILY.retry_model.objects.filter(dedupe_key__startswith=f"alert:{alert.pk}:").order_by("id"))
    deliveries = list(alert.deliveries.order_by("started_at", "id"))
    organisation = delivering_organisation(alert)
    configs = {c.provider: c for c in AlertConfig.objects.filter(organisation=organisation)} if organisation else {}
    concerned = set((alert.routing or {}).get("channels", [])) | {i.provider for i in items}
    concerned |= {d.channel for d in deliveries}
    ordered = [c for c in CHANNEL_ORDER if c in concerned] + sorted(concerned - set(CHANNEL_ORDER))
    timelines = []
    for channel in ordered:
        config = configs.get(channel)
        attempts = [d for d in deliveries if d.channel == channel]
        events = _item_events([i for i in items if i.provider == channel], attempts, config, now)
        events += [_attempt_event(d) for d in attempts]
        if config is None:
            events.append(Event(alert.raised_at, "Not configured: routed here, but nothing could be sent", "failed"))
        timelines.append(ChannelTimeline(channel, channel_name(channel), _configuration(config), _sorted(events, now)))
    return timelines


def _configuration(config: AlertConfig | None) -> str:
    if config is None:
        return "no configuration"
    if not config.enabled:
        return "configuration disabled"
    reason = f": {config.status_reason}" if config.status_reason else ""
    return f"configuration {config.get_status_display().lower()}{reason}"


def _item_events(items: list, attempts: list[Delivery], config: AlertConfig | None, now: datetime) -> list[Event]:
    first_attempt = {}
    for delivery in attempts:
        first_attempt.setdefault(delivery.notification_key, delivery.started_at)
    events = []
    for item in items:
        label = _purpose_label(item.operation)
        recipient = str((item.payload or {}).get("recipient", ""))
        tried = first_attempt.get(item.dedupe_key)
        if tried is None or tried - item.created_at > WAITED:  # queued and not yet sent, or held a while
            events.append(Event(item.created_at, f"{label}: queued", "info", f"to {recipient}" if recipient else ""))
        if item.state == RetryState.DEAD and tried is None:  # tried: its last attempt already says so
            events.append(
                Event(item.last_attempt_at or item.created_at, f"{label}: the outbox gave up", "failed",
                      item.last_error[:RESPONSE_SHOWN], order=2)
            )  # fmt: skip
        elif item.state == RetryState.PENDING:
            events.append(_next_step(item, label, config, now))
    return events


def _next_step(item, label: str, config: AlertConfig | None, now: datetime) -> Event:
    """What happens next to an item still in the outbox: held back (and why), retried, or due."""
    held = why_held(config, before_item_id=item.pk, now=now) if config is not None else "no configuration"
    if held:
        return Event(max(now, item.created_at), f"{label}: waiting, {held}", "waiting", order=2)
    if item.attempts:
        return Event(
            item.next_attempt_at,
            f"{label}: will retry (attempt {item.attempts + 1} of {item.max_attempts})",
            "planned",
            item.last_error[:RESPONSE_SHOWN],
            order=2,
        )
    due = max(item.next_attempt_at, item.created_at)
    return Event(due, f"{label}: due now, the worker sends it", "planned", order=2)


def _attempt_event(delivery: Delivery) -> Event:
    label = _purpose_label(delivery.purpose)
    status = DeliveryStatus(delivery.status)
    what = f"{label}: {status.label.lower()} (attempt {delivery.attempt})"
    reply = delivery.error or delivery.response
    vendor = " · ".join(bit for bit in (delivery.vendor_ref, delivery.vendor_status) if bit)
    to = f"to {delivery.recipient}" if delivery.recipient else ""
    detail = " · ".join(bit for bit in (to, reply[:RESPONSE_SHOWN], vendor) if bit)
    return Event(delivery.started_at, what, DELIVERY_LOOK[status], detail, delivery.http_status, order=1)


# -- escalation ------------------------------------------------------------------------------------------
def escalation_plan(alert: Alert) -> str:
    """What the routing snapshot planned when the alert was raised, in one sentence."""
    routing = alert.routing or {}
    names = ", ".join(channel_name(c) for c in ESCALATION_CHANNELS)
    if routing.get("muted_by"):
        return f"No escalation while muted ({routing['muted_by']})."
    if not routing.get("escalates"):
        if alert.is_test:
            return "No escalation: test alerts never escalate."
        return f"No escalation: {alert.effective_severity} alerts do not escalate (high and critical ones do)."
    wedding = timedelta(seconds=routing["escalation_delay_wedding_window_s"])
    default = timedelta(seconds=routing["escalation_delay_default_s"])
    return (
        f"Escalates to management ({names}) if nobody acknowledges: after {_minutes(wedding)} in the "
        f"wedding-day window, {_minutes(default)} otherwise, repeating until someone acknowledges."
    )


def _minutes(delay: timedelta) -> str:
    minutes = delay.total_seconds() / 60
    return f"{minutes:g} min"


def escalation_timeline(alert: Alert, now: datetime | None = None) -> list[Event]:
    now = now or timezone.now()
    routing = alert.routing or {}
    channels = ", ".join(channel_name(c) for c in routing.get("channels", [])) or "no channel"
    events = [
        Event(
            alert.raised_at,
            f"Raised as {alert.severity}, routed as {routing.get('effective_severity', alert.effective_severity)} "
            f"to {channels}",
            "info",
            "; ".join(routing.get("reasons", [])),
        ),
    ]
    if routing.get("escalates") and not routing.get("muted_by"):
        delay = _minutes(routing_rules.escalation_delay(routing, alert.raised_at))
        plan = f"level 1 after {delay} without an acknowledgement"
        events.append(Event(alert.raised_at, "Escalation planned", "planned", plan, order=1))
    steps = _escalation_steps(alert)
    entries = FAMILY.audit_model.objects.filter(target_type="Alert", target_id=str(alert.pk)).order_by("at", "id")
    for entry in entries:
        events.extend(_audit_events(entry, steps))
    if alert.status == AlertStatus.TRIGGERED and alert.next_escalation_at is not None:
        level = alert.escalation_level + 1
        events.append(Event(alert.next_escalation_at, f"Next escalation: level {level}", "planned", order=3))
    return _sorted(events, now)


def _escalation_steps(alert: Alert) -> dict[int, str]:
    """Per escalation level, which channels it went to and how each delivery went."""
    prefix = f"alert:{alert.pk}:{Purpose.ESCALATE}:"
    latest: dict[str, Delivery] = {}
    for delivery in alert.deliveries.filter(purpose=Purpose.ESCALATE).order_by("attempt", "id"):
        latest[delivery.notification_key] = delivery
    by_level: dict[int, list[str]] = defaultdict(list)
    for item in FAMILY.retry_model.objects.filter(dedupe_key__startswith=prefix).order_by("id"):
        level = int(item.dedupe_key.removeprefix(prefix).split(":", 1)[0])
        delivery = latest.get(item.dedupe_key)
        state = DeliveryStatus(delivery.status).label.lower() if delivery else "queued"
        recipient = (item.payload or {}).get("recipient", "")
        by_level[level].append(f"{channel_name(item.provider)} ({recipient}): {state}" if recipient else state)
    return {level: "; ".join(parts) for level, parts in by_level.items()}


def _audit_events(entry, steps: dict[int, str]) -> list[Event]:
    changes = entry.changes or {}
    if entry.action == "escalate":
        level = changes.get("level")
        what = f"Escalation level {level} fired" if level else "Escalation fired"
        return [Event(entry.at, what, "failed", steps.get(level) or entry.summary)]
    if entry.action in (Purpose.ACKNOWLEDGE, Purpose.RESOLVE):
        verb = "Acknowledged" if entry.action == Purpose.ACKNOWLEDGE else "Resolved"
        told = [ChannelOutcome.from_dict(item, entry.action) for item in changes.get("told", [])]
        events = [Event(entry.at, f"{verb} by {entry.actor}", "ok", " ".join(o.sentence() for o in told))]
        stopped = changes.get("escalation_stopped")
        if stopped:
            due = datetime.fromisoformat(stopped["due_at"])
            events.append(
                Event(entry.at, f"Escalation stopped: level {stopped['level']} will not fire", "stopped",
                      f"it was due {clock(due)}, {_gap(entry.at, due)} after the {PURPOSE_SINGULAR[entry.action]}",
                      order=1)
            )  # fmt: skip
        return events
    if entry.action.endswith("_ignored"):
        return [Event(entry.at, f"{entry.actor}: {entry.action.replace('_', ' ')}", "skipped", entry.summary)]
    if entry.action == "severity_raised":
        return [Event(entry.at, "Got worse", "failed", entry.summary)]
    return []


def _gap(earlier: datetime, later: datetime) -> str:
    return timesince(earlier, later, depth=1).replace("\xa0", " ")
