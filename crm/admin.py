"""CRM admin: the kernel's config, log, audit and outbox admins, plus

- on each configuration, what that vendor really allows (Tave: API notes; HoneyBook: only through
  the studio's Zapier zap; Light Blue: send to Inbox only) and a "send due reports now" action;
- a report preview per organisation and month: the one report, as each CRM receives it;
- what each CRM received and when (the reports queued, their delivery state, the vendor's
  reference, the exact payload), with "replay";
- the CRM jobs linked to weddings.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from wedsync_integrations.calendar import Month
from wedsync_integrations.integrations import audit, outbox
from wedsync_integrations.integrations.admin import (
    ProviderConfigAdmin,
    ReadOnlyAdmin,
    pretty_json,
    register_family_admin,
    sync_configs_now,
)
from wedsync_integrations.integrations.errors import IntegrationError
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.registry import UnknownProvider, get_family
from wedsync_integrations.tenants.models import Organisation

from . import render, value
from .family import FAMILY
from .models import CRMReport, JobLink, MonthlyUsage
from .monthly import last_closed_month


class CRMConfigAdmin(ProviderConfigAdmin):
    readonly_fields = [*ProviderConfigAdmin.readonly_fields, "what_this_crm_allows"]
    actions = [*ProviderConfigAdmin.actions, "send_due_reports", "subscribe_tave_hooks"]
    change_list_template = "admin/crm/crmconfig/change_list.html"

    @admin.display(description="what this CRM allows")
    def what_this_crm_allows(self, obj):
        try:
            return obj.provider_class().allows if obj and obj.pk else "-"
        except UnknownProvider:
            return "-"

    @admin.action(description="Send due reports now (closed months, wedding notes), then drain", permissions=["change"])
    def send_due_reports(self, request, queryset):
        sync_configs_now(self, request, queryset)

    @admin.action(
        description="Tave: subscribe its REST hooks (new contacts, jobs, bookings) to our webhook URL",
        permissions=["change"],
    )
    def subscribe_tave_hooks(self, request, queryset):
        for config in queryset.filter(provider="tave").select_related("organisation"):
            try:
                subscribed = subscribe_tave_hooks(config)
            except (IntegrationError, ValueError) as exc:
                message = config.get_provider().redact(getattr(exc, "message", str(exc)))
                self.message_user(request, f"{config}: not subscribed: {message}", messages.ERROR)
                continue
            summary = f"subscribed {', '.join(subscribed)}" if subscribed else "already subscribed"
            self.message_user(request, f"{config}: {summary}", messages.SUCCESS)
            audit.record(FAMILY, actor=audit.actor_for_user(request.user), user=request.user,
                         action="subscribe_rest_hooks", target=config, summary=summary)  # fmt: skip

    # -- preview ---------------------------------------------------------------------------------------------
    def get_urls(self):
        preview = path("preview/", self.admin_site.admin_view(self.preview_view), name="crm_report_preview")
        return [preview, *super().get_urls()]

    def preview_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        organisations = Organisation.objects.order_by("name")
        month_text = request.GET.get("month") or str(last_closed_month(timezone.now()))
        context = {
            **self.admin_site.each_context(request),
            "title": "Value report preview",
            "organisations": organisations,
            "month": month_text,
            "opts": self.model._meta,
        }
        organisation = organisations.filter(slug=request.GET.get("organisation", "")).first()
        try:
            month = Month.parse(month_text)
        except ValueError as exc:
            context["error"] = str(exc)
            return TemplateResponse(request, "admin/crm/report_preview.html", context)
        if organisation is not None:
            context.update(preview_context(organisation, month))
        return TemplateResponse(request, "admin/crm/report_preview.html", context)


def subscribe_tave_hooks(config) -> list[str]:
    """Point the studio's Tave REST hooks at this organisation's Tave webhook URL (PUBLIC_BASE_URL,
    the webhooks app's path, the URL token of its "tave" source). ValueError when that source is
    not configured."""
    source = (
        get_family("webhooks").config_model.objects.filter(organisation=config.organisation, provider="tave").first()
    )
    token = source.secrets.get("signing_secret") if source is not None and source.enabled else None
    if not token:
        raise ValueError("configure the organisation's Tave webhook source (its URL token) first")
    path = reverse("webhooks:organisation", kwargs={"source": "tave", "org_slug": config.organisation.slug})
    base = settings.PUBLIC_BASE_URL.rstrip("/") + path
    return config.get_provider().subscribe_rest_hooks(
        lambda event: f"{base}?{urlencode({'token': token, 'event': event})}"
    )


def preview_context(organisation: Organisation, month: Month) -> dict:
    """The report for (organisation, month) as each CRM would receive it, computed now."""
    report = value.build_report(organisation, month)
    document = render.report_document(report)
    figures = report.figures()
    return {
        "organisation": organisation,
        "report": report,
        "figures": figures,
        "tave_html": mark_safe(document.as_html()),  # noqa: S308 (built by render.py: every value escaped)
        "text": document.as_text(),
        "zapier_json": json.dumps({**figures, "summary": document.as_text()}, indent=2, ensure_ascii=False),
    }


# -- what each CRM received ------------------------------------------------------------------------------
class DeliveryState(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivery"

    def lookups(self, request, model_admin):
        return [("delivered", "Delivered"), ("waiting", "Waiting or retrying"), ("dead", "Failed (dead)"),
                ("not_sent", "Nothing to send")]  # fmt: skip

    def queryset(self, request, queryset):
        states = {"delivered": RetryState.SUCCEEDED, "waiting": RetryState.PENDING, "dead": RetryState.DEAD}
        if self.value() in states:
            return queryset.filter(item__state=states[self.value()])
        if self.value() == "not_sent":
            return queryset.filter(item__isnull=True)
        return queryset


@admin.register(CRMReport)
class CRMReportAdmin(ReadOnlyAdmin):
    list_display = ["report_id", "organisation", "provider", "kind", "period", "delivery", "delivered_at",
                    "vendor_reference", "queued_at"]  # fmt: skip
    list_filter = ["provider", "kind", DeliveryState]
    search_fields = ["report_id", "organisation__slug", "organisation__name"]
    list_select_related = ["organisation", "item"]
    date_hierarchy = "period"
    actions = ["replay"]
    fields = ["report_id", "organisation", "provider", "kind", "period", "wedding", "delivery", "delivered_at",
              "vendor_reference", "attempts", "last_error", "queued_at", "figures_pretty",
              "payload_pretty"]  # fmt: skip
    readonly_fields = fields

    @admin.display(description="delivery")
    def delivery(self, obj):
        if obj.item is None:
            return "nothing to send" if obj.kind == "wedding" else "not queued"
        colour = {"succeeded": "#1a7f37", "pending": "#9a6700", "dead": "#cf222e"}[obj.item.state]
        label = {"succeeded": "delivered", "pending": "waiting / retrying", "dead": "failed"}[obj.item.state]
        return format_html('<b style="color:{}">{}</b>', colour, label)

    @admin.display(description="delivered at")
    def delivered_at(self, obj):
        return obj.item.succeeded_at if obj.item else None

    @admin.display(description="vendor reference")
    def vendor_reference(self, obj):
        result = (obj.item.result if obj.item else None) or {}
        for key in ("note_id", "request_id", "id", "code"):
            if result.get(key) not in (None, ""):
                return f"{key}: {result[key]}" + (" (already there)" if result.get("duplicate") or result.get("found")
                                                  else "")  # fmt: skip
        return "-"

    @admin.display(description="attempts")
    def attempts(self, obj):
        return obj.item.attempts if obj.item else 0

    @admin.display(description="last error")
    def last_error(self, obj):
        return obj.item.last_error if obj.item else ""

    @admin.display(description="figures")
    def figures_pretty(self, obj):
        return pretty_json(obj.figures)

    @admin.display(description="exactly what was sent (the key or hook URL is added at send time)")
    def payload_pretty(self, obj):
        return pretty_json(obj.item.payload) if obj.item else "-"

    def has_replay_permission(self, request):
        retry = FAMILY.retry_model._meta
        return request.user.has_perm(f"{retry.app_label}.{get_permission_codename('change', retry)}")

    @admin.action(description="Replay now: send again what has not been delivered", permissions=["replay"])
    def replay(self, request, queryset):
        items = [report.item for report in queryset.select_related("item") if report.item is not None]
        items = [item for item in items if item.state != RetryState.SUCCEEDED]
        totals = outbox.replay(sorted(items, key=lambda item: item.pk))
        for item in items:
            summary = f"replayed {item.operation} #{item.pk} from the reports page"
            actor = audit.actor_for_user(request.user)
            audit.record(FAMILY, actor=actor, user=request.user, action="replay", target=item, summary=summary)
        done = ", ".join(f"{key} {count}" for key, count in totals.items() if count) or "nothing to replay"
        level = messages.WARNING if totals.get("pending") or totals.get("dead") else messages.SUCCESS
        self.message_user(request, f"Replayed {len(items)} report(s): {done}", level)


@admin.register(JobLink)
class JobLinkAdmin(ReadOnlyAdmin):
    list_display = ["job_id", "organisation", "provider", "job_name", "event_date", "stage", "wedding_link",
                    "refreshed_at"]  # fmt: skip
    list_filter = ["provider", "stage"]
    search_fields = ["job_id", "job_name", "organisation__slug"]
    list_select_related = ["organisation", "wedding"]

    @admin.display(description="wedding")
    def wedding_link(self, obj):
        if obj.wedding_id is None:
            return "no event date yet"
        url = reverse("admin:tenants_wedding_change", args=[obj.wedding_id])
        return format_html('<a href="{}">{}</a>', url, obj.wedding)


@admin.register(MonthlyUsage)
class MonthlyUsageAdmin(ReadOnlyAdmin):
    """The monthly summaries reports read (crm/monthly.py). Deleting rows makes the next report of
    those months sum them from the rollups again (after correcting old usage, say)."""

    list_display = ["organisation", "month", "requests", "errors", "latency_sum_ms", "wedding_window_requests",
                    "weddings_assisted", "computed_at"]  # fmt: skip
    list_filter = ["month"]
    search_fields = ["organisation__slug", "organisation__name"]
    list_select_related = ["organisation"]

    def has_delete_permission(self, request, obj=None):
        return admin.ModelAdmin.has_delete_permission(self, request, obj)


register_family_admin(FAMILY, config_admin=CRMConfigAdmin)
