"""Alerts in Django admin: the kernel's config/log/audit/outbox pages, plus alerts with their
deliveries, routing policies and mute windows.

Acknowledge and resolve actions are offered only to members of the "On-call" group (created
by migration 0003) and to superusers (who can grant themselves anything anyway, and are the
break-glass account when the on-call rota is empty). Acknowledging here also sends PagerDuty an
acknowledge event and updates the Slack message, exactly as a Slack or PagerDuty
acknowledgement would (lifecycle.py is the one path for all three).
"""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.utils.html import format_html

from wedsync_integrations.integrations import audit
from wedsync_integrations.integrations.admin import ReadOnlyAdmin, register_family_admin

from . import lifecycle
from .family import FAMILY
from .models import ActionSource, Alert, Delivery, MuteWindow, RoutingPolicy

ON_CALL_GROUP = "On-call"

register_family_admin(FAMILY)


def is_on_call(user) -> bool:
    return bool(user.is_active and (user.is_superuser or user.groups.filter(name=ON_CALL_GROUP).exists()))


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    fields = [
        "started_at",
        "channel",
        "purpose",
        "attempt",
        "status",
        "recipient",
        "http_status",
        "vendor_ref",
        "vendor_status",
        "duration_ms",
        "error",
    ]
    readonly_fields = fields
    ordering = ["-started_at"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


SEVERITY_COLOURS = {"low": "#57606a", "medium": "#9a6700", "high": "#bc4c00", "critical": "#cf222e"}


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = [
        "ref_display",
        "title",
        "organisation",
        "severity_badge",
        "status",
        "occurrence_count",
        "raised_at",
        "acknowledged_by",
        "escalation_level",
        "channels",
    ]
    list_filter = ["status", "effective_severity", "source", "is_test", "acknowledged_via", "resolved_via"]
    search_fields = ["title", "dedup_key", "organisation__slug", "acknowledged_by", "resolved_by"]
    list_select_related = ["organisation"]
    date_hierarchy = "raised_at"
    actions = ["acknowledge_alerts", "resolve_alerts"]
    inlines = [DeliveryInline]
    readonly_fields = [f.name for f in Alert._meta.fields if f.name not in ("slack_response_url",)] + [
        "context_pretty",
        "routing_pretty",
    ]
    exclude = ["slack_response_url", "context", "routing"]

    def has_add_permission(self, request):
        return False  # alerts are raised by the system (or `manage.py alerts test`), not typed in

    def has_delete_permission(self, request, obj=None):
        return False

    def has_acknowledge_permission(self, request):
        return is_on_call(request.user)

    @admin.display(description="alert", ordering="pk")
    def ref_display(self, obj):
        return obj.ref

    @admin.display(description="severity", ordering="effective_severity")
    def severity_badge(self, obj):
        raised = f" (raised {obj.severity})" if obj.severity != obj.effective_severity else ""
        return format_html(
            '<b style="color:{}">{}</b>{}', SEVERITY_COLOURS[obj.effective_severity], obj.effective_severity, raised
        )

    @admin.display(description="channels")
    def channels(self, obj):
        routing = obj.routing or {}
        return "muted" if routing.get("muted_by") else ", ".join(routing.get("channels", []))

    @admin.display(description="wedding context")
    def context_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.context, indent=2, sort_keys=True))

    @admin.display(description="routing snapshot")
    def routing_pretty(self, obj):
        return format_html("<pre>{}</pre>", json.dumps(obj.routing, indent=2, sort_keys=True))

    @admin.action(description="Acknowledge (stops escalation; tells PagerDuty and Slack)", permissions=["acknowledge"])
    def acknowledge_alerts(self, request, queryset):
        self._act(request, queryset, lifecycle.acknowledge)

    @admin.action(description="Resolve (tells PagerDuty and Slack)", permissions=["acknowledge"])
    def resolve_alerts(self, request, queryset):
        self._act(request, queryset, lifecycle.resolve)

    def _act(self, request, queryset, action):
        actor = audit.actor_for_user(request.user)
        changed = 0
        for alert_id in queryset.values_list("pk", flat=True):
            result = action(alert_id, by=actor, via=ActionSource.ADMIN, user=request.user)
            changed += result.changed
            if not result.changed:
                self.message_user(request, f"al_{alert_id}: {result.message}", messages.WARNING)
        if changed:
            self.message_user(request, f"{changed} alert(s) updated; PagerDuty and Slack are being told.")


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "started_at",
        "alert",
        "channel",
        "purpose",
        "attempt",
        "status",
        "recipient",
        "http_status",
        "vendor_ref",
        "vendor_status",
        "duration_ms",
    ]
    list_filter = ["status", "channel", "purpose", "vendor_status"]
    search_fields = ["vendor_ref", "recipient", "notification_key", "alert__title"]
    list_select_related = ["alert"]
    date_hierarchy = "started_at"


class AuditedAdmin(admin.ModelAdmin):
    """Policy and mute-window edits change who gets woken up: each one leaves an audit entry."""

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit.record(
            FAMILY,
            actor=audit.actor_for_user(request.user),
            user=request.user,
            action=f"{'change' if change else 'create'}_{obj._meta.model_name}",
            target=obj,
            organisation=getattr(obj, "organisation", None),
            changes={name: str(form.cleaned_data.get(name)) for name in form.changed_data},
            summary=str(obj),
        )

    def delete_model(self, request, obj):
        audit.record(
            FAMILY,
            actor=audit.actor_for_user(request.user),
            user=request.user,
            action=f"delete_{obj._meta.model_name}",
            target=obj,
            organisation=getattr(obj, "organisation", None),
            summary=str(obj),
        )
        super().delete_model(request, obj)


@admin.register(RoutingPolicy)
class RoutingPolicyAdmin(AuditedAdmin):
    list_display = [
        "organisation",
        "wedding_day_raises_severity",
        "own_weddings_make_critical",
        "saturday_protection",
        "escalation_delay_wedding_window",
        "escalation_delay_default",
        "repeat_interval",
    ]
    search_fields = ["organisation__slug", "organisation__name"]
    list_select_related = ["organisation"]


@admin.register(MuteWindow)
class MuteWindowAdmin(AuditedAdmin):
    list_display = ["organisation", "starts_at", "ends_at", "reason", "max_severity", "created_by"]
    list_filter = ["max_severity"]
    search_fields = ["reason", "organisation__slug"]
    readonly_fields = ["created_by"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = audit.actor_for_user(request.user)
        super().save_model(request, obj, form, change)
