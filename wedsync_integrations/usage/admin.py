"""Admin for AI usage: exchange rates staff keep, and read-only views of records, rollups, tokens."""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import admin
from django.db import transaction
from django.utils import timezone

from wedsync_integrations.calendar import LONDON
from wedsync_integrations.integrations.admin import ReadOnlyAdmin

from .models import AIUsageRecord, ExchangeRate, UsageRollup, UsageToken
from .tasks import price_pending

logger = logging.getLogger("wedsync.usage.admin")


def usd_gbp_plausible() -> tuple[Decimal, Decimal]:
    """A USD→GBP rate outside this band (settings.USAGE_USD_GBP_PLAUSIBLE) is a typo (79 for 0.79)
    or the inverse GBP→USD rate (1.27), not a market: the pound's all-time low was about 1.04 USD."""
    low, high = settings.USAGE_USD_GBP_PLAUSIBLE
    return Decimal(low), Decimal(high)


class ExchangeRateForm(forms.ModelForm):
    class Meta:
        model = ExchangeRate
        fields = ["date", "base", "quote", "rate", "source"]
        help_texts = {
            "rate": "GBP per 1 USD, e.g. 0.790000. Priced records keep the rate they were priced with; "
            "records still waiting for a rate (GBP pending) are priced as soon as this is saved.",
            "date": "Ingest uses the latest rate on or before each record's Europe/London date.",
        }

    def clean_base(self):
        return self._currency("base")

    def clean_quote(self):
        return self._currency("quote")

    def _currency(self, name: str) -> str:
        value = (self.cleaned_data.get(name) or "").strip().upper()
        if len(value) != 3 or not value.isalpha():
            raise forms.ValidationError("A three-letter ISO 4217 code, e.g. USD.")
        return value

    def clean_date(self):
        day = self.cleaned_data["date"]
        tomorrow = timezone.now().astimezone(LONDON).date() + timedelta(days=1)
        if day > tomorrow:
            raise forms.ValidationError("A rate cannot be dated after tomorrow.")
        return day

    def clean(self):
        cleaned = super().clean()
        base, quote, rate = cleaned.get("base"), cleaned.get("quote"), cleaned.get("rate")
        if base and quote and base == quote:
            raise forms.ValidationError("Base and quote currencies must differ.")
        if rate is not None and rate <= 0:
            self.add_error("rate", "A rate must be greater than zero.")
        elif (base, quote) == ("USD", "GBP") and rate is not None:
            low, high = usd_gbp_plausible()
            if not low <= rate <= high:
                self.add_error(
                    "rate",
                    f"{rate} GBP per USD is implausible (expected {low}–{high}); "
                    "check it is GBP per 1 USD and not the inverse.",
                )
        return cleaned


@admin.register(ExchangeRate)
class ExchangeRateAdmin(admin.ModelAdmin):
    form = ExchangeRateForm
    list_display = ["date", "base", "quote", "rate", "source", "created_at"]
    list_filter = ["base", "quote"]
    search_fields = ["source"]
    date_hierarchy = "date"
    ordering = ["-date"]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        transaction.on_commit(_price_pending_soon)
        waiting = AIUsageRecord.objects.filter(cost_gbp__isnull=True).count()
        if waiting:
            self.message_user(request, f"{waiting} AI usage record(s) waiting for a rate are being priced now.")


def _price_pending_soon() -> None:
    """Price waiting usage in a worker; if the broker is down beat's five-minute run does it."""
    try:
        price_pending.delay()
    except Exception:
        logger.warning("usage.price_pending_not_queued: beat's safety-net run will price the waiting usage")


class GbpPendingFilter(admin.SimpleListFilter):
    title = "GBP cost"
    parameter_name = "gbp"

    def lookups(self, request, model_admin):
        return [("pending", "waiting for an exchange rate"), ("priced", "priced")]

    def queryset(self, request, queryset):
        if self.value() in ("pending", "priced"):
            return queryset.filter(cost_gbp__isnull=self.value() == "pending")
        return queryset


class RecentValuesFilter(admin.SimpleListFilter):
    """Choices from the last 90 days of rollups: Django's default would run SELECT DISTINCT over
    every raw record on each page view."""

    field: str

    def lookups(self, request, model_admin):
        since = timezone.now() - timedelta(days=90)
        values = (
            UsageRollup.objects.filter(hour__gte=since)
            .order_by(self.field)
            .values_list(self.field, flat=True)
            .distinct()
        )
        return [(value, value) for value in values]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(**{self.field: value}) if value else queryset


class ProviderFilter(RecentValuesFilter):
    title = parameter_name = field = "provider"


class FeatureFilter(RecentValuesFilter):
    title = parameter_name = field = "feature"


@admin.register(AIUsageRecord)
class AIUsageRecordAdmin(ReadOnlyAdmin):
    list_display = [
        "request_id",
        "organisation",
        "occurred_at",
        "feature",
        "provider",
        "model",
        "outcome",
        "total_tokens",
        "latency_ms",
        "cost_usd",
        "cost_gbp",
        "wedding_date",
    ]
    list_filter = ["outcome", GbpPendingFilter, ProviderFilter, FeatureFilter, "organisation"]
    search_fields = ["=request_id"]
    list_select_related = ["organisation"]
    show_full_result_count = False  # no COUNT(*) over millions of rows on every page
    ordering = ["-id"]  # newest first by arrival, along the primary key: no sort of the whole table
    readonly_fields = [field.name for field in AIUsageRecord._meta.fields]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("organisation", "wedding__organisation")


@admin.register(UsageRollup)
class UsageRollupAdmin(ReadOnlyAdmin):
    list_display = [
        "hour",
        "organisation",
        "feature",
        "provider",
        "model",
        "requests",
        "errors",
        "cost_gbp",
        "unpriced_requests",
        "latency_p50_ms",
        "latency_p95_ms",
        "weddings_assisted",
        "computed_at",
    ]
    list_filter = ["provider", "feature", "organisation"]
    list_select_related = ["organisation"]
    search_fields = ["organisation__slug", "model"]
    ordering = ["-hour"]
    readonly_fields = [field.name for field in UsageRollup._meta.fields]


@admin.register(UsageToken)
class UsageTokenAdmin(ReadOnlyAdmin):
    """Which tokens exist and when they were revoked. The hash is never shown."""

    list_display = ["organisation", "prefix", "is_active", "created_at", "created_by", "revoked_at"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter)]
    search_fields = ["organisation__slug", "organisation__name", "prefix"]
    list_select_related = ["organisation"]
    fields = ["organisation", "prefix", "created_at", "created_by", "revoked_at"]
    readonly_fields = fields

    @admin.display(boolean=True, description="Active")
    def is_active(self, obj: UsageToken) -> bool:
        return obj.revoked_at is None
