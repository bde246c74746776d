"""The webhooks family: kernel models (configs hold each source's signing secret per organisation),
the durable inbox of verified events, the log of rejected attempts, and accounting confirmations."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from wedsync_integrations.core.observability import get_correlation_id
from wedsync_integrations.integrations.models import (
    AuditEntryBase,
    ProviderConfigBase,
    RetryItemBase,
    SyncLogBase,
)

from .family import FAMILY


class WebhookConfig(ProviderConfigBase):
    """Per-organisation signing secrets for one inbound source."""

    family_name = "webhooks"


class WebhookSyncLog(SyncLogBase):
    pass


class WebhookAuditEntry(AuditEntryBase):
    class Meta(AuditEntryBase.Meta):
        verbose_name_plural = "webhook audit entries"


class WebhookRetryItem(RetryItemBase):
    pass


# -- inbound events ------------------------------------------------------------------------------
def source_choices() -> list[tuple[str, str]]:
    """Every registered inbound source, as (name, label): the registry is the one list, so a new
    source needs no migration."""
    return FAMILY.provider_choices()


class EventStatus(models.TextChoices):
    RECEIVED = "received", "Received, queued"
    PROCESSING = "processing", "Processing"
    RETRYING = "retrying", "Failed, will retry"
    PROCESSED = "processed", "Processed"
    UNHANDLED = "unhandled", "No handler registered"
    FAILED = "failed", "Failed: needs staff"


class Priority(models.IntegerChoices):
    NORMAL = 0, "Normal"
    WEDDING_DAY = 10, "Wedding day (Fri 18:00 – Sun 23:00)"


class InboundEvent(models.Model):
    """One verified vendor event, stored before the vendor gets its 2xx.

    The row is the durable queue: a Celery task processes it through the handler registry, a
    beat sweeper re-queues rows a dead worker left behind, and staff can reprocess any row.
    `dedupe_key` (source + organisation + the vendor's event id, hashed) is unique, so a vendor's
    retry is acknowledged without being stored or processed twice.
    """

    source = models.CharField(max_length=20, choices=source_choices)
    # no index of its own: webhooks_event_recent (organisation, source, -received_at) serves it,
    # and every index is written on the endpoint's one INSERT
    organisation = models.ForeignKey(
        "tenants.Organisation", null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    event_type = models.CharField(max_length=128)
    external_id = models.CharField(max_length=255, help_text="The vendor's id for this event (what dedupe uses).")
    dedupe_key = models.CharField(max_length=64, unique=True, editable=False)
    payload = models.JSONField(help_text="The parsed body, as verified.")
    headers = models.JSONField(default=dict, blank=True, help_text="Selected vendor headers (never credentials).")
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=EventStatus.choices, default=EventStatus.RECEIVED)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=8)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    leased_until = models.DateTimeField(null=True, blank=True)
    queued_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When a processing task was last published (the sweeper waits before resending).",
    )
    handlers_done = models.JSONField(
        default=list, blank=True, help_text="Handlers that already succeeded: a retry does not run them again."
    )
    last_error = models.TextField(blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    correlation_id = models.CharField(max_length=64, default=get_correlation_id)

    class Meta:
        ordering = ["-id"]  # arrival order, served by the primary key
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="webhooks_event_due"),
            models.Index(fields=["organisation", "source", "-received_at"], name="webhooks_event_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.event_type} #{self.pk} ({self.status})"


class RejectReason(models.TextChoices):
    MISSING_SIGNATURE = "missing_signature", "Signature header missing"
    BAD_SIGNATURE = "bad_signature", "Signature does not match"
    STALE_TIMESTAMP = "stale_timestamp", "Timestamp missing or outside tolerance"
    MALFORMED = "malformed", "Body could not be parsed"
    FOREIGN_ACCOUNT = "foreign_account", "Signed, but for another vendor account"
    VERIFICATION_REFUSED = "verification_refused", "Verification handshake refused"


class RejectedAttempt(models.Model):
    """A request that failed verification or parsing. The body was not trusted, so only its size
    and hash are kept (enough to match it against a vendor's delivery log)."""

    source = models.CharField(max_length=20, choices=source_choices)
    organisation = models.ForeignKey(
        "tenants.Organisation", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reason = models.CharField(max_length=32, choices=RejectReason.choices)
    detail = models.CharField(max_length=500, blank=True)
    client_ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    body_bytes = models.PositiveIntegerField(default=0)
    body_sha256 = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)
    correlation_id = models.CharField(max_length=64, default=get_correlation_id)

    class Meta:
        ordering = ["-at"]

    def __str__(self) -> str:
        return f"{self.source} {self.reason} from {self.client_ip or '?'} @ {self.at:%Y-%m-%d %H:%M:%S}"


# -- accounting confirmations ----------------------------------------------------------------------
class ExportConfirmation(models.Model):
    """An accounting system told us an entity was created/changed: the evidence that an export landed.

    The accounting exporter family arrives later. Until then each confirmation is recorded here
    durably; when an accounting family is registered, confirmations are matched to the outbox item
    whose delivery result names the same vendor entity (see webhooks.handlers.accounting).
    """

    source = models.CharField(max_length=20, choices=source_choices)
    organisation = models.ForeignKey("tenants.Organisation", on_delete=models.CASCADE, related_name="+")
    # SET_NULL: confirmations are evidence and outlive the purge of old inbound events
    inbound_event = models.ForeignKey(
        InboundEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="confirmations"
    )
    vendor_account = models.CharField(max_length=64, blank=True, help_text="realmId / tenantId / account_id")
    entity_type = models.CharField(max_length=64)
    entity_id = models.CharField(max_length=128)
    operation = models.CharField(max_length=32)
    occurred_at = models.DateTimeField(null=True, blank=True)
    matched_family = models.CharField(max_length=40, blank=True)
    matched_item_id = models.BigIntegerField(null=True, blank=True)
    matched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["inbound_event", "entity_type", "entity_id", "operation"], name="webhooks_confirmation_once"
            )
        ]
        indexes = [models.Index(fields=["organisation", "source", "entity_type", "entity_id"])]

    def __str__(self) -> str:
        return f"{self.source} {self.entity_type} {self.entity_id} {self.operation}"
