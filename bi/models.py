"""BI models: the kernel's four per family, the executive metrics (stored, so admin shows them with
their gate status and every tool receives the same figures), staff inputs, what each tool has
received, and Power BI's ledger of sent row batches."""

from __future__ import annotations

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from wedsync_integrations.integrations.models import AuditEntryBase, ProviderConfigBase, RetryItemBase, SyncLogBase

PLATFORM = "platform"


def scope_key_of(organisation_id: int | None) -> str:
    """'platform' for the whole platform, 'org:<id>' for one organisation (NULL-free, so unique)."""
    return PLATFORM if organisation_id is None else f"org:{organisation_id}"


class BIConfig(ProviderConfigBase):
    family_name = "bi"

    class Meta(ProviderConfigBase.Meta):
        verbose_name = "BI configuration"


class BISyncLog(SyncLogBase):
    class Meta(SyncLogBase.Meta):
        verbose_name = "BI sync log"


class BIAuditEntry(AuditEntryBase):
    class Meta(AuditEntryBase.Meta):
        verbose_name = "BI audit entry"
        verbose_name_plural = "BI audit entries"


class BIRetryItem(RetryItemBase):
    class Meta(RetryItemBase.Meta):
        verbose_name = "BI retry item"


class Period(models.TextChoices):
    DAY = "day", "Day"
    MONTH = "month", "Month"


class ExecutiveMetrics(models.Model):
    """The executive metrics of one scope (an organisation, or the platform) for one London day or
    month, computed from usage rollups (bi/metrics.py documents every formula). Rows are rewritten
    when their figures change; `changed_at` moves only then, so tools receive only what changed."""

    scope_key = models.CharField(max_length=32, help_text="'platform' or 'org:<id>'")
    organisation = models.ForeignKey(
        "tenants.Organisation", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        help_text="empty for the platform-wide row",
    )  # fmt: skip
    period = models.CharField(max_length=8, choices=Period.choices)
    period_start = models.DateField(help_text="first London day of the period")
    period_end = models.DateField(help_text="first London day after the period")
    season = models.CharField(max_length=16)
    is_complete = models.BooleanField(default=False, help_text="the period has ended and every hour of it is counted")
    as_of = models.DateTimeField(help_text="usage counted up to (not including) this instant: finished, clean hours")
    # additive sums (months and the platform add these up)
    requests = models.PositiveBigIntegerField(default=0)
    errors = models.PositiveBigIntegerField(default=0)
    tokens = models.PositiveBigIntegerField(default=0)
    cost_gbp = models.DecimalField(max_digits=20, decimal_places=6, default=0)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=6, default=0)
    unpriced_requests = models.PositiveBigIntegerField(default=0)
    latency_sum_ms = models.PositiveBigIntegerField(default=0)
    quality_sum = models.FloatField(default=0)
    quality_count = models.PositiveBigIntegerField(default=0)
    wedding_requests = models.PositiveBigIntegerField(default=0)
    window_requests = models.PositiveBigIntegerField(default=0, help_text="requests in the wedding-day window")
    window_errors = models.PositiveBigIntegerField(default=0)
    active_hours = models.PositiveIntegerField(default=0)
    down_hours = models.PositiveIntegerField(default=0)
    max_hour_requests = models.PositiveBigIntegerField(default=0)
    value_generated_gbp = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    efficiency_gain_hours = models.DecimalField(max_digits=20, decimal_places=4, default=0)
    # not additive
    weddings_ai_assisted = models.PositiveBigIntegerField(default=0)
    active_vendors = models.PositiveIntegerField(default=0)
    vendors_total = models.PositiveIntegerField(default=0)
    active_days = models.PositiveIntegerField(default=0)
    # derived (None where the formula has no defined value, e.g. cost per wedding with no wedding)
    cost_per_wedding_gbp = models.DecimalField(max_digits=20, decimal_places=4, null=True, blank=True)
    roi_percent = models.FloatField(null=True, blank=True)
    cost_trend_30d_percent = models.FloatField(null=True, blank=True)
    adoption_rate_percent = models.FloatField(null=True, blank=True)
    client_satisfaction_percent = models.FloatField(null=True, blank=True)
    peak_season_readiness_percent = models.FloatField(null=True, blank=True)
    capacity_utilisation_percent = models.FloatField(null=True, blank=True)
    seasonal_cost_variation_percent = models.FloatField(null=True, blank=True)
    uptime_percent = models.FloatField(null=True, blank=True)
    avg_response_ms = models.FloatField(null=True, blank=True)
    error_rate_percent = models.FloatField(null=True, blank=True)
    # data-quality gates (bi/gates.py), judged when computed and again before every push
    gate_passed = models.BooleanField(default=False)
    gate_failures = models.JSONField(default=list, blank=True)
    digest = models.CharField(max_length=64)
    computed_at = models.DateTimeField()
    changed_at = models.DateTimeField(db_index=True, help_text="when the figures last changed")

    class Meta:
        verbose_name = "executive metrics"
        verbose_name_plural = "executive metrics"
        ordering = ["-period_start", "period", "scope_key"]
        constraints = [
            models.UniqueConstraint(fields=["scope_key", "period", "period_start"], name="bi_metrics_unique"),
        ]
        indexes = [models.Index(fields=["period", "period_start", "scope_key"], name="bi_metrics_by_day")]

    def __str__(self) -> str:
        who = self.organisation.slug if self.organisation_id else PLATFORM
        return f"{who} · {self.period} {self.period_start:%Y-%m-%d}"

    @property
    def row_key(self) -> str:
        return f"{self.scope_key}:{self.period}:{self.period_start.isoformat()}"


