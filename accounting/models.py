"""The accounting family: kernel models, the documents exported per organisation and month, and
the vendors' confirmations that they landed."""

from __future__ import annotations

from decimal import Decimal

from django.db import models
from django.utils import timezone

from wedsync_integrations.core.observability import get_correlation_id
from wedsync_integrations.integrations.models import (
    AuditEntryBase,
    ProviderConfigBase,
    RetryItemBase,
    SyncLogBase,
)


class AccountingConfig(ProviderConfigBase):
    """One organisation's ledger at one vendor (QuickBooks Online, Xero or FreshBooks)."""

    family_name = "accounting"


class AccountingSyncLog(SyncLogBase):
    pass


class AccountingAuditEntry(AuditEntryBase):
    class Meta(AuditEntryBase.Meta):
        verbose_name_plural = "accounting audit entries"


class AccountingRetryItem(RetryItemBase):
    pass


class Treatment(models.TextChoices):
    """The UK VAT treatment of a document (the treatments table in docs/vendors/uk-vat.md)."""

    STANDARD = "standard", "Standard-rated input VAT (20 %)"
    REVERSE_CHARGE = "reverse_charge", "Reverse charge (overseas supplier)"
    NO_VAT = "no_vat", "No VAT code (organisation not VAT registered)"


class ExportState(models.TextChoices):
    QUEUED = "queued", "Queued (in the outbox)"
    SENT = "sent", "Sent (the vendor accepted it)"
    CONFIRMED = "confirmed", "Confirmed by the vendor"
    MISMATCH = "mismatch", "Differs at the vendor"
    VOIDED = "voided", "Voided or deleted at the vendor"
    FAILED = "failed", "Failed (dead in the outbox)"


class MonthlyExport(models.Model):
    """One document sent to one ledger: the month's AI costs (sequence 0) or an adjustment for
    usage that arrived after the month was exported (sequence 1, 2, ...), never an edit of a
    posted document.

    Written in the same transaction as its outbox item, with the report and the exact vendor
    payload frozen: what admin shows as "sent" is what was sent. `exact_by_provider` is the
    month's unrounded cost per AI provider when it was built, so the next adjustment carries only
    what changed since, and the documents of a month always add up to the month's total rounded
    to the penny."""

    organisation = models.ForeignKey("tenants.Organisation", on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=40)
    # SET_NULL: the documents are evidence of what the ledger holds and outlive a deleted configuration
    config = models.ForeignKey(AccountingConfig, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    month = models.DateField(help_text="first day of the month (Europe/London)")
    sequence = models.PositiveSmallIntegerField(default=0, help_text="0 = the month, n = its n-th adjustment")
    reference = models.CharField(max_length=21, help_text="the document number in the ledger (≤ 21 characters)")
    treatment = models.CharField(max_length=16, choices=Treatment.choices)
    supply = models.CharField(max_length=20, help_text="who supplied the usage: wedsync or overseas_provider")
    net_gbp = models.DecimalField(max_digits=14, decimal_places=2)
    vat_gbp = models.DecimalField(max_digits=14, decimal_places=2, help_text="sum of the lines' VAT")
    gross_gbp = models.DecimalField(max_digits=14, decimal_places=2)
    amount_sent_gbp = models.DecimalField(
        max_digits=14, decimal_places=2, help_text="the lines' total as the ledger holds them (net, or gross if no VAT)"
    )
    exact_by_provider = models.JSONField(default=dict, help_text="the month's unrounded GBP cost per AI provider")
    lines = models.JSONField(default=list)
    report = models.JSONField(default=dict, help_text="the monthly cost report the document was built from")
    document = models.JSONField(default=dict, help_text="exactly what is sent to the vendor")
    retry_item_id = models.BigIntegerField(null=True, blank=True, help_text="its outbox item")
    state = models.CharField(max_length=16, choices=ExportState.choices, default=ExportState.QUEUED)
    state_reason = models.TextField(blank=True)
    vendor_entity_type = models.CharField(max_length=40, blank=True)
    vendor_entity_id = models.CharField(max_length=128, blank=True)
    vendor_sync_token = models.CharField(max_length=32, blank=True)
    vendor_state = models.JSONField(default=dict, blank=True, help_text="what the vendor held when last read back")
    first_attempt_at = models.DateTimeField(
        null=True, blank=True, help_text="first send: a later retry outside the vendor's idempotency window looks first"
    )
    sent_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True, help_text="last read back from the vendor")
    created_at = models.DateTimeField(default=timezone.now)
    correlation_id = models.CharField(max_length=64, default=get_correlation_id)

    class Meta:
        ordering = ["-month", "organisation__name", "provider", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "provider", "month", "sequence"], name="accounting_export_once"
            )
        ]
        indexes = [models.Index(fields=["state", "created_at"], name="accounting_export_state")]

    def __str__(self) -> str:
        return f"{self.reference} ({self.provider}, {self.month:%Y-%m})"

    @property
    def month_label(self) -> str:
        return f"{self.month:%Y-%m}"

    @property
    def is_adjustment(self) -> bool:
        return self.sequence > 0

    def exact_total(self) -> Decimal:
        return sum((Decimal(value) for value in self.exact_by_provider.values()), Decimal(0))


class ExportConfirmation(models.Model):
    """A ledger told us (webhook) an entity was created, changed, voided or deleted: the evidence
    that an export landed, matched to the export whose vendor id it names (confirmations.py).

    Moved here from the webhooks app, which only carries events: the rows it recorded were copied
    by migration accounting 0002."""

    source = models.CharField(max_length=20, help_text="quickbooks, xero or freshbooks")
    organisation = models.ForeignKey("tenants.Organisation", on_delete=models.CASCADE, related_name="+")
    # SET_NULL: confirmations are evidence and outlive the purge of old inbound events
    inbound_event = models.ForeignKey(
        "webhooks.InboundEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    vendor_account = models.CharField(max_length=64, blank=True, help_text="realmId / tenantId / account_id")
    entity_type = models.CharField(max_length=64)
    entity_id = models.CharField(max_length=128)
    operation = models.CharField(max_length=32)
    occurred_at = models.DateTimeField(null=True, blank=True)
    export = models.ForeignKey(MonthlyExport, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    matched_item_id = models.BigIntegerField(null=True, blank=True)
    matched_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["inbound_event", "entity_type", "entity_id", "operation"], name="accounting_confirmation_once"
            )
        ]
        indexes = [
            models.Index(
                fields=["organisation", "source", "entity_type", "entity_id"], name="accounting_confirm_entity"
            )
        ]

    def __str__(self) -> str:
        return f"{self.source} {self.entity_type} {self.entity_id} {self.operation}"
