"""Accounting admin: an operations console per organisation and month.

- Configurations (kernel admin) with "Connect to <vendor>", plus two pages of their own:
  "Ledger mappings" (the supplier, expense account, VAT code… chosen from what the ledger holds
  right now, or left to be matched by name) and "Months" (each month's cost report and the
  document as it will be sent — a preview that writes nothing — or as it was sent, its state at
  the vendor, and "Export now" / "Replay").
- Exports: the documents sent, read-only, with their report, the exact payload, what the vendor
  held when last read back; "Replay" and "Check at the vendor now".
- Confirmations: the ledgers' webhooks, read-only evidence.
Everything that changes something or sends needs the change permission and is audited.
"""

from __future__ import annotations

import logging

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from wedsync_integrations.integrations import audit, health, outbox
from wedsync_integrations.integrations.admin import (
    ProviderConfigAdmin,
    ReadOnlyAdmin,
    pretty_json,
    register_family_admin,
)
from wedsync_integrations.integrations.errors import IntegrationError
from wedsync_integrations.integrations.registry import clean_settings, validate_config_data

from .exporter import export_months, preview
from .family import FAMILY
from .models import ExportConfirmation, ExportState, MonthlyExport
from .months import Month
from .reconcile import reconcile

logger = logging.getLogger("wedsync.accounting")

MATCH_BY_NAME = ""


