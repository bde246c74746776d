"""BI admin: the kernel's config, log, audit and retry-queue (replay) admins; per configuration what
its tool last received and its last gate verdict, with "sync now"; the executive metrics per
organisation and platform with their gate status and breakdown; staff inputs, labelled as such."""

from __future__ import annotations

from datetime import timedelta

from django.contrib import admin
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from wedsync_integrations.integrations import audit
from wedsync_integrations.integrations.admin import (
    ProviderConfigAdmin,
    ReadOnlyAdmin,
    pretty_json,
    register_family_admin,
    sync_configs_now,
    sync_summary,
)

from .family import FAMILY
from .models import Destination, ExecutiveMetrics, FeatureUsage, PowerBIBatch, StaffInput
from .providers.powerbi import RETIREMENT_NOTE


def _gate_badge(passed, failures) -> str:
    if passed is None:
        return "-"
    if passed:
        return mark_safe('<b style="color:#1a7f37">passed</b>')  # noqa: S308 (a constant)
    return format_html(
        '<b style="color:#cf222e">failed</b><ul style="margin:0">{}</ul>',
        format_html_join("", "<li>{}</li>", ((failure,) for failure in (failures or [])[:10])),
    )


class BIConfigAdmin(ProviderConfigAdmin):
    list_display = [*ProviderConfigAdmin.list_display, "last_gate", "last_received_at"]
    list_select_related = ["organisation", "destination"]
    readonly_fields = [*ProviderConfigAdmin.readonly_fields, "tool_object", "last_gate", "last_received",
                       "last_received_at", "power_bi_note"]  # fmt: skip
    actions = [*ProviderConfigAdmin.actions, "sync_now"]

    def _destination(self, obj) -> Destination | None:
        try:
            return obj.destination
        except (Destination.DoesNotExist, AttributeError):
            return None

    @admin.display(description="vendor object (dataset / data source / datagroup)")
    def tool_object(self, obj):
        destination = self._destination(obj)
        if destination is None or not destination.vendor_object_id:
            return "not created or found yet (the first push does)"
        return f"{destination.vendor_object_name} ({destination.vendor_object_id}, {destination.found_or_created})"

    @admin.display(description="last gate")
    def last_gate(self, obj):
        destination = self._destination(obj)
        return _gate_badge(destination.gate_passed, destination.gate_failures) if destination else "-"

    @admin.display(description="last received")
    def last_received(self, obj):
        destination = self._destination(obj)
        return pretty_json(destination.last_received) if destination and destination.last_received else "nothing yet"

    @admin.display(description="last received at", ordering="destination__last_received_at")
    def last_received_at(self, obj):
        destination = self._destination(obj)
        return destination.last_received_at if destination else None

    @admin.display(description="Power BI")
    def power_bi_note(self, obj):
        return RETIREMENT_NOTE if obj is not None and obj.provider == "powerbi" else "-"

    @admin.action(description="Sync now: refresh the metrics and push what changed", permissions=["change"])
    def sync_now(self, request, queryset):
        sync_configs_now(self, request, queryset, summary=_sync_summary)


def _sync_summary(result) -> tuple[str, bool]:
    text, failed = sync_summary(result)
    gate = result.detail.get("gate_failures")
    if gate:
        return f"{text}; blocked by the data-quality gate: {gate[0]}", True
    return text, failed


class FeatureUsageInline(admin.TabularInline):
    model = FeatureUsage
    fields = ["feature", "requests", "cost_gbp", "unpriced_requests"]
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ExecutiveMetrics)
class ExecutiveMetricsAdmin(ReadOnlyAdmin):
    list_display = ["period_start", "period", "scope", "requests", "ai_cost", "roi_percent", "weddings_ai_assisted",
                    "uptime_percent", "error_rate_percent", "is_complete", "gate"]  # fmt: skip
    list_filter = ["period", "gate_passed", "is_complete", "season"]
    search_fields = ["organisation__slug", "organisation__name", "scope_key"]
    list_select_related = ["organisation"]
    date_hierarchy = "period_start"
    inlines = [FeatureUsageInline]
    exclude = ["gate_failures"]
    readonly_fields = ["gate"]

    @admin.display(description="scope", ordering="scope_key")
    def scope(self, obj):
        return obj.organisation.name if obj.organisation_id else mark_safe("<b>Platform</b>")  # noqa: S308 (a constant)

    @admin.display(description="AI cost (GBP)", ordering="cost_gbp")
    def ai_cost(self, obj):
        text = f"£{obj.cost_gbp:,.2f}"
        return f"{text} (+{obj.unpriced_requests} awaiting a rate)" if obj.unpriced_requests else text

    @admin.display(description="gate", ordering="gate_passed")
    def gate(self, obj):
        return _gate_badge(obj.gate_passed, obj.gate_failures)


@admin.register(StaffInput)
class StaffInputAdmin(admin.ModelAdmin):
    list_display = [
        "month",
        "organisation",
        "competitive_position",
        "feature_parity_percent",
        "updated_by",
        "updated_at",
    ]
    list_filter = ["competitive_position"]
    readonly_fields = ["updated_by", "updated_at"]
    fieldsets = [(
        "Staff inputs — typed in by staff, not computed from usage; exported as staff_* columns",
        {"fields": ["organisation", "month", "competitive_position", "feature_parity_percent", "note",
                    "updated_by", "updated_at"]},
    )]  # fmt: skip

    def save_model(self, request, obj, form, change):
        obj.updated_by = audit.actor_for_user(request.user)
        super().save_model(request, obj, form, change)
        # the rows of that month carry the input: they change, so the tools receive it
        month_end = (obj.month.replace(day=28) + timedelta(days=4)).replace(day=1)
        ExecutiveMetrics.objects.filter(
            scope_key=obj.scope_key, period_start__gte=obj.month, period_start__lt=month_end
        ).update(changed_at=timezone.now())
        audit.record(FAMILY, actor=obj.updated_by, user=request.user, action="staff_input", target=obj,
                     organisation=obj.organisation, summary=f"staff input for {obj.month:%Y-%m}")  # fmt: skip


@admin.register(PowerBIBatch)
class PowerBIBatchAdmin(ReadOnlyAdmin):
    list_display = ["sent_at", "config", "table", "rows", "batch_key"]
    list_filter = ["table"]
    search_fields = ["batch_key", "dataset_id"]


register_family_admin(FAMILY, config_admin=BIConfigAdmin)
