"""The CRM family: the kernel's four models, the reports queued for each CRM, and the CRM jobs
(Tave bookings) linked to the organisation's weddings."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from wedsync_integrations.integrations.models import (
    AuditEntryBase,
    ProviderConfigBase,
    RetryItemBase,
    SyncLogBase,
)


class CRMConfig(ProviderConfigBase):
    family_name = "crm"

    class Meta(ProviderConfigBase.Meta):
        verbose_name = "CRM configuration"


class CRMSyncLog(SyncLogBase):
    class Meta(SyncLogBase.Meta):
        verbose_name = "CRM sync log"


class CRMAuditEntry(AuditEntryBase):
    class Meta(AuditEntryBase.Meta):
        verbose_name = "CRM audit entry"
        verbose_name_plural = "CRM audit entries"


class CRMRetryItem(RetryItemBase):
    class Meta(RetryItemBase.Meta):
        verbose_name = "CRM outbox item"


class ReportKind(models.TextChoices):
    MONTH = "month", "Monthly value report"
    WEDDING = "wedding", "Wedding note"


class CRMReport(models.Model):
    """One report queued for one CRM configuration: the figures as they were computed, and the
    outbox item carrying the vendor payload (whose state, delivery time and vendor reference say
    what the CRM received and when).

    Written in the transaction that queues the item, so a month (or a wedding) is sent to a
    configuration once: a later sync finds the row and queues nothing. `report_id` is stable per
    organisation and period; every resend carries it.
    """

    config = models.ForeignKey(CRMConfig, on_delete=models.CASCADE, related_name="reports")
    organisation = models.ForeignKey("tenants.Organisation", on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=40)
    kind = models.CharField(max_length=16, choices=ReportKind.choices, default=ReportKind.MONTH)
    period = models.DateField(help_text="first day of the month reported, or the wedding's date")
    wedding = models.ForeignKey("tenants.Wedding", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    report_id = models.CharField(
        max_length=120, help_text="stable per organisation and period, e.g. wedsync:acme:2026-06"
    )
    figures = models.JSONField(help_text="the report's figures as sent")
    item = models.OneToOneField(CRMRetryItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="report")
    queued_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-period", "organisation__name", "provider"]
        verbose_name = "report sent to a CRM"
        verbose_name_plural = "reports sent to CRMs"
        constraints = [models.UniqueConstraint(fields=["config", "report_id"], name="crm_report_once_per_config")]
        indexes = [models.Index(fields=["organisation", "kind", "-period"], name="crm_report_recent")]

    def __str__(self) -> str:
        return f"{self.report_id} → {self.provider}"


class JobLink(models.Model):
    """A CRM job (a Tave booking) and the organisation's Wedding it is.

    Made from the job as the CRM's API returned it (re-read on each event naming the job, never
    taken from the webhook body), so alerts see the studio's weddings of the day and the wedding
    gets its "AI help" note on the job after the date. A job with no event date yet has no
    wedding; the next event naming it links it.
    """

    organisation = models.ForeignKey("tenants.Organisation", on_delete=models.CASCADE, related_name="+")
    provider = models.CharField(max_length=40, default="tave")
    job_id = models.CharField(max_length=40)
    wedding = models.ForeignKey(
        "tenants.Wedding", null=True, blank=True, on_delete=models.SET_NULL, related_name="crm_jobs"
    )
    job_name = models.CharField(max_length=255, blank=True)
    event_date = models.DateField(null=True, blank=True)
    stage = models.CharField(max_length=20, blank=True)
    manager_url = models.URLField(max_length=500, blank=True, help_text="the job in the CRM's own app")
    linked_at = models.DateTimeField(default=timezone.now)
    refreshed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-event_date"]
        verbose_name = "CRM job linked to a wedding"
        verbose_name_plural = "CRM jobs linked to weddings"
        constraints = [models.UniqueConstraint(fields=["organisation", "provider", "job_id"], name="crm_job_link_once")]

    def __str__(self) -> str:
        return f"{self.provider} job {self.job_id} → {self.wedding or 'no wedding yet'}"


class MonthlyUsage(models.Model):
    """One organisation's AI usage in one London month, summed once from the hourly rollups when the
    month has closed and its rollups are final: the monthly reports' input (value.monthly_usage),
    so a report reads a year of history as a dozen small rows instead of a year of rollups. A
    month without usage has a row of zeros (it was summed, and there was nothing)."""

    organisation = models.ForeignKey("tenants.Organisation", on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text="first day of the month")
    requests = models.PositiveIntegerField()
    errors = models.PositiveIntegerField()
    latency_sum_ms = models.PositiveBigIntegerField()
    wedding_window_requests = models.PositiveIntegerField(help_text="requests in the Friday 18:00–Sunday 23:00 window")
    weddings_assisted = models.PositiveIntegerField(help_text="distinct weddings helped in the month")
    computed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "monthly AI usage"
        verbose_name_plural = "monthly AI usage"
        constraints = [models.UniqueConstraint(fields=["organisation", "month"], name="crm_monthly_usage_once")]
        indexes = [models.Index(fields=["month"], name="crm_monthly_usage_month")]

    def __str__(self) -> str:
        return f"{self.organisation_id} {self.month:%Y-%m}: {self.requests} requests"