class AccountingConfigAdmin(ProviderConfigAdmin):
    change_form_template = "admin/accounting/config_change_form.html"
    actions = [*ProviderConfigAdmin.actions, "export_now"]

    def get_urls(self):
        opts = self.model._meta
        name = f"{opts.app_label}_{opts.model_name}"
        own = [
            path("<path:object_id>/mappings/", self.admin_site.admin_view(self.mappings_view), name=f"{name}_mappings"),
            path("<path:object_id>/months/", self.admin_site.admin_view(self.months_view), name=f"{name}_months"),
            path(
                "<path:object_id>/months/<str:label>/",
                self.admin_site.admin_view(self.month_view),
                name=f"{name}_month",
            ),
        ]
        return own + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        extra_context["mappings_url"] = reverse("admin:accounting_accountingconfig_mappings", args=[object_id])
        extra_context["months_url"] = reverse("admin:accounting_accountingconfig_months", args=[object_id])
        return super().change_view(request, object_id, form_url, extra_context)

    def _config(self, request, object_id, *, change: bool = False):
        config = self.get_object(request, object_id)
        if config is None:
            raise Http404("no such configuration")
        allowed = self.has_change_permission(request, config) if change else self.has_view_permission(request, config)
        if not allowed:
            raise PermissionDenied
        return config

    def _page(self, request, config, template: str, title: str, **context):
        return render(request, template, {
            **self.admin_site.each_context(request), "opts": self.model._meta, "original": config,
            "config": config, "title": title, "change_url": reverse("admin:accounting_accountingconfig_change",
                                                                   args=[config.pk]), **context,
        })  # fmt: skip

    # -- ledger mappings --------------------------------------------------------------------------------------
    def mappings_view(self, request, object_id):
        config = self._config(request, object_id, change=request.method == "POST")
        provider = config.get_provider()
        try:
            choices = provider.cached_ledger_choices(refresh=request.GET.get("refresh") == "1")
        except IntegrationError as exc:
            messages.error(request, f"Could not read the ledger's records: {provider.redact(exc.message)}")
            return HttpResponseRedirect(reverse("admin:accounting_accountingconfig_change", args=[config.pk]))
        form = MappingsForm(request.POST or None, choices=choices, current=config.settings)
        if request.method == "POST" and form.is_valid():
            if self._save_mappings(request, config, form):
                return HttpResponseRedirect(request.path)
        can_change = self.has_change_permission(request, config)
        return self._page(
            request, config, "admin/accounting/mappings.html", f"Ledger mappings: {config}", form=form,
            can_change=can_change, provider=provider, supplier_name=settings.ACCOUNTING_SUPPLIER_NAME,
            expense_category=settings.ACCOUNTING_EXPENSE_CATEGORY,
        )  # fmt: skip

    def _save_mappings(self, request, config, form) -> bool:
        wanted = dict(config.settings)
        for name, value in form.cleaned_data.items():
            if value == MATCH_BY_NAME:
                wanted.pop(name, None)
            else:
                wanted[name] = value
        provider_cls = config.provider_class()
        errors = validate_config_data(provider_cls, wanted, config.secrets, partial_secrets=False)
        if errors:
            for key, message in errors.items():
                messages.error(request, f"{key}: {message}")
            return False
        wanted = clean_settings(provider_cls, wanted)  # typed as the provider declares them (ids as numbers)
        keys = set(wanted) | set(config.settings)
        changed = sorted(key for key in keys if wanted.get(key) != config.settings.get(key))
        config.settings = wanted
        config.save(update_fields=["settings", "updated_at"])
        health.forget(config)
        summary = f"ledger mappings: {', '.join(changed) or 'unchanged'}"
        audit.record(FAMILY, actor=audit.actor_for_user(request.user), user=request.user, action="ledger_mappings",
                     target=config, changes={"settings": changed}, summary=summary)  # fmt: skip
        messages.success(request, "Ledger mappings saved." if changed else "Nothing changed.")
        return True

    # -- months -------------------------------------------------------------------------------------------------
    def months_view(self, request, object_id):
        config = self._config(request, object_id)
        provider = config.get_provider()
        now = timezone.now()
        exports: dict = {}
        for export in MonthlyExport.objects.filter(organisation=config.organisation, provider=config.provider):
            exports.setdefault(export.month, []).append(export)
        rows, month = [], provider.first_month()
        while month <= Month.of(now):
            rows.append({"month": month, "closed": month.is_closed(now), "closes_at": month.closes_at,
                         "exports": sorted(exports.get(month.first_day, []), key=lambda e: e.sequence)})  # fmt: skip
            month = month.next()
        return self._page(request, config, "admin/accounting/months.html", f"Months: {config}",
                          rows=list(reversed(rows)))  # fmt: skip

    def month_view(self, request, object_id, label):
        config = self._config(request, object_id, change=request.method == "POST")
        try:
            month = Month.parse(label)
        except ValueError as exc:
            raise Http404(str(exc))
        if request.method == "POST":
            return self._act_on_month(request, config, month)
        provider = config.get_provider()
        now = timezone.now()
        plan, document = preview(provider, month, now)
        body, problem = None, ""
        if document is not None:
            try:
                body = provider.frozen_request(document, provider.ledger_mappings(document.treatment))["body"]
            except IntegrationError as exc:
                problem = provider.redact(exc.message)
        exports = MonthlyExport.objects.filter(
            organisation=config.organisation, provider=config.provider, month=month.first_day
        ).order_by("sequence")
        return self._page(
            request, config, "admin/accounting/month.html", f"{month.title}: {config}", month=month, plan=plan,
            report=plan.report, document=document, body=pretty_json(body) if body else None, problem=problem,
            exports=exports, closed=month.is_closed(now), can_change=self.has_change_permission(request, config),
            by_provider=sorted(plan.report.by_provider.items()), by_use_case=sorted(plan.report.by_use_case.items()),
        )  # fmt: skip

    def _act_on_month(self, request, config, month: Month):
        back = HttpResponseRedirect(request.path)
        action = request.POST.get("action")
        if action == "export":
            if not month.is_closed(timezone.now()):
                closes = timezone.localtime(month.closes_at)
                messages.error(request, f"{month.title} is not closed yet: it closes on {closes:%d %b %Y %H:%M}. "
                               "Nothing was exported.")  # fmt: skip
                return back
            if not config.is_usable:
                messages.error(request, f"{config} is {config.get_status_display().lower()}: resume it first.")
                return back
            result = export_months(config, only=month)
            summary = f"queued {result.queued}, delivered {result.delivered}, failed {result.failed}"
            _audit(request, "export_now", config, f"{month.label}: {summary}")
            months = result.detail.get("months", {})
            messages.success(request, f"{month.title}: {months.get(month.label, '?')}; {summary}.")
        elif action == "replay":
            replay_exports(request, MonthlyExport.objects.filter(
                organisation=config.organisation, provider=config.provider, month=month.first_day))  # fmt: skip
        else:
            messages.error(request, "Unknown action.")
        return back

    # -- action: export closed months now -----------------------------------------------------------------------
    @admin.action(description="Export closed months now (and send what is queued)", permissions=["change"])
    def export_now(self, request, queryset):
        for config in queryset.select_related("organisation"):
            if not config.is_usable:
                self.message_user(request, f"{config}: skipped ({config.get_status_display()})", messages.WARNING)
                continue
            try:
                result = export_months(config)
            except Exception as exc:  # one config's failure must not hide the others' results
                logger.exception("accounting.admin_export_failed config=%s", config.pk)
                self.message_user(request, f"{config}: failed ({type(exc).__name__})", messages.ERROR)
                continue
            summary = f"queued {result.queued}, delivered {result.delivered}, failed {result.failed}"
            self.message_user(request, f"{config}: {summary}", messages.ERROR if result.failed else messages.SUCCESS)
            _audit(request, "export_now", config, summary)


class MappingsForm(forms.Form):
    """One drop-down per mapping, offering what the ledger holds now (or matching by name)."""

    def __init__(self, *args, choices: dict, current: dict, **kwargs):
        super().__init__(*args, **kwargs)
        for name, options in choices.items():
            value = str(current.get(name, MATCH_BY_NAME))
            listed = [(str(v), label) for v, label in options]
            if value and value not in {v for v, _ in listed}:
                listed.append((value, f"{value} (not an active record of the ledger any more)"))
            self.fields[name] = forms.ChoiceField(
                label=name.replace("_", " "), required=False, initial=value,
                choices=[(MATCH_BY_NAME, "— not chosen: match by name when exporting —"), *listed],
            )  # fmt: skip


