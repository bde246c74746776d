"""Alerts: the alert itself, its per-attempt deliveries, and each organisation's routing policy
and mute windows. The four kernel models (config, sync log, audit, outbox) come first."""

from __future__ import annotations

import enum
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from wedsync_integrations.integrations.models import (
    AuditEntryBase,
    ProviderConfigBase,
    RetryItemBase,
    SyncLogBase,
)

from .family import FAMILY


class AlertConfig(ProviderConfigBase):
    family_name = "alerts"


class AlertSyncLog(SyncLogBase):
    pass


class AlertAuditEntry(AuditEntryBase):
    class Meta(AuditEntryBase.Meta):
        verbose_name_plural = "alert audit entries"


class AlertRetryItem(RetryItemBase):
    pass


# -- vocabulary ------------------------------------------------------------------------------------
class Severity(models.TextChoices):
    """Lowest to highest; `rank` orders them and PAGERDUTY maps them to the Events API's levels."""

    LOW = "low", "Low"
    MEDIUM = "medium", "Medium"
    HIGH = "high", "High"
    CRITICAL = "critical", "Critical"

    @classmethod
    def ordered(cls) -> list[Severity]:
        return [cls.LOW, cls.MEDIUM, cls.HIGH, cls.CRITICAL]

    @property
    def rank(self) -> int:
        return Severity.ordered().index(self)

    def raised(self, levels: int = 1) -> Severity:
        order = Severity.ordered()
        return order[min(len(order) - 1, self.rank + levels)]


PAGERDUTY_SEVERITY = {
    Severity.LOW: "info",
    Severity.MEDIUM: "warning",
    Severity.HIGH: "error",
    Severity.CRITICAL: "critical",
}


class AlertStatus(models.TextChoices):
    TRIGGERED = "triggered", "Triggered"
    ACKNOWLEDGED = "acknowledged", "Acknowledged"
    RESOLVED = "resolved", "Resolved"


class ActionSource(models.TextChoices):
    """Where an acknowledgement or resolution came from."""

    ADMIN = "admin", "Django admin"
    SLACK = "slack", "Slack button"
    PAGERDUTY = "pagerduty", "PagerDuty"
    AUTO = "auto", "Auto-resolve (source recovered)"
    SYSTEM = "system", "System"


class Channel(enum.StrEnum):
    """The channels the product's routing rules name (severity table, Saturday protection,
    escalation). Each is a provider of the alerts family; the choices a form or a stored row
    offers come from the registry (channel_choices), so a new channel needs no migration."""

    SLACK = "slack"
    EMAIL = "email"
    SMS = "sms"
    PAGERDUTY = "pagerduty"
    WEBHOOK = "webhook"


def channel_choices() -> list[tuple[str, str]]:
    """Every registered channel provider, as (name, label)."""
    return FAMILY.provider_choices()


class Purpose(models.TextChoices):
    """Why a channel is being told something about an alert (the outbox item's operation)."""

    NOTIFY = "notify", "First notification"
    REPEAT = "repeat", "Repeat (still firing)"
    WORSE = "worse", "Severity raised (got worse)"
    ESCALATE = "escalate", "Escalation to management"
    ACKNOWLEDGE = "acknowledge", "Acknowledged"
    RESOLVE = "resolve", "Resolved"


