"""An alert's life: raised (or deduplicated), escalated, acknowledged, resolved.

Every state change happens under a row lock (select_for_update) in one transaction, so an
acknowledgement from Slack, PagerDuty and admin arriving together converge on one state, and an
escalation step re-checks the state under the same lock before queuing anything. The
notifications a change causes are outbox items written in that same transaction.

    result = raise_alert(organisation=org, title="…", severity="high", source="monitoring")
    acknowledge(result.alert.pk, by="admin:alice", via=ActionSource.ADMIN, user=request.user)
    resolve(alert.pk, by="pagerduty:Jane", via=ActionSource.PAGERDUTY)
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from wedsync_integrations.integrations import audit
from wedsync_integrations.tenants.models import Organisation

from . import context as wedding_context
from . import notify, outcomes, routing
from .family import FAMILY
from .models import REPEAT_INTERVAL, ActionSource, Alert, AlertStatus, MuteWindow, Purpose, RoutingPolicy, Severity
from .outcomes import ChannelOutcome

logger = logging.getLogger("wedsync.alerts")

# Channels that told us about a change already know it: do not echo it back to them.
ECHO = {ActionSource.PAGERDUTY: ("pagerduty",)}


class AlertInputError(ValueError):
    """Bad input to raise_alert (unknown severity, empty title): nothing was stored."""


@dataclass
class RaiseResult:
    alert: Alert
    created: bool
    notified: bool
    pairs: list = field(default_factory=list)


@dataclass
class ActionResult:
    """What acknowledging or resolving did. `channels` says, per channel, whether it was told,
    is waiting in its queue, or was not told and why (outcomes.py); `message` ends with the same
    sentences. `escalation_stopped` is when the next escalation step would have fired."""

    alert: Alert | None
    changed: bool
    message: str
    channels: list[ChannelOutcome] = field(default_factory=list)
    escalation_stopped: datetime | None = None

    @property
    def channels_summary(self) -> str:
        return outcomes.summary(self.channels) if self.changed else ""


def default_dedup_key(source: str, kind: str, title: str) -> str:
    return re.sub(r"[^a-z0-9:_-]+", "-", f"{source}:{kind}:{title}".lower()).strip("-")[:200]


# -- raising -----------------------------------------------------------------------------------------
def raise_alert(
    *,
    title: str,
    severity: str,
    organisation: Organisation | None = None,
    description: str = "",
    source: str = "code",
    kind: str = "generic",
    dedup_key: str | None = None,
    impact: str = "",
    affected_vendors: list[str] | None = None,
    recovery_actions: list[str] | None = None,
    details: dict | None = None,
    at: datetime | None = None,
    exclude_channels: tuple[str, ...] = (),
    escalate: bool = True,
    is_test: bool = False,
    dispatch: bool = True,
) -> RaiseResult:
    """Raise an alert, or count another occurrence of the open alert with the same dedup key
    (re-notifying only once its repeat interval has passed)."""
    at = at or timezone.now()
    if severity not in Severity.values:
        raise AlertInputError(f"unknown severity {severity!r}; use one of {', '.join(Severity.values)}")
    title = " ".join(str(title or "").split())
    if not title:
        raise AlertInputError("an alert needs a title")
    dedup_key = (dedup_key or default_dedup_key(source, kind, title))[:200]
    open_key = Alert.make_open_key(organisation.pk if organisation else None, dedup_key)
    fields = {
        "organisation": organisation,
        "title": title[:200],
        "description": description,
        "severity": severity,
        "source": source[:40],
        "kind": kind[:40],
        "dedup_key": dedup_key,
        "impact": impact,
        "affected_vendors": list(affected_vendors or []),
        "recovery_actions": list(recovery_actions or wedding_context.recovery_actions_for(kind)),
        "details": dict(details or {}),
        "is_test": is_test,
    }
    for attempt in range(2):
        try:
            with transaction.atomic():
                existing = Alert.objects.select_for_update(of=("self",)).filter(open_key=open_key).first()
                if existing is not None:
                    if Severity(severity).rank > Severity(existing.severity).rank:
                        return _got_worse(existing, severity, at, exclude_channels, escalate, dispatch)
                    return _another_occurrence(existing, at, dispatch)
                return _create(fields, open_key, at, exclude_channels, escalate, dispatch)
        except IntegrityError:
            # Another process created the same open alert between our read and our insert.
            if attempt:
                raise
    raise AssertionError("unreachable")


def _route(organisation, severity: str, source: str, at: datetime, exclude_channels, escalate: bool):
    """The wedding context and routing decision for an alert of `severity` raised at `at`."""
    ctx = wedding_context.wedding_context(organisation, at)
    policy = RoutingPolicy.objects.filter(organisation=organisation).first() if organisation else None
    decision = routing.decide(
        severity,
        at=at,
        policy=routing.PolicyValues.from_policy(policy),
        own_weddings_today=ctx["weddings_today"] if organisation else 0,
        platform_weddings_today=ctx["platform_weddings_today"],
        source=source,
        mute_windows=_open_mute_windows(organisation.pk if organisation else None, at),
        exclude_channels=tuple(exclude_channels),
        escalate=escalate,
    )
    return ctx, decision


def _create(fields: dict, open_key: str, at: datetime, exclude_channels, escalate: bool, dispatch: bool) -> RaiseResult:
    ctx, decision = _route(
        fields["organisation"],
        fields["severity"],
        fields["source"],
        at,
        exclude_channels,
        escalate and not fields["is_test"],
    )
    alert = Alert.objects.create(
        **fields,
        open_key=open_key,
        effective_severity=decision.effective_severity,
        context=ctx,
        routing=decision.as_dict(),
        raised_at=at,
        last_occurred_at=at,
        last_notified_at=None if decision.muted_by else at,
        next_escalation_at=decision.first_escalation_at(at),
    )
    pairs = notify.notify(alert, Purpose.NOTIFY, at=at, sequence=1, dispatch=dispatch)
    logger.info(
        "alerts.raised alert=%s org=%s severity=%s effective=%s channels=%s muted=%s",
        alert.pk,
        alert.scope,
        alert.severity,
        alert.effective_severity,
        decision.channels,
        bool(decision.muted_by),
    )
    return RaiseResult(alert, created=True, notified=bool(pairs), pairs=pairs)


def _open_mute_windows(organisation_id: int | None, at: datetime) -> list[MuteWindow]:
    return list(MuteWindow.objects.filter(organisation_id=organisation_id, starts_at__lte=at, ends_at__gt=at))


def _another_occurrence(alert: Alert, at: datetime, dispatch: bool) -> RaiseResult:
    alert.occurrence_count += 1
    alert.last_occurred_at = at
    routing_snapshot = alert.routing or {}
    if routing_snapshot.get("muted_by") and alert.status == AlertStatus.TRIGGERED:
        windows = _open_mute_windows(alert.organisation_id, at)
        if routing.mute_reason(windows, source=alert.source, severity=alert.effective_severity, at=at) is None:
            return _first_notification_after_mute(alert, at, dispatch)
    interval = routing_snapshot.get("repeat_interval_s", REPEAT_INTERVAL.total_seconds())
    due = alert.last_notified_at is None or (at - alert.last_notified_at).total_seconds() >= interval
    pairs: list = []
    if alert.status == AlertStatus.TRIGGERED and not routing_snapshot.get("muted_by") and due:
        alert.last_notified_at = at
        alert.save(update_fields=["occurrence_count", "last_occurred_at", "last_notified_at"])
        pairs = notify.notify(alert, Purpose.REPEAT, at=at, sequence=alert.occurrence_count, dispatch=dispatch)
    else:
        alert.save(update_fields=["occurrence_count", "last_occurred_at"])
    return RaiseResult(alert, created=False, notified=bool(pairs), pairs=pairs)


def _got_worse(alert: Alert, severity: str, at: datetime, exclude_channels, escalate: bool, dispatch: bool):
    """The open alert came back at a higher severity (an error rate crossing the critical
    threshold, a warning turning into an outage): it takes the new severity, is routed again as
    if raised now (so it may reach SMS or PagerDuty it had not), and notifies at once whatever the
    repeat interval, since on-call must hear that it got worse. An acknowledged alert keeps its
    acknowledgement (someone is on it) and is only re-routed for the record; it never gets better
    this way (a lower severity is just another occurrence)."""
    was = alert.severity
    escalate = escalate and not alert.is_test
    ctx, decision = _route(alert.organisation, severity, alert.source, at, exclude_channels, escalate)
    routed = decision.as_dict()
    why = f"got worse on occurrence {alert.occurrence_count + 1}: {was} → {severity}"
    routed["reasons"] = [why, *routed["reasons"]]
    alert.severity = severity
    alert.effective_severity = decision.effective_severity
    alert.routing = routed
    alert.context = ctx
    alert.occurrence_count += 1
    alert.last_occurred_at = at
    alert.version += 1
    triggered = alert.status == AlertStatus.TRIGGERED
    notifying = triggered and not decision.muted_by
    if notifying:
        alert.last_notified_at = at
    if triggered and alert.next_escalation_at is None:
        alert.next_escalation_at = decision.first_escalation_at(at)
    alert.save(
        update_fields=[
            "severity", "effective_severity", "routing", "context", "occurrence_count", "last_occurred_at",
            "version", "last_notified_at", "next_escalation_at",
        ]
    )  # fmt: skip
    audit.record(
        FAMILY,
        actor=alert.source,
        action="severity_raised",
        target=alert,
        organisation=alert.organisation,
        changes={"severity": [was, severity], "effective_severity": decision.effective_severity},
        summary=f"{alert.ref} got worse: {was} → {severity} (routed as {decision.effective_severity})",
    )
    pairs: list = []
    if notifying:
        pairs = notify.notify(alert, Purpose.WORSE, at=at, sequence=alert.occurrence_count, dispatch=dispatch)
    logger.info(
        "alerts.worse alert=%s severity=%s→%s effective=%s channels=%s notified=%s",
        alert.pk,
        was,
        severity,
        alert.effective_severity,
        decision.channels,
        bool(pairs),
    )
    return RaiseResult(alert, created=False, notified=bool(pairs), pairs=pairs)


def _first_notification_after_mute(alert: Alert, at: datetime, dispatch: bool) -> RaiseResult:
    """The alert was raised inside a mute window and is still firing now that the window has
    closed (or it is a critical one on a Saturday): notify as if raised now, and escalate
    (Alertmanager likewise notifies a still-firing alert once its mute interval ends)."""
    snapshot = alert.routing
    note = f"{snapshot['muted_by']} no longer applies: notified on occurrence {alert.occurrence_count}"
    alert.routing = {**snapshot, "muted_by": None, "reasons": [*snapshot.get("reasons", []), note]}
    alert.last_notified_at = at
    alert.next_escalation_at = routing.escalation_due(alert.routing, at)
    alert.save(
        update_fields=["occurrence_count", "last_occurred_at", "routing", "last_notified_at", "next_escalation_at"]
    )
    pairs = notify.notify(alert, Purpose.NOTIFY, at=at, sequence=1, dispatch=dispatch)
    return RaiseResult(alert, created=False, notified=bool(pairs), pairs=pairs)


# -- acknowledging and resolving ---------------------------------------------------------------------
def acknowledge(alert_id: int, *, by: str, via: str, user=None, at: datetime | None = None) -> ActionResult:
    return _transition(alert_id, Purpose.ACKNOWLEDGE, by=by, via=via, user=user, at=at)


def resolve(alert_id: int, *, by: str, via: str, user=None, at: datetime | None = None) -> ActionResult:
    return _transition(alert_id, Purpose.RESOLVE, by=by, via=via, user=user, at=at)


def _transition(alert_id: int, action: str, *, by: str, via: str, user, at) -> ActionResult:
    at = at or timezone.now()
    via = ActionSource(via)
    with transaction.atomic():
        alert = Alert.objects.select_for_update(of=("self",)).select_related("organisation").filter(pk=alert_id).first()
        if alert is None:
            return ActionResult(None, False, f"no alert {alert_id}")
        before, escalation_due_at = alert.status, alert.next_escalation_at
        changed = _apply(alert, action, by=by, via=via, at=at)
        told: list[ChannelOutcome] = []
        if changed:
            told = notify.tell(alert, action, at=at, sequence=alert.version, exclude=ECHO.get(via, ())).outcomes
            message = f"{action}d by {by} via {via.label}. {outcomes.summary(told)}"
        else:
            escalation_due_at = None
            message = f"already {alert.status} ({_who(alert)}); {action} from {via.label} by {by} changed nothing"
        audit.record(
            FAMILY,
            actor=by,
            user=user,
            action=action if changed else f"{action}_ignored",
            target=alert,
            organisation=alert.organisation,
            summary=f"{alert.ref}: {message}",
            changes=_changes(before, alert, via, told, escalation_due_at) if changed else {"via": via.value},
        )
    logger.info("alerts.%s alert=%s by=%s via=%s changed=%s", action, alert_id, by, via.value, changed)
    return ActionResult(alert, changed, message, channels=told, escalation_stopped=escalation_due_at)


def _changes(before: str, alert: Alert, via: ActionSource, told: list[ChannelOutcome], escalation_due_at) -> dict:
    """The audit entry of a change: the status, where it came from, what each channel was told
    and, when one was planned, the escalation step it stopped (the alert page reads these)."""
    changes = {
        "status": [before, alert.status],
        "via": via.value,
        "told": [outcome.as_dict() for outcome in told],
    }
    if escalation_due_at is not None:
        changes["escalation_stopped"] = {"due_at": escalation_due_at.isoformat(), "level": alert.escalation_level + 1}
    return changes


def _apply(alert: Alert, action: str, *, by: str, via: ActionSource, at: datetime) -> bool:
    if action == Purpose.ACKNOWLEDGE:
        if alert.status != AlertStatus.TRIGGERED:
            return False
        alert.status = AlertStatus.ACKNOWLEDGED
        alert.acknowledged_at, alert.acknowledged_by, alert.acknowledged_via = at, by[:150], via
    else:
        if alert.status == AlertStatus.RESOLVED:
            return False
        alert.status = AlertStatus.RESOLVED
        alert.resolved_at, alert.resolved_by, alert.resolved_via = at, by[:150], via
        alert.open_key = None  # the dedup key is free again: a new occurrence opens a new alert
    alert.next_escalation_at = None  # acknowledgement stops escalation at once
    alert.version += 1
    alert.save()
    return True


def _who(alert: Alert) -> str:
    if alert.status == AlertStatus.RESOLVED:
        return f"by {alert.resolved_by} via {alert.get_resolved_via_display()}"
    if alert.status == AlertStatus.ACKNOWLEDGED:
        return f"by {alert.acknowledged_by} via {alert.get_acknowledged_via_display()}"
    return "not yet acknowledged"


def remember_slack_response_url(alert_id: int, response_url: str, at: datetime | None = None) -> None:
    """Keep the latest interaction's response_url: the only way to update a webhook message."""
    if response_url:
        Alert.objects.filter(pk=alert_id).update(
            slack_response_url=response_url, slack_response_url_at=at or timezone.now(), slack_response_url_uses=0
        )