def replay_exports(request, exports) -> None:
    unsettled = (ExportState.QUEUED, ExportState.FAILED)
    items = [e.retry_item_id for e in exports if e.retry_item_id and e.state in unsettled]
    retry_items = list(FAMILY.retry_model.objects.filter(pk__in=items).order_by("id"))
    if not retry_items:
        messages.info(request, "Nothing to replay: every document of this month was delivered.")
        return
    totals = outbox.replay(retry_items)
    for item in retry_items:
        audit.record(FAMILY, actor=audit.actor_for_user(request.user), user=request.user, action="replay",
                     target=item, summary=f"replayed export item #{item.pk} from admin")  # fmt: skip
    summary = ", ".join(f"{k} {v}" for k, v in totals.items() if v) or "nothing due"
    level = messages.SUCCESS if not totals.get("pending") and not totals.get("dead") else messages.WARNING
    messages.add_message(request, level, f"Replayed {len(retry_items)} document(s): {summary}")


def _audit(request, action: str, target, summary: str) -> None:
    audit.record(FAMILY, actor=audit.actor_for_user(request.user), user=request.user, action=action, target=target,
                 summary=summary)  # fmt: skip


register_family_admin(FAMILY, config_admin=AccountingConfigAdmin)


@admin.register(MonthlyExport)
class MonthlyExportAdmin(ReadOnlyAdmin):
    list_display = ["reference", "organisation", "provider", "month_label", "sequence", "treatment", "net_gbp",
                    "vat_gbp", "gross_gbp", "state_badge", "vendor_entity_id", "created_at"]  # fmt: skip
    list_filter = ["state", "provider", "treatment", "month"]
    search_fields = ["reference", "organisation__slug", "organisation__name", "vendor_entity_id"]
    list_select_related = ["organisation"]
    date_hierarchy = "month"
    actions = ["replay", "check_at_vendor"]
    exclude = ["report", "document", "vendor_state", "lines", "exact_by_provider"]

    def get_readonly_fields(self, request, obj=None):
        hidden = set(self.exclude)
        fields = [f.name for f in self.model._meta.fields if f.name not in hidden]
        return [*fields, "lines_table", "report_pretty", "document_pretty", "vendor_state_pretty"]

    def has_replay_permission(self, request):
        codename = get_permission_codename("change", FAMILY.config_model._meta)
        return request.user.has_perm(f"accounting.{codename}")

    has_check_permission = has_replay_permission

    @admin.display(description="month", ordering="month")
    def month_label(self, obj):
        return obj.month_label

    @admin.display(description="state", ordering="state")
    def state_badge(self, obj):
        colour = {"confirmed": "#1a7f37", "sent": "#0969da", "queued": "#57606a"}.get(obj.state, "#cf222e")
        return format_html('<b style="color:{}">{}</b>', colour, obj.get_state_display())

    @admin.display(description="lines (net, VAT, gross)")
    def lines_table(self, obj):
        rows = format_html_join(
            "", "<tr><td>{}</td><td>{}</td><td>£{}</td><td>£{}</td><td>£{}</td></tr>",
            ((line["description"], line["requests"], line["net"], line["vat"], line["gross"]) for line in obj.lines),
        )  # fmt: skip
        return format_html(
            "<table><tr><th>line</th><th>requests</th><th>net</th><th>VAT</th><th>gross</th></tr>{}"
            "<tr><th colspan=2>total</th><th>£{}</th><th>£{}</th><th>£{}</th></tr></table>",
            rows, obj.net_gbp, obj.vat_gbp, obj.gross_gbp,
        )  # fmt: skip

    @admin.display(description="monthly cost report")
    def report_pretty(self, obj):
        return pretty_json(obj.report)

    @admin.display(description="document as sent to the vendor")
    def document_pretty(self, obj):
        return pretty_json(obj.document or "not sent yet: built from the ledger mappings at the first attempt")

    @admin.display(description="at the vendor (last read back)")
    def vendor_state_pretty(self, obj):
        return pretty_json(obj.vendor_state or "not read back yet")

    @admin.action(description="Replay (send again what is queued or failed, in order)", permissions=["replay"])
    def replay(self, request, queryset):
        replay_exports(request, queryset)

    @admin.action(description="Check at the vendor now (read the document back)", permissions=["check"])
    def check_at_vendor(self, request, queryset):
        now = timezone.now()
        for export in queryset.select_related("organisation", "config"):
            if not export.vendor_entity_id or export.config is None:
                self.message_user(request, f"{export.reference}: not at the vendor yet ({export.get_state_display()})",
                                  messages.WARNING)  # fmt: skip
                continue
            outcome = reconcile(export.config.get_provider(), export, now)
            export.refresh_from_db()
            level = messages.SUCCESS if outcome == ExportState.CONFIRMED else messages.ERROR
            self.message_user(request, f"{export.reference}: {export.get_state_display()} {export.state_reason}", level)
            _audit(request, "check_at_vendor", export, f"{export.reference}: {outcome}")


@admin.register(ExportConfirmation)
class ExportConfirmationAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "source", "organisation", "entity_type", "entity_id", "operation", "export",
                    "matched_at"]  # fmt: skip
    list_filter = ["source", "entity_type", "operation"]
    search_fields = ["entity_id", "organisation__slug", "vendor_account"]
    list_select_related = ["organisation", "export"]