# -- the alert ---------------------------------------------------------------------------------------
class Alert(models.Model):
    """One incident. Raising the same dedup key again while it is open bumps its count instead of
    creating a new alert. `context` (weddings today, venues, season, wedding-day mode) and
    `routing` (effective severity, channels, escalation delays) are frozen when it is raised,
    so later policy edits never change an alert already in flight."""

    organisation = models.ForeignKey(
        "tenants.Organisation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alerts",
        help_text="empty for a platform-wide alert",
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    severity = models.CharField(max_length=10, choices=Severity.choices, help_text="as raised")
    effective_severity = models.CharField(
        max_length=10, choices=Severity.choices, help_text="after wedding-day and Saturday rules"
    )
    source = models.CharField(max_length=40, default="code", help_text="code, monitoring, datadog, newrelic, test…")
    kind = models.CharField(max_length=40, default="generic", help_text="selects the recovery-action template")
    dedup_key = models.CharField(max_length=200)
    # Set while the alert is open, cleared on resolution: one open alert per (scope, dedup key).
    open_key = models.CharField(max_length=255, null=True, blank=True, unique=True, editable=False)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.TRIGGERED)
    is_test = models.BooleanField(default=False)

    impact = models.TextField(blank=True)
    affected_vendors = models.JSONField(default=list, blank=True)
    recovery_actions = models.JSONField(default=list, blank=True)
    details = models.JSONField(default=dict, blank=True, help_text="source-specific facts (error rate, provider…)")
    context = models.JSONField(default=dict, blank=True, help_text="wedding context when raised")
    routing = models.JSONField(default=dict, blank=True, help_text="routing and escalation snapshot when raised")

    raised_at = models.DateTimeField(default=timezone.now, db_index=True)
    last_occurred_at = models.DateTimeField(default=timezone.now)
    last_notified_at = models.DateTimeField(null=True, blank=True)
    occurrence_count = models.PositiveIntegerField(default=1)

    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.CharField(max_length=150, blank=True)
    acknowledged_via = models.CharField(max_length=16, choices=ActionSource.choices, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.CharField(max_length=150, blank=True)
    resolved_via = models.CharField(max_length=16, choices=ActionSource.choices, blank=True)

    escalation_level = models.PositiveSmallIntegerField(default=0)
    next_escalation_at = models.DateTimeField(null=True, blank=True, db_index=True)

    # Vendor handles used to update what the vendors show.
    pagerduty_incident_id = models.CharField(max_length=64, blank=True, db_index=True)
    slack_response_url = models.TextField(blank=True, help_text="latest interaction's response_url")
    slack_response_url_at = models.DateTimeField(null=True, blank=True)
    slack_response_url_uses = models.PositiveSmallIntegerField(default=0)
    version = models.PositiveIntegerField(default=1, help_text="bumped on every state change (Slack block ids)")

    class Meta:
        ordering = ["-raised_at"]
        indexes = [models.Index(fields=["status", "next_escalation_at"], name="alerts_escalation_due")]
        permissions = [("acknowledge_alert", "Can acknowledge and resolve alerts")]

    def __str__(self) -> str:
        return f"{self.ref} [{self.effective_severity}] {self.title}"

    @property
    def ref(self) -> str:
        """The id shown to people and vendors (Slack button value, PagerDuty dedup key)."""
        return f"al_{self.pk}"

    @staticmethod
    def pk_from_ref(ref: str) -> int | None:
        text = str(ref or "").strip()
        text = text.removeprefix("al_")
        return int(text) if text.isdigit() else None

    @property
    def scope(self) -> str:
        return self.organisation.slug if self.organisation_id else "platform"

    @property
    def pagerduty_dedup_key(self) -> str:
        return f"wedsync:{self.scope}:{self.ref}"

    @staticmethod
    def make_open_key(organisation_id: int | None, dedup_key: str) -> str:
        return f"{organisation_id or 'platform'}:{dedup_key}"[:255]


# -- deliveries --------------------------------------------------------------------------------------
class DeliveryStatus(models.TextChoices):
    SENT = "sent", "Sent (vendor accepted)"
    RETRYING = "retrying", "Failed, will retry"
    AMBIGUOUS = "ambiguous", "Timed out after sending: checked before any resend"
    FAILED = "failed", "Failed permanently"
    DEAD = "dead", "Gave up after all attempts"
    SKIPPED = "skipped", "Skipped (alert already acknowledged or resolved)"


class Delivery(models.Model):
    """One attempt to tell one channel about one alert: status, vendor response and timing.

    The kernel's AlertSyncLog also records every attempt generically; this row adds what only
    alerts know (which alert, which recipient, the vendor's message id and, for SMS, the
    carrier status that Twilio's callbacks move forward)."""

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16, choices=channel_choices)
    purpose = models.CharField(max_length=16, choices=Purpose.choices)
    notification_key = models.CharField(max_length=200, db_index=True, help_text="the outbox item's dedupe key")
    attempt = models.PositiveSmallIntegerField(default=1)
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices)
    recipient = models.CharField(max_length=300, blank=True)
    vendor_ref = models.CharField(max_length=200, blank=True, db_index=True, help_text="Twilio SID, Message-ID…")
    vendor_status = models.CharField(max_length=32, blank=True, help_text="latest status the vendor reported")
    vendor_error_code = models.CharField(max_length=32, blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response = models.TextField(blank=True, help_text="vendor response, size-capped, secrets redacted")
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(default=timezone.now)
    duration_ms = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name_plural = "deliveries"
        indexes = [models.Index(fields=["alert", "channel"], name="alerts_delivery_alert")]

    def __str__(self) -> str:
        return f"{self.alert_id} {self.channel} {self.purpose} #{self.attempt} {self.status}"


# -- routing policy and mute windows -------------------------------------------------------------------
# The product's escalation delays and repeat interval (a RoutingPolicy row may change them).
ESCALATION_DELAY_WEDDING_WINDOW = timedelta(minutes=5)
ESCALATION_DELAY_DEFAULT = timedelta(minutes=15)
REPEAT_INTERVAL = timedelta(hours=1)


def default_channels_by_severity() -> dict:
    """The product's table: each severity adds one channel."""
    return {
        "low": ["slack"],
        "medium": ["slack", "email"],
        "high": ["slack", "email", "sms"],
        "critical": ["slack", "email", "sms", "pagerduty"],
    }


class RoutingPolicy(models.Model):
    """How one organisation's alerts are routed and escalated. Organisations without a row use
    the defaults below (the product's rules)."""

    organisation = models.OneToOneField(
        "tenants.Organisation", on_delete=models.CASCADE, related_name="alert_routing_policy"
    )
    channels_by_severity = models.JSONField(default=default_channels_by_severity)
    wedding_day_raises_severity = models.BooleanField(
        default=True, help_text="Friday 18:00 to Sunday 23:00 (London): every alert one level higher"
    )
    own_weddings_make_critical = models.BooleanField(
        default=True, help_text="on a day with this organisation's own weddings every alert is critical"
    )
    saturday_protection = models.BooleanField(
        default=True,
        help_text="on Saturdays every alert also goes to SMS and PagerDuty; with any weddings that day, at least high",
    )
    escalation_delay_wedding_window = models.DurationField(default=ESCALATION_DELAY_WEDDING_WINDOW)
    escalation_delay_default = models.DurationField(default=ESCALATION_DELAY_DEFAULT)
    repeat_interval = models.DurationField(
        default=REPEAT_INTERVAL, help_text="re-notify a still-firing alert at most this often"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "routing policies"

    def __str__(self) -> str:
        return f"routing policy of {self.organisation}"

    def clean(self):
        channels = self.channels_by_severity
        if not isinstance(channels, dict):
            raise ValidationError({"channels_by_severity": "must map each severity to a list of channels"})
        missing = [s for s in Severity.values if s not in channels]
        unknown_severities = sorted(set(channels) - set(Severity.values))
        known = [name for name, _ in channel_choices()]
        bad = sorted(
            {str(c) for value in channels.values() for c in (value if isinstance(value, list) else [value])}
            - set(known)
        )
        problems = []
        if missing:
            problems.append(f"missing severities: {', '.join(missing)}")
        if unknown_severities:
            problems.append(f"unknown severities: {', '.join(unknown_severities)}")
        if bad or not all(isinstance(v, list) for v in channels.values()):
            problems.append(f"each value must be a list of: {', '.join(known)}")
        if problems:
            raise ValidationError({"channels_by_severity": "; ".join(problems)})
        for name in ("escalation_delay_wedding_window", "escalation_delay_default", "repeat_interval"):
            if getattr(self, name) <= timedelta(0):
                raise ValidationError({name: "must be positive"})


class MuteWindow(models.Model):
    """Planned maintenance (Alertmanager's mute time interval): notifications for matching alerts
    are withheld while the window is open. Never applies to critical alerts on a Saturday."""

    organisation = models.ForeignKey(
        "tenants.Organisation",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="alert_mute_windows",
        help_text="empty: platform-wide alerts",
    )
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=200)
    sources = models.JSONField(default=list, blank=True, help_text="alert sources to mute; empty: all")
    max_severity = models.CharField(
        max_length=10, choices=Severity.choices, default=Severity.CRITICAL, help_text="mute alerts up to this severity"
    )
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return f"mute {self.starts_at:%Y-%m-%d %H:%M}–{self.ends_at:%H:%M}: {self.reason}"

    def clean(self):
        if self.starts_at and self.ends_at and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "must be after the start"})
        if not isinstance(self.sources, list):
            raise ValidationError({"sources": "must be a list of source names"})

    def matches(self, *, source: str, severity: str, at) -> bool:
        if not (self.starts_at <= at < self.ends_at):
            return False
        if self.sources and source not in self.sources:
            return False
        return Severity(severity).rank <= Severity(self.max_severity).rank
