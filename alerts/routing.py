"""Routing: which severity an alert really has and which channels hear about it.

The rules, applied in this order to the instant the alert is raised (London time):
1. the organisation's table maps severity to channels (default: low → Slack; medium → + Email;
   high → + SMS; critical → + PagerDuty);
2. wedding-day mode (Friday 18:00 → Sunday 23:00) raises every alert one level;
3. on a day with the organisation's own weddings every alert is critical;
4. on a Saturday with any weddings on the platform every alert is at least high;
5. on a Saturday every alert also goes to SMS and PagerDuty, whatever its severity;
6. the outbound webhook is opt-in: it is added where configured (see notify.py);
7. an open mute window withholds notifications, except for critical alerts on a Saturday; the
   alert stays silent while it is muted, and its next occurrence after the window has closed
   sends the first notification and starts escalation (see lifecycle.py).

`decide()` is a pure function of its inputs so the rules can be tested at any instant; the
result is stored on the alert (a snapshot, as Grafana OnCall does with escalation chains).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from wedsync_integrations import calendar

from .models import (
    ESCALATION_DELAY_DEFAULT,
    ESCALATION_DELAY_WEDDING_WINDOW,
    REPEAT_INTERVAL,
    Channel,
    MuteWindow,
    RoutingPolicy,
    Severity,
    default_channels_by_severity,
)

CHANNEL_ORDER = [Channel.SLACK, Channel.EMAIL, Channel.SMS, Channel.PAGERDUTY, Channel.WEBHOOK]
ESCALATING = {Severity.HIGH, Severity.CRITICAL}


@dataclass(frozen=True)
class PolicyValues:
    """A routing policy's values, detached from the database (defaults = the product's rules)."""

    channels_by_severity: dict = field(default_factory=default_channels_by_severity)
    wedding_day_raises_severity: bool = True
    own_weddings_make_critical: bool = True
    saturday_protection: bool = True
    escalation_delay_wedding_window: timedelta = ESCALATION_DELAY_WEDDING_WINDOW
    escalation_delay_default: timedelta = ESCALATION_DELAY_DEFAULT
    repeat_interval: timedelta = REPEAT_INTERVAL

    @classmethod
    def from_policy(cls, policy: RoutingPolicy | None) -> PolicyValues:
        if policy is None:
            return cls()
        return cls(
            channels_by_severity=dict(policy.channels_by_severity),
            wedding_day_raises_severity=policy.wedding_day_raises_severity,
            own_weddings_make_critical=policy.own_weddings_make_critical,
            saturday_protection=policy.saturday_protection,
            escalation_delay_wedding_window=policy.escalation_delay_wedding_window,
            escalation_delay_default=policy.escalation_delay_default,
            repeat_interval=policy.repeat_interval,
        )


@dataclass
class RoutingDecision:
    severity: str
    effective_severity: str
    channels: list[str]
    excluded_channels: list[str]
    reasons: list[str]
    muted_by: str | None
    escalates: bool
    escalation_delay_wedding_window_s: int
    escalation_delay_default_s: int
    repeat_interval_s: int
    wedding_day_mode: bool
    saturday: bool

    def as_dict(self) -> dict:
        return asdict(self)

    def first_escalation_at(self, raised_at: datetime) -> datetime | None:
        return escalation_due(self.as_dict(), raised_at)


def decide(
    severity: str,
    *,
    at: datetime,
    policy: PolicyValues | None = None,
    own_weddings_today: int = 0,
    platform_weddings_today: int = 0,
    source: str = "code",
    mute_windows: list[MuteWindow] = (),
    exclude_channels: tuple[str, ...] = (),
    escalate: bool = True,
) -> RoutingDecision:
    policy = policy or PolicyValues()
    raised = Severity(severity)
    effective = raised
    reasons: list[str] = []
    wedding_day = calendar.is_wedding_day_mode(at)
    saturday = calendar.is_saturday(at)

    if policy.wedding_day_raises_severity and wedding_day and effective != Severity.CRITICAL:
        effective = effective.raised()
        reasons.append(f"wedding-day mode: raised {raised.value} → {effective.value}")
    if policy.own_weddings_make_critical and own_weddings_today and effective != Severity.CRITICAL:
        effective = Severity.CRITICAL
        reasons.append(f"{own_weddings_today} of the organisation's own weddings today: critical")
    if policy.saturday_protection and saturday and platform_weddings_today and effective.rank < Severity.HIGH.rank:
        effective = Severity.HIGH
        reasons.append(f"Saturday with {platform_weddings_today} weddings: at least high")

    channels = set(policy.channels_by_severity.get(effective.value, []))
    if policy.saturday_protection and saturday and not {Channel.SMS, Channel.PAGERDUTY} <= channels:
        channels |= {Channel.SMS, Channel.PAGERDUTY}
        reasons.append("Saturday protection: SMS and PagerDuty whatever the severity")
    channels -= set(exclude_channels)

    muted_by = mute_reason(mute_windows, source=source, severity=effective.value, at=at)
    if muted_by:
        reasons.append(f"muted by {muted_by}")
    elif any(window.matches(source=source, severity=effective.value, at=at) for window in mute_windows):
        reasons.append("mute window ignored: critical alert on a Saturday")

    return RoutingDecision(
        severity=raised.value,
        effective_severity=effective.value,
        channels=[c.value for c in CHANNEL_ORDER if c in channels],
        excluded_channels=sorted(exclude_channels),
        reasons=reasons,
        muted_by=muted_by,
        escalates=escalate and effective in ESCALATING,
        escalation_delay_wedding_window_s=int(policy.escalation_delay_wedding_window.total_seconds()),
        escalation_delay_default_s=int(policy.escalation_delay_default.total_seconds()),
        repeat_interval_s=int(policy.repeat_interval.total_seconds()),
        wedding_day_mode=wedding_day,
        saturday=saturday,
    )


def mute_reason(windows, *, source: str, severity: str, at: datetime) -> str | None:
    """The first open mute window that applies at `at`, if any: nothing mutes a critical alert on
    a Saturday."""
    if severity == Severity.CRITICAL and calendar.is_saturday(at):
        return None
    for window in windows:
        if window.matches(source=source, severity=severity, at=at):
            return f"mute window #{window.pk}: {window.reason}"
    return None


def escalation_delay(routing: dict, at: datetime) -> timedelta:
    """The frozen policy's delay for an escalation step starting at `at`: the shorter one while
    the wedding-day window is open."""
    if calendar.is_wedding_day_mode(at):
        return timedelta(seconds=routing["escalation_delay_wedding_window_s"])
    return timedelta(seconds=routing["escalation_delay_default_s"])


def escalation_due(routing: dict, since: datetime) -> datetime | None:
    """When the first escalation step falls due; never while the alert is muted."""
    if not routing.get("escalates") or routing.get("muted_by"):
        return None
    return since + escalation_delay(routing, since)
