"""Admin building blocks shared by every family.

    from wedsync_integrations.integrations.admin import register_family_admin
    register_family_admin(FAMILY)                     # in <family>/admin.py

gives the family: a config admin with write-only secret fields, validation through the
provider's serializers, health columns, "test connection" and "resume" actions, and an audit
entry for every change; a read-only sync log; a read-only, append-only audit log; and a retry
queue with a "replay now" action.
"""

from __future__ import annotations

import json
import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpResponseNotAllowed
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import ngettext

from . import audit, connect, credentials, health, outbox
from .breaker import CircuitBreaker
from .models import RetryState
from .registry import Family, UnknownProvider, validate_config_data

SECRET_FIELD_PREFIX = "secret__"
logger = logging.getLogger("wedsync.admin")


# -- config form --------------------------------------------------------------------------------
def _secret_names(family: Family) -> list[str]:
    names: list[str] = []
    for provider_cls in family.providers.values():
        for name in provider_cls.secrets_serializer().fields:
            if name not in names:
                names.append(name)
    return names


def _providers_using(family: Family, secret: str) -> str:
    return ", ".join(
        sorted(name for name, cls in family.providers.items() if secret in cls.secrets_serializer().fields)
    )


class ProviderConfigForm(forms.ModelForm):
    """Secrets are write-only: each has a password box that never renders its value.
    Leaving a box blank keeps the stored secret; ticking "clear" removes it."""

    family: Family  # set by the admin
    editable: bool = True  # False for staff who may only view: every field is read-only then

    class Meta:
        fields = ["organisation", "provider", "enabled", "settings"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.editable:
            return  # the admin shows the row's fields read-only; there is nothing to set up or to write
        self.fields["provider"] = forms.ChoiceField(
            choices=[(name, cls.label or name) for name, cls in sorted(self.family.providers.items())]
        )
        self.fields["settings"].help_text = "Non-secret settings as a JSON object, validated per provider."
        stored = self.instance.secrets if self.instance and self.instance.pk else {}
        for name in _secret_names(self.family):
            is_set = bool(stored.get(name))
            self.fields[SECRET_FIELD_PREFIX + name] = forms.CharField(
                label=f"Secret: {name}",
                required=False,
                strip=True,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                help_text=f"{'Set — leave blank to keep it' if is_set else 'Not set'} "
                f"(used by {_providers_using(self.family, name)})",
            )
            if is_set:
                self.fields[SECRET_FIELD_PREFIX + name + "__clear"] = forms.BooleanField(
                    label=f"Clear {name}", required=False
                )

    def new_secrets(self) -> dict:
        secrets = dict(self.instance.secrets or {}) if self.instance.pk else {}
        for name in _secret_names(self.family):
            value = self.cleaned_data.get(SECRET_FIELD_PREFIX + name)
            if self.cleaned_data.get(SECRET_FIELD_PREFIX + name + "__clear"):
                secrets.pop(name, None)
            elif value:
                secrets[name] = value
        return secrets

    def changed_secret_names(self) -> list[str]:
        return sorted(
            name
            for name in _secret_names(self.family)
            if self.cleaned_data.get(SECRET_FIELD_PREFIX + name)
            or self.cleaned_data.get(SECRET_FIELD_PREFIX + name + "__clear")
        )

    def clean(self):
        cleaned = super().clean()
        provider = cleaned.get("provider")
        if not provider:
            return cleaned
        try:
            provider_cls = self.family.provider(provider)
        except UnknownProvider as exc:
            raise forms.ValidationError(str(exc))
        secrets = self.new_secrets()
        # secrets of other providers are not kept on this row
        secrets = {k: v for k, v in secrets.items() if k in provider_cls.secrets_serializer().fields}
        errors = validate_config_data(provider_cls, cleaned.get("settings") or {}, secrets, partial_secrets=False)
        for key, message in errors.items():
            section, _, field = key.partition(".")
            target = "settings" if section == "settings" else (SECRET_FIELD_PREFIX + field if field else None)
            if target in self.fields:
                self.add_error(target, message if section == "settings" and not field else f"{field}: {message}")
            else:
                self.add_error(None, f"{key}: {message}")
        self._clean_secrets = secrets
        return cleaned

    def _post_clean(self):
        # Model.clean() would re-validate the secrets before we attach the new ones.
        self.instance.secrets = getattr(self, "_clean_secrets", self.instance.secrets)
        if self.errors:
            # The provider's serializers already put their errors on the right boxes; the
            # model's clean() would only repeat them. Unique checks run once those are fixed.
            return
        super()._post_clean()


# -- config admin --------------------------------------------------------------------------------
class ProviderConfigAdmin(admin.ModelAdmin):
    family: Family
    form = ProviderConfigForm
    list_display = [
        "organisation",
        "provider",
        "enabled",
        "status_badge",
        "last_success_at",
        "last_error_short",
        "queue_depth",
        "circuit_state",
    ]
    list_filter = ["provider", "enabled", "status"]
    search_fields = ["organisation__name", "organisation__slug", "provider"]
    list_select_related = ["organisation"]
    readonly_fields = [
        "status", "status_reason", "connection", "last_success_at", "last_error_at", "last_error", "health_now",
    ]  # fmt: skip
    actions = ["test_connection", "resume_configs"]
    change_form_template = "admin/integrations/config_change_form.html"

    # -- connecting with OAuth ------------------------------------------------------------------
    def get_urls(self):
        opts = self.model._meta
        connect_url = path(
            "<path:object_id>/connect/",
            self.admin_site.admin_view(self.connect_view),
            name=f"{opts.app_label}_{opts.model_name}_connect",
        )
        return [connect_url, *super().get_urls()]

    def connect_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        config = self.get_object(request, object_id)
        if config is None:
            raise Http404("no such configuration")
        if not self.has_change_permission(request, config):
            raise PermissionDenied
        return connect.start(request, config)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        config = self.get_object(request, object_id)
        if config is not None and self.has_change_permission(request, config) and _connectable(config):
            opts = self.model._meta
            name = f"admin:{opts.app_label}_{opts.model_name}_connect"
            extra_context["connect_url"] = reverse(name, args=[config.pk])
            label = config.provider_class().label
            verb = "Reconnect" if config.credential_status else "Connect"
            extra_context["connect_label"] = f"{verb} to {label}"
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description="connection")
    def connection(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        try:
            scheme = obj.provider_class().credentials
        except UnknownProvider:
            return "-"
        if scheme is None:
            return "credentials are typed in below (the vendor issues no expiring token)"
        return credentials.describe(obj)

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The fieldsets name the secret boxes, which the form adds itself in __init__; the model
        # form factory only knows model fields and would reject them.
        fields = kwargs["fields"] if "fields" in kwargs else flatten_fieldsets(self.get_fieldsets(request, obj))
        if fields is not None:
            kwargs["fields"] = [name for name in fields if not name.startswith(SECRET_FIELD_PREFIX)]
        form = super().get_form(request, obj, change=change, **kwargs)
        form.family = self.family
        form.editable = self._can_edit(request, obj)
        return form

    def _can_edit(self, request, obj) -> bool:
        return self.has_change_permission(request, obj) if obj is not None else self.has_add_permission(request)

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if not self._can_edit(request, obj):
            return fieldsets
        stored = obj.secrets if obj is not None else {}
        boxes = []
        for name in _secret_names(self.family):
            boxes.append(SECRET_FIELD_PREFIX + name)
            if stored.get(name):
                boxes.append(SECRET_FIELD_PREFIX + name + "__clear")
        if not boxes:
            return fieldsets
        return [*fieldsets, ("Secrets (write-only: never shown, blank keeps the stored value)", {"fields": boxes})]

    def get_queryset(self, request):
        pending = (
            self.family.retry_model.objects.filter(
                organisation_id=OuterRef("organisation_id"), provider=OuterRef("provider"), state=RetryState.PENDING
            )
            .order_by()
            .values("provider")
            .annotate(n=Count("id"))
            .values("n")
        )
        return (
            super()
            .get_queryset(request)
            .annotate(_queue_depth=Coalesce(Subquery(pending, output_field=IntegerField()), 0))
        )

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj):
        colour = {"active": "#1a7f37", "failing": "#9a6700", "stopped": "#cf222e"}.get(obj.status, "#57606a")
        return format_html('<b style="color:{}">{}</b>', colour, obj.get_status_display())

    @admin.display(description="last error")
    def last_error_short(self, obj):
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    @admin.display(description="queue", ordering="_queue_depth")
    def queue_depth(self, obj):
        return obj._queue_depth

    def get_changelist_instance(self, request):
        # every row's circuit in one cache round trip, not one per row
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        breakers = [CircuitBreaker(self.family.name, obj.organisation_id, obj.provider) for obj in rows]
        for obj, state in zip(rows, CircuitBreaker.states(breakers), strict=True):
            obj.circuit = state
        return changelist

    @admin.display(description="circuit")
    def circuit_state(self, obj):
        return str(obj.circuit)

    @admin.display(description="health (cached 5 min)")
    def health_now(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        result = health.check(obj)
        return format_html(
            "{} — {} (checked {})", "OK" if result["ok"] else "FAILING", result["message"], result["checked_at"]
        )

    @admin.action(description="Test connection now")
    def test_connection(self, request, queryset):
        for config in queryset.select_related("organisation"):
            result = health.check(config, refresh=True)
            level = messages.SUCCESS if result["ok"] else messages.ERROR
            self.message_user(request, f"{config}: {result['message']}", level)
            _audit(self.family, request, "test_connection", config, summary=f"ok={result['ok']}: {result['message']}")

    # Resuming restarts deliveries staff stopped or the kernel stopped on purpose and replays the
    # held items: it needs the change permission (an action without one is offered to view-only
    # staff). "Test connection" only checks, so viewing is enough for it.
    @admin.action(description="Resume (after fixing credentials) and replay held items", permissions=["change"])
    def resume_configs(self, request, queryset):
        for config in queryset.select_related("organisation"):
            outbox.resume_config(config)
            health.forget(config)
            _audit(self.family, request, "resume", config, summary="resumed from admin")
        self.message_user(request, f"Resumed {queryset.count()} configuration(s); held items are due now.")

    def save_model(self, request, obj, form, change):
        changes = {}
        if change:
            for name in form.changed_data:
                if name in ("organisation", "provider", "enabled", "settings"):
                    changes[name] = [_jsonable(form.initial.get(name)), _jsonable(form.cleaned_data.get(name))]
        secret_changes = form.changed_secret_names()
        if secret_changes:
            changes["secrets"] = secret_changes
        super().save_model(request, obj, form, change)
        health.forget(obj)
        _audit(
            self.family,
            request,
            "change_config" if change else "create_config",
            obj,
            changes=changes,
            summary=f"{'changed' if change else 'created'} {obj.provider} for {obj.organisation.slug}",
        )

    def delete_model(self, request, obj):
        _audit(
            self.family, request, "delete_config", obj, summary=f"deleted {obj.provider} for {obj.organisation.slug}"
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


def sync_summary(result) -> tuple[str, bool]:
    """(message, failed) for one configuration's sync result, as "sync now" reports it."""
    return f"queued {result.queued}, delivered {result.delivered}, failed {result.failed}", bool(result.failed)


def sync_configs_now(model_admin: ProviderConfigAdmin, request, queryset, *, summary=sync_summary) -> None:
    """A family's "sync now" admin action: run the family's sync for each usable selected configuration,
    report each outcome (one failing never hides the others) and audit it. The family's action wraps
    this with its own description and `permissions=["change"]` (it sends to the tenant's vendor)."""
    family = model_admin.family
    for config in queryset.select_related("organisation"):
        if not config.is_usable:
            model_admin.message_user(request, f"{config}: skipped ({config.get_status_display()})", messages.WARNING)
            continue
        try:
            result = family.sync_handler(config)
        except Exception as exc:  # one config's failure must not hide the others' results
            logger.exception("%s.admin_sync_failed config=%s", family.name, config.pk)
            model_admin.message_user(request, f"{config}: sync failed ({type(exc).__name__})", messages.ERROR)
            continue
        text, failed = summary(result)
        model_admin.message_user(request, f"{config}: {text}", messages.ERROR if failed else messages.SUCCESS)
        _audit(family, request, "sync_now", config, summary=text)


def _connectable(config) -> bool:
    try:
        scheme = config.provider_class().credentials
    except UnknownProvider:
        return False
    return scheme is not None and scheme.connectable


def _audit(family: Family, request, action: str, target, **fields) -> None:
    """One audit entry for what the signed-in staff member just did to `target`."""
    audit.record(
        family, actor=audit.actor_for_user(request.user), user=request.user, action=action, target=target, **fields
    )


def _jsonable(value):
    if hasattr(value, "pk"):
        return str(value)
    try:
        json.dumps(value)
        return value
    except TypeError:
        return str(value)


def pretty_json(value, limit: int = 20000) -> str:
    """A stored JSON value as an escaped, scrollable block for a read-only admin field."""
    text = json.dumps(value, indent=2, sort_keys=True, default=str)
    if len(text) > limit:
        text = text[:limit] + f"\n… ({len(text) - limit} more characters)"
    return format_html("<pre style='max-height:40em;overflow:auto'>{}</pre>", text)


# -- read-only logs ------------------------------------------------------------------------------
class ReadOnlyAdmin(admin.ModelAdmin):
    """Logs are evidence: viewable by staff, editable by nobody."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class SyncLogAdmin(ReadOnlyAdmin):
    list_display = ["started_at", "organisation", "provider", "operation", "outcome", "items", "http_status",
                    "duration_ms", "error_short", "correlation_id"]  # fmt: skip
    list_filter = ["outcome", "provider", "operation"]
    search_fields = ["correlation_id", "organisation__slug", "error"]
    list_select_related = ["organisation"]
    date_hierarchy = "started_at"

    @admin.display(description="error")
    def error_short(self, obj):
        return (obj.error[:100] + "…") if len(obj.error) > 100 else obj.error


class AuditEntryAdmin(ReadOnlyAdmin):
    list_display = ["at", "actor", "action", "organisation", "target_type", "target_id", "summary"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor", "summary", "target_id", "correlation_id"]
    list_select_related = ["organisation"]
    date_hierarchy = "at"


class RetryItemAdmin(admin.ModelAdmin):
    family: Family
    list_display = ["id", "organisation", "provider", "operation", "state", "attempts", "max_attempts",
                    "next_attempt_at", "last_error_short", "created_at"]  # fmt: skip
    list_filter = ["state", "provider", "operation"]
    search_fields = ["organisation__slug", "dedupe_key", "last_error", "correlation_id"]
    list_select_related = ["organisation"]
    actions = ["replay_now"]
    exclude = ["payload"]
    readonly_fields = ["payload_pretty"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        # Read-only: saving the change form would write back every column as the page loaded
        # it, undoing whatever a worker did meanwhile (a delivered item would become pending).
        return False

    def has_replay_permission(self, request):
        codename = get_permission_codename("change", self.opts)
        return request.user.has_perm(f"{self.opts.app_label}.{codename}")

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields if f.name != "payload"] + ["payload_pretty"]

    @admin.display(description="payload")
    def payload_pretty(self, obj):
        return pretty_json(obj.payload)

    @admin.display(description="last error")
    def last_error_short(self, obj):
        return (obj.last_error[:80] + "…") if len(obj.last_error) > 80 else obj.last_error

    @admin.action(description="Replay now (in order, per organisation and provider)", permissions=["replay"])
    def replay_now(self, request, queryset):
        items = list(queryset.exclude(state=RetryState.SUCCEEDED).select_related("organisation").order_by("id"))
        totals = outbox.replay(items)
        for item in items:
            _audit(self.family, request, "replay", item, summary=f"replayed {item.operation} #{item.pk} from admin")
        self.message_user(
            request,
            ngettext("Replayed %(n)d item: ", "Replayed %(n)d items: ", len(items)) % {"n": len(items)}
            + ", ".join(f"{k} {v}" for k, v in totals.items() if v),
            messages.SUCCESS if not totals.get("pending") and not totals.get("dead") else messages.WARNING,
        )


def register_family_admin(
    family: Family,
    *,
    config_admin: type[ProviderConfigAdmin] = ProviderConfigAdmin,
    sync_log_admin: type[admin.ModelAdmin] = SyncLogAdmin,
    audit_admin: type[admin.ModelAdmin] = AuditEntryAdmin,
    retry_admin: type[RetryItemAdmin] = RetryItemAdmin,
    site: admin.AdminSite = admin.site,
) -> None:
    """Register the four kernel admins for a family's concrete models."""
    site.register(family.config_model, type(f"{family.label}ConfigAdmin", (config_admin,), {"family": family}))
    site.register(family.sync_log_model, sync_log_admin)
    site.register(family.audit_model, audit_admin)
    site.register(family.retry_model, type(f"{family.label}RetryItemAdmin", (retry_admin,), {"family": family}))
