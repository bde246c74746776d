"""AI usage: one row per AI request the platform served, and the hourly rollups exporters read."""

import uuid

from django.db import models

from wedsync_integrations.tenants.models import Organisation, Wedding


class Outcome(models.TextChoices):
    OK = "ok", "OK"
    ERROR = "error", "Error"


class ExchangeRate(models.Model):
    """USD→GBP rate per day, kept by staff in admin. Ingest uses the latest rate on or before
    the record's London date and stores the rate it used with the record."""

    date = models.DateField()
    base = models.CharField(max_length=3, default="USD")
    quote = models.CharField(max_length=3, default="GBP")
    rate = models.DecimalField(max_digits=12, decimal_places=6, help_text="quote units per 1 base unit")
    source = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-date"]
        constraints = [
            models.UniqueConstraint(fields=["base", "quote", "date"], name="usage_rate_unique_per_day"),
            models.CheckConstraint(condition=models.Q(rate__gt=0), name="usage_rate_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.date} 1 {self.base} = {self.rate} {self.quote}"


class UsageToken(models.Model):
    """An organisation's ingest token, stored only as a SHA-256 hash; at most one is active."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="usage_tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12, help_text="first characters, to recognise a token")
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation"],
                condition=models.Q(revoked_at__isnull=True),
                name="usage_one_active_token_per_org",
            )
        ]

    def __str__(self) -> str:
        return f"{self.prefix}… ({'revoked' if self.revoked_at else 'active'})"


class AIUsageRecord(models.Model):
    """One AI request. Idempotent on (organisation, request_id): a resend stores nothing new."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="usage_records")
    request_id = models.CharField(max_length=128)
    occurred_at = models.DateTimeField()
    hour = models.DateTimeField(help_text="occurred_at truncated to the UTC hour, for rollups")
    feature = models.CharField(max_length=64)
    provider = models.CharField(max_length=32)
    model = models.CharField(max_length=64)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField()
    cost_usd = models.DecimalField(max_digits=14, decimal_places=6)
    # Both empty while no USD→GBP rate exists on or before the record's London date: the record
    # is stored all the same ("GBP pending") and priced when a rate arrives (usage/pricing.py).
    cost_gbp = models.DecimalField(max_digits=14, decimal_places=6, null=True, blank=True)
    usd_gbp_rate = models.DecimalField(max_digits=12, decimal_places=6, null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    error_type = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True, help_text="first 500 characters")
    quality_score = models.FloatField(null=True, blank=True)
    wedding = models.ForeignKey(Wedding, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    wedding_date = models.DateField(null=True, blank=True)
    venue_region = models.CharField(max_length=64, blank=True)
    vendor_type = models.CharField(max_length=32, blank=True)
    user_ref = models.CharField(max_length=64, blank=True)
    ingest_batch = models.UUIDField(default=uuid.uuid4, db_index=True)
    ingested_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organisation", "request_id"], name="usage_request_id_unique"),
        ]
        indexes = [
            # The rollup reads raw rows only through this index (PostgreSQL: index-only, already
            # in grouping and latency order, so no sort and no heap access). Hour leads so that
            # ingest appends to its right-hand edge instead of scattering over the tree; it also
            # serves every (hour, organisation) lookup, so no narrower index is kept beside it.
            models.Index(
                fields=["hour", "organisation", "feature", "provider", "model", "latency_ms"],
                include=[
                    "outcome",
                    "prompt_tokens",
                    "completion_tokens",
                    "cost_usd",
                    "cost_gbp",
                    "wedding",
                    "wedding_date",
                    "quality_score",
                ],
                name="usage_rollup_source",
            ),
            # the few records waiting for an exchange rate, found without scanning the rest
            models.Index(fields=["occurred_at"], condition=models.Q(cost_gbp__isnull=True), name="usage_gbp_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.organisation_id}:{self.request_id}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class RollupDirtyHour(models.Model):
    """An (organisation, hour) whose raw rows changed since its rollup was computed.

    Ingest upserts the marker with a fresh token in the same transaction as the records; the
    rollup task deletes it only if the token is still the one it read, so records committed
    while an hour was being recomputed always trigger another recompute.
    """

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+")
    hour = models.DateTimeField()
    token = models.UUIDField(default=uuid.uuid4)
    marked_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["organisation", "hour"], name="usage_dirty_hour_unique")]

    def __str__(self) -> str:
        return f"{self.organisation_id} @ {self.hour:%Y-%m-%d %H}:00Z"


class UsageRollup(models.Model):
    """Hourly aggregate per (organisation, hour, feature, provider, model). Exporters read these.

    Derived data: the organisation reference is not a database constraint (its per-row check
    at commit was a third of the cost of writing rollups); the rows it derives from carry the
    constraint, and deleting an organisation still cascades here through the ORM.
    """

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="usage_rollups", db_constraint=False
    )
    hour = models.DateTimeField()
    feature = models.CharField(max_length=64)
    provider = models.CharField(max_length=32)
    model = models.CharField(max_length=64)
    requests = models.PositiveIntegerField()
    errors = models.PositiveIntegerField()
    prompt_tokens = models.PositiveBigIntegerField()
    completion_tokens = models.PositiveBigIntegerField()
    cost_usd = models.DecimalField(max_digits=16, decimal_places=6)
    cost_gbp = models.DecimalField(
        max_digits=16, decimal_places=6, help_text="GBP cost of the priced requests (see unpriced_requests)"
    )
    unpriced_requests = models.PositiveIntegerField(
        default=0, help_text="requests whose GBP cost still awaits an exchange rate: cost_gbp is then incomplete"
    )
    latency_sum_ms = models.PositiveBigIntegerField()
    latency_min_ms = models.PositiveIntegerField(
        null=True, blank=True, help_text="fastest request (with count, sum and max: a summary); null if unknown"
    )
    latency_max_ms = models.PositiveIntegerField()
    latency_p50_ms = models.FloatField()
    latency_p95_ms = models.FloatField()
    weddings_assisted = models.PositiveIntegerField(help_text="distinct weddings helped in this hour")
    wedding_requests = models.PositiveIntegerField(help_text="requests tied to a wedding")
    quality_sum = models.FloatField(default=0)
    quality_count = models.PositiveIntegerField(default=0)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Hour first: rollups are written in hour order (appending to the index) and read by
        # hour range, for all organisations or one; the constraint's index serves both.
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "organisation", "feature", "provider", "model"], name="usage_rollup_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.organisation_id} @ {self.hour:%Y-%m-%d %H}:00Z {self.feature}/{self.provider}/{self.model}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def gbp_known(self) -> bool:
        """Whether cost_gbp is the whole hour's cost (no request still waits for a rate). An
        exporter must withhold GBP figures until it is: a pending cost is never sent as zero."""
        return self.unpriced_requests == 0


class RollupWedding(models.Model):
    """The distinct weddings assisted per (organisation, hour), so "weddings assisted" can be
    counted over any period without double-counting a wedding helped in several hours.
    Derived data, so no database constraint on the organisation (see UsageRollup)."""

    organisation = models.ForeignKey(Organisation, on_delete=models.CASCADE, related_name="+", db_constraint=False)
    hour = models.DateTimeField()
    wedding_key = models.CharField(max_length=64, help_text="wedding id, or the wedding date if unknown")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["hour", "organisation", "wedding_key"], name="usage_rollup_wedding_unique")
        ]

    def __str__(self) -> str:
        return f"{self.organisation_id} @ {self.hour:%Y-%m-%d %H}:00Z {self.wedding_key}"