class FeatureUsage(models.Model):
    """The feature usage breakdown of one metrics row (requests and GBP cost per AI feature)."""

    metrics = models.ForeignKey(ExecutiveMetrics, on_delete=models.CASCADE, related_name="features")
    feature = models.CharField(max_length=64)
    requests = models.PositiveBigIntegerField(default=0)
    cost_gbp = models.DecimalField(max_digits=20, decimal_places=6, default=0)
    unpriced_requests = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["metrics", "feature"], name="bi_feature_unique")]
        ordering = ["-requests"]

    def __str__(self) -> str:
        return f"{self.metrics} · {self.feature}"


class CompetitivePosition(models.TextChoices):
    LEADING = "leading", "Leading"
    AT_PARITY = "at_parity", "At parity"
    BEHIND = "behind", "Behind"


class StaffInput(models.Model):
    """What cannot be computed from usage, typed in by staff for a month: exported beside the
    computed metrics as `staff_*` columns, so every dashboard shows they are staff inputs."""

    scope_key = models.CharField(max_length=32, editable=False)
    organisation = models.ForeignKey(
        "tenants.Organisation", null=True, blank=True, on_delete=models.CASCADE, related_name="+",
        help_text="empty for the platform",
    )  # fmt: skip
    month = models.DateField(help_text="first day of the month it applies to")
    competitive_position = models.CharField(
        max_length=16, choices=CompetitivePosition.choices, blank=True,
        help_text="STAFF INPUT: position against competing platforms (e.g. HoneyBook); not computed",
    )  # fmt: skip
    feature_parity_percent = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="STAFF INPUT: share of competitors' AI features WedSync offers (0-100); not computed",
    )  # fmt: skip
    note = models.TextField(blank=True)
    updated_by = models.CharField(max_length=150, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "staff input (not computed)"
        verbose_name_plural = "staff inputs (not computed)"
        constraints = [models.UniqueConstraint(fields=["scope_key", "month"], name="bi_staff_input_unique")]

    def __str__(self) -> str:
        return f"{self.organisation or PLATFORM} · {self.month:%Y-%m}"

    def save(self, *args, **kwargs):
        self.month = self.month.replace(day=1)
        self.scope_key = scope_key_of(self.organisation_id)
        super().save(*args, **kwargs)


class RefreshState(models.Model):
    """Singleton: how far the metrics follow the rollups."""

    rollups_seen_up_to = models.DateTimeField(null=True, blank=True, help_text="newest rollup computed_at folded in")
    as_of = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    reporting_loaded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "refresh state"

    def __str__(self) -> str:
        return f"metrics as of {self.as_of}"

    @classmethod
    def get(cls) -> RefreshState:
        return cls.objects.get_or_create(pk=1)[0]


class Destination(models.Model):
    """What one configuration's tool has: the vendor object we write to (Power BI dataset, Tableau
    data source, Looker datagroup), how far the pushes got, what it last received, the last gate."""

    config = models.OneToOneField(BIConfig, on_delete=models.CASCADE, related_name="destination")
    vendor_object_id = models.CharField(max_length=200, blank=True)
    vendor_object_name = models.CharField(max_length=200, blank=True)
    found_or_created = models.CharField(max_length=16, blank=True, help_text="found by name, or created by us")
    queued_up_to = models.DateTimeField(null=True, blank=True, help_text="metrics changed up to here are queued")
    last_received = models.JSONField(default=dict, blank=True)
    last_received_at = models.DateTimeField(null=True, blank=True)
    gate_passed = models.BooleanField(null=True)
    gate_failures = models.JSONField(default=list, blank=True)
    gate_checked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.config}: {self.vendor_object_name or '-'}"


class PowerBIBatch(models.Model):
    """Ledger of row batches Power BI answered 200 to. POST rows has no idempotency key: a retried
    outbox item sends only the batches that are not in here."""

    config = models.ForeignKey(BIConfig, on_delete=models.CASCADE, related_name="+")
    dataset_id = models.CharField(max_length=64)
    table = models.CharField(max_length=64)
    batch_key = models.CharField(max_length=250, unique=True)
    rows = models.PositiveIntegerField()
    sent_at = models.DateTimeField()

    class Meta:
        verbose_name = "Power BI sent batch"
        ordering = ["-sent_at"]

    def __str__(self) -> str:
        return f"{self.batch_key} ({self.rows} rows)"