# -- escalating --------------------------------------------------------------------------------------
def escalate_due(now: datetime | None = None, *, limit: int = 200) -> int:
    """Escalate every unacknowledged alert whose escalation time has come; schedule the next step
    (repeating until someone acknowledges). Returns how many were escalated."""
    now = now or timezone.now()
    due = list(
        Alert.objects.filter(status=AlertStatus.TRIGGERED, next_escalation_at__lte=now)
        .order_by("next_escalation_at")
        .values_list("pk", flat=True)[:limit]
    )
    escalated = 0
    for alert_id in due:
        with transaction.atomic():
            alert = (
                Alert.objects.select_for_update(of=("self",))
                .select_related("organisation")
                .filter(pk=alert_id, status=AlertStatus.TRIGGERED, next_escalation_at__lte=now)
                .first()
            )
            if alert is None:
                continue  # acknowledged or resolved since we looked: escalation stops here
            alert.escalation_level += 1
            alert.next_escalation_at = now + routing.escalation_delay(alert.routing, now)
            alert.save(update_fields=["escalation_level", "next_escalation_at"])
            notify.notify(alert, Purpose.ESCALATE, at=now, sequence=alert.escalation_level)
            audit.record(
                FAMILY,
                actor="system:escalation",
                action="escalate",
                target=alert,
                organisation=alert.organisation,
                summary=f"{alert.ref}: unacknowledged, escalated to management (level {alert.escalation_level}); "
                f"next step at {alert.next_escalation_at.isoformat()}",
                changes={"level": alert.escalation_level, "next_step_at": alert.next_escalation_at.isoformat()},
            )
            escalated += 1
    return escalated
