"""Alerts in Django admin: the kernel's config/log/audit/outbox pages, plus alerts with their
deliveries, routing policies and mute windows.

An alert's own page (the link in every email, Slack message and PagerDuty incident) is the
on-call page: title, severity, wedding context and the Acknowledge / Resolve buttons first, then
the delivery timeline per channel and the escalation timeline (page.py, timeline.py).

Acknowledge and resolve (the buttons, and the list's bulk actions) are offered only to members
of the "On-call" group (created by migration 0003) and to superusers (who can grant themselves
anything anyway, and are the break-glass account when the on-call rota is empty); anyone else
gets 403 for a forged post. Acknowledging here tells the channels exactly as a Slack or PagerDuty
acknowledgement would (lifecycle.py is the one path for all three), and the message after it
says what each channel was really told (outcomes.py).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseBadRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from wedsync_integrations.integrations import audit
from wedsync_integrations.integrations.admin import ReadOnlyAdmin, register_family_admin, safe_next

from . import lifecycle, page, timeline
from .family import FAMILY
from .models import ActionSource, Alert, AlertStatus, Delivery, MuteWindow, RoutingPolicy
from .outcomes import Outcome

ON_CALL_GROUP = "On-call"

register_family_admin(FAMILY)


def is_on_call(user) -> bool:
    return bool(user.is_active and (user.is_superuser or user.groups.filter(name=ON_CALL_GROUP).exists()))


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
    page_template = "admin/alerts/alert_page.html"

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

    # -- the alert page ------------------------------------------------------------------------------
    def get_urls(self):
        act = path("<path:object_id>/act/", self.admin_site.admin_view(self.act_view), name="alerts_alert_act")
        return [act, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The alert page replaces the model form: nothing on an alert is edited by hand, and
        acknowledging or resolving posts to act/."""
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET", "HEAD"])
        alert = self.get_object(request, unquote(object_id))
        if alert is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, alert):
            raise PermissionDenied
        return TemplateResponse(request, self.page_template, self.page_context(request, alert, extra_context))

    def page_context(self, request, alert: Alert, extra_context=None) -> dict:
        now = timezone.now()
        can_act = self.has_acknowledge_permission(request)
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"{alert.ref}: {alert.title}",
            "subtitle": None,
            "alert": alert,
            "severity_colour": SEVERITY_COLOURS[alert.effective_severity],
            "status_text": page.status_text(alert, now),
            "can_acknowledge": can_act and alert.status == AlertStatus.TRIGGERED,
            "can_resolve": can_act and alert.status != AlertStatus.RESOLVED,
            "act_url": reverse("admin:alerts_alert_act", args=[alert.pk]),
            "wedding_facts": page.wedding_facts(alert, now),
            "time_facts": page.time_facts(alert, now),
            "impact_facts": page.impact_facts(alert),
            "deliveries": timeline.delivery_timeline(alert, now),
            "escalation_plan": timeline.escalation_plan(alert),
            "escalation": timeline.escalation_timeline(alert, now),
            **(extra_context or {}),
        }

    def act_view(self, request, object_id):
        """Acknowledge or resolve from the alert page: POST only (CSRF-checked by admin_view),
        on-call only; the messages say what each channel was really told."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_acknowledge_permission(request):
            raise PermissionDenied
        action = {"acknowledge": lifecycle.acknowledge, "resolve": lifecycle.resolve}.get(request.POST.get("action"))
        if action is None:
            return HttpResponseBadRequest("action must be acknowledge or resolve")
        alert = self.get_object(request, unquote(object_id))
        if alert is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        result = action(alert.pk, by=audit.actor_for_user(request.user), via=ActionSource.ADMIN, user=request.user)
        report_action(request, result, alert.ref)
        return HttpResponseRedirect(safe_next(request, reverse("admin:alerts_alert_change", args=[alert.pk])))

    # -- the list's bulk actions --------------------------------------------------------------------
    @admin.action(description="Acknowledge (stops escalation; tells the channels that heard of it)",
                  permissions=["acknowledge"])  # fmt: skip
    def acknowledge_alerts(self, request, queryset):
        self._act(request, queryset, lifecycle.acknowledge)

    @admin.action(description="Resolve (tells the channels that heard of it)", permissions=["acknowledge"])
    def resolve_alerts(self, request, queryset):
        self._act(request, queryset, lifecycle.resolve)

    def _act(self, request, queryset, action):
        actor = audit.actor_for_user(request.user)
        for alert_id in queryset.values_list("pk", flat=True):
            result = action(alert_id, by=actor, via=ActionSource.ADMIN, user=request.user)
            report_action(request, result, f"al_{alert_id}", one_line=True)


# How each channel's outcome shows in the admin's messages.
OUTCOME_LEVEL = {
    Outcome.TOLD: messages.SUCCESS,
    Outcome.WAITING: messages.WARNING,
    Outcome.NOT_TOLD: messages.WARNING,
    Outcome.NOTHING_TO_TELL: messages.INFO,
}


def report_action(request, result: lifecycle.ActionResult, ref: str, *, one_line: bool = False) -> None:
    """The truth about one acknowledgement or resolution, as admin messages: what changed, then
    each channel's outcome on its own line (or all on one line, for a list of alerts). Any admin
    page that acknowledges or resolves (the alert page, the list, a dashboard) reports with it."""
    if not result.changed:
        messages.warning(request, f"Alert {ref}: {result.message}")
        return
    verb = "acknowledged" if result.alert.status == AlertStatus.ACKNOWLEDGED else "resolved"
    if one_line:
        level = messages.WARNING if any(o.needs_attention for o in result.channels) else messages.SUCCESS
        messages.add_message(request, level, f"Alert {ref} {verb}. {result.channels_summary}")
        return
    stopped = " Escalation stopped." if result.escalation_stopped else ""
    messages.success(request, f"Alert {ref} {verb}.{stopped}")
    for outcome in result.channels:
        messages.add_message(request, OUTCOME_LEVEL[outcome.outcome], outcome.sentence())
    if not result.channels:
        messages.info(request, result.channels_summary)


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
