"""Admin building blocks shared by every family.

    from wedsync_integrations.integrations.admin import register_family_admin
    register_family_admin(FAMILY)                     # in <family>/admin.py

gives the family: a config admin whose settings are typed fields built from the chosen provider's
settings serializer (with the vendor's own lists where it offers them) and whose secrets are
write-only boxes of that provider only, validated through the provider's serializers, with a
truthful status, health, "test connection", "resume" and an audit entry for every change; a
read-only sync log; a read-only, append-only audit log; and a retry queue, opening on what is
not yet delivered, with a "replay now" action. Lists fit a 1366 px screen: long text is cut to
one line with the whole of it on hover.
"""

from __future__ import annotations

import json
import logging

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.forms.utils import ErrorDict
from django.http import Http404, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import escape, format_html, format_html_join
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from . import audit, connect, credentials, health, live_choices, outbox
from .breaker import CircuitBreaker
from .live_choices import LiveChoices
from .moments import age, london, with_age
from .registry import Family, UnknownProvider, check_config_data, jsonable
from .states import ConfigStatus, RetryState, StatusWord, Tone
from .typed_settings import (
    SETTING_FIELD_PREFIX,
    error_target,
    form_name,
    setting_label,
    settings_fields,
    settings_input,
)

SECRET_FIELD_PREFIX = "secret__"
logger = logging.getLogger("wedsync.admin")


def safe_next(request, default: str) -> str:
    """Where a button's POST returns: its `next` when that is a path on this site (a console page
    sends its own), else `default`. Never an outside address (an open redirect)."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(wanted, {request.get_host()}, require_https=request.is_secure()):
        return wanted
    return default


# -- config form --------------------------------------------------------------------------------
class ProviderSelect(forms.Select):
    """The add page's vendor drop-down and a "Show its settings" button beside it. The button
    posts the form, which then shows that vendor's settings and secrets and saves nothing; a
    few lines of script press it as soon as a vendor is chosen (no script needed, no framework)."""

    template_name = "admin/integrations/widgets/provider_select.html"


class ProviderConfigForm(forms.ModelForm):
    """One vendor's configuration: its settings as typed fields built from the provider's
    settings serializer (typed_settings.py) and its secrets as write-only password boxes that
    never render a value (blank keeps the stored secret; "clear" removes it). Only the chosen
    provider's fields are on the form, and everything is validated by the provider's serializers
    before anything is written."""

    family: Family  # set by the admin
    editable: bool = True  # False for staff who may only view: every field is read-only then
    provider_name: str | None = None  # whose settings and secrets the form shows (set by the admin)
    live: LiveChoices | None = None  # the vendor's lists for settings that have them (change page)

    # The provider whose fields the page showed: a post naming another one is a change of vendor
    # on the add page, answered with that vendor's fields rather than saved.
    settings_for = forms.CharField(widget=forms.HiddenInput, required=False)

    class Meta:
        fields = ["organisation", "provider", "enabled"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.stored_settings = dict(self.instance.settings or {}) if self.instance.pk else {}
        self.switching = False
        if not self.editable:
            return  # the admin shows the row's fields read-only; there is nothing to set up or to write
        if "provider" in self.fields:  # the add page (a saved configuration keeps its vendor)
            self.fields["provider"] = forms.ChoiceField(
                choices=[("", "— choose the vendor —"), *self.family.provider_choices()], widget=ProviderSelect
            )
        self.fields["settings_for"].initial = self.provider_name or ""
        if self.is_bound and self.instance.pk is None:
            self._note_a_change_of_vendor()
        provider_cls = self.provider_cls()
        if provider_cls is None:
            return
        self.fields.update(settings_fields(provider_cls, self.stored_settings, self.live))
        self._add_secret_boxes(provider_cls)

    def provider_cls(self):
        return self.family.providers.get(self.provider_name or "")

    def _note_a_change_of_vendor(self) -> None:
        shown = self.data.get("settings_for", "")
        if "_choose_provider" in self.data or shown != (self.provider_name or ""):
            self.switching = True
            self.data = self.data.copy()  # the re-rendered page shows the new vendor's fields
            self.data["settings_for"] = self.provider_name or ""

    def _add_secret_boxes(self, provider_cls) -> None:
        stored = self.instance.secrets if self.instance.pk else {}
        for name, declared in provider_cls.secrets_serializer().fields.items():
            is_set = bool(stored.get(name))
            required = " (required)" if declared.required else ""
            state = "Set — leave blank to keep it" if is_set else f"Not set{required}"
            self.fields[SECRET_FIELD_PREFIX + name] = forms.CharField(
                label=f"Secret: {name}",
                required=False,
                strip=True,
                widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
                help_text=escape(f"{state}. {declared.help_text}" if declared.help_text else state),
            )
            if is_set:
                self.fields[SECRET_FIELD_PREFIX + name + "__clear"] = forms.BooleanField(
                    label=f"Clear {name}", required=False
                )

    def secret_names(self) -> list[str]:
        provider_cls = self.provider_cls()
        return list(provider_cls.secrets_serializer().fields) if provider_cls else []

    def new_secrets(self) -> dict:
        """The chosen provider's secrets after this form: stored ones kept unless replaced or
        cleared; another provider's leftovers are not kept on the row."""
        stored = dict(self.instance.secrets or {}) if self.instance.pk else {}
        secrets = {}
        for name in self.secret_names():
            value = self.cleaned_data.get(SECRET_FIELD_PREFIX + name)
            if self.cleaned_data.get(SECRET_FIELD_PREFIX + name + "__clear"):
                continue
            if value or stored.get(name):
                secrets[name] = value or stored[name]
        return secrets

    def changed_secret_names(self) -> list[str]:
        return sorted(
            name
            for name in self.secret_names()
            if self.cleaned_data.get(SECRET_FIELD_PREFIX + name)
            or self.cleaned_data.get(SECRET_FIELD_PREFIX + name + "__clear")
        )

    def full_clean(self):
        super().full_clean()
        if self.switching:
            # The vendor was just chosen: nothing was meant to be saved yet, so no error but this
            # one, which keeps the form from saving (the admin shows the note as a message instead).
            self._errors = ErrorDict()
            if self.provider_cls() is None:
                self.add_error("provider", "Choose the vendor: its settings and secrets then appear.")
            else:
                self.add_error(None, self.switch_note())

    def switch_note(self) -> str:
        provider_cls = self.provider_cls()
        label = provider_cls.label or provider_cls.name
        return f"Now showing the settings and secrets of {label}: fill them in, then save."

    def clean(self):
        cleaned = super().clean()
        provider_cls = self.provider_cls()
        if self.switching or not self.editable or provider_cls is None:
            return cleaned
        secrets = self.new_secrets()
        wanted = settings_input(provider_cls, cleaned)
        errors, typed = check_config_data(provider_cls, wanted, secrets, partial_secrets=False)
        for key, message in errors.items():
            self._place_error(key, message)
        # only what staff filled in is stored: a blank box leaves the provider's default to apply
        self._clean_settings = jsonable({name: typed[name] for name in wanted if name in typed})
        self._clean_secrets = secrets
        return cleaned

    def _place_error(self, key: str, message: str) -> None:
        section, _, path = key.partition(".")
        if section == "secrets":
            target, text = SECRET_FIELD_PREFIX + path, f"{path}: {message}"
        else:
            target, prefix = error_target(key)
            text = prefix + message
        if target not in self.fields:
            self.add_error(None, f"{key}: {message}")
        elif target not in self.errors:  # Django already said it (e.g. "This field is required.")
            self.add_error(target, text)

    def _post_clean(self):
        if self.errors:
            # The provider's serializers already put their errors on the right boxes; the
            # model's clean() would only repeat them. Unique checks run once those are fixed.
            # The row in memory keeps what is stored: the page's health check must not try input
            # that failed validation (nor cache what it found).
            return
        if hasattr(self, "_clean_settings"):
            self.instance.settings = self._clean_settings
            self.instance.secrets = self._clean_secrets  # Model.clean() validates them with the settings
        super()._post_clean()


# -- config admin --------------------------------------------------------------------------------
class NeedsFilter(admin.SimpleListFilter):
    """Configurations by what their status asks of a person (states.Tone), whatever its words."""

    title = "needs"
    parameter_name = "needs"

    def lookups(self, request, model_admin):
        return [(Tone.ACTION, "A person to act"), (Tone.WAITING, "Nothing: retrying by itself"),
                (Tone.OK, "Nothing: fine"), (Tone.OFF, "Nothing: disabled")]  # fmt: skip

    def queryset(self, request, queryset):
        return queryset.filter(health.of_tone(self.value())) if self.value() in Tone.values else queryset


class OrganisationColumn:
    """The organisation in a list, one clipped line (some studio names are a sentence)."""

    @admin.display(description="organisation", ordering="organisation__name")
    def organisation_column(self, obj):
        return clipped(str(obj.organisation)) if obj.organisation_id else "-"


class ProviderConfigAdmin(OrganisationColumn, admin.ModelAdmin):
    family: Family
    form = ProviderConfigForm
    # What a person scanning for trouble needs, narrow enough for a 1366 px screen: the status
    # says what to do (and carries the reason), the rest is one short word or number each.
    list_display = ["organisation_column", "provider_label", "status_column", "last_success_column", "queue_depth",
                    "circuit_state"]  # fmt: skip
    list_filter = [NeedsFilter, "status", "provider", "enabled"]
    search_fields = ["organisation__name", "organisation__slug", "provider"]
    list_select_related = ["organisation"]
    readonly_fields = ["status_now", "connection", "health_now", "last_success", "last_failure", "settings_display"]
    actions = ["test_connection", "resume_configs"]
    change_form_template = "admin/integrations/config_change_form.html"
    change_list_template = "admin/integrations/change_list.html"

    # -- one configuration's buttons -------------------------------------------------------------
    def get_urls(self):
        opts = self.model._meta
        one_config_buttons = [
            path(f"<path:object_id>/{verb}/", self.admin_site.admin_view(require_POST(view)),
                 name=f"{opts.app_label}_{opts.model_name}_{verb}")
            for verb, view in (("connect", self.connect_view), ("resume", self.resume_view), ("test", self.test_view),
                               ("replay", self.replay_view))
        ]  # fmt: skip
        return [*one_config_buttons, *super().get_urls()]

    # Each is a POST (its page, the console's dashboard and organisation page) that does what the
    # list action does for one row, then returns to `next`.
    def resume_view(self, request, object_id):
        """Resume a stopped configuration and replay what it held (the change permission)."""
        config = self._config_for_button(request, object_id, allowed=self.has_change_permission)
        self.resume_configs(request, self.get_queryset(request).filter(pk=config.pk))
        return self._back(request, config)

    def test_view(self, request, object_id):
        """Test the connection now (viewing is enough: it only checks)."""
        config = self._config_for_button(request, object_id, allowed=self.has_view_or_change_permission)
        self.test_connection(request, self.get_queryset(request).filter(pk=config.pk))
        return self._back(request, config)

    def replay_view(self, request, object_id):
        """Replay the configuration's dead items, in order (the retry queue's replay permission)."""
        retry_admin = self.admin_site.get_model_admin(self.family.retry_model)
        config = self._config_for_button(
            request, object_id, allowed=lambda req, obj: retry_admin.has_replay_permission(req)
        )
        dead = self.family.retry_model.objects.filter(
            organisation_id=config.organisation_id, provider=config.provider, state=RetryState.DEAD
        )
        if dead.exists():
            retry_admin.replay_now(request, dead)
        else:
            self.message_user(request, f"{config}: no dead items to replay.", messages.INFO)
        return self._back(request, config)

    def _config_for_button(self, request, object_id, *, allowed):
        config = self.get_object(request, object_id)
        if config is None:
            raise Http404("no such configuration")
        if not allowed(request, config):
            raise PermissionDenied
        return config

    def _back(self, request, config):
        opts = self.model._meta
        return HttpResponseRedirect(
            safe_next(request, reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[config.pk]))
        )

    def connect_view(self, request, object_id):
        config = self._config_for_button(request, object_id, allowed=self.has_change_permission)
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
        if config is not None and config.status == ConfigStatus.STOPPED and self.has_change_permission(request, config):
            opts = self.model._meta
            extra_context["resume_url"] = reverse(f"admin:{opts.app_label}_{opts.model_name}_resume", args=[config.pk])
        return super().change_view(request, object_id, form_url, extra_context)

    # -- the form: the chosen provider's fields ------------------------------------------------------
    def _provider_name(self, request, obj) -> str | None:
        """Whose settings the page shows: the saved row's vendor, or the one chosen on the add page
        (posted, or given as ?provider= in a link)."""
        if obj is not None:
            return obj.provider
        chosen = request.POST.get("provider") if request.method == "POST" else request.GET.get("provider")
        return chosen if chosen in self.family.providers else None

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The fieldsets name the settings and secret boxes, which the form adds itself in
        # __init__; the model form factory only knows model fields and would reject them.
        fields = kwargs["fields"] if "fields" in kwargs else flatten_fieldsets(self.get_fieldsets(request, obj))
        if fields is not None:
            kwargs["fields"] = [name for name in fields if not name.startswith(_FORM_BUILT_PREFIXES)]
        form = super().get_form(request, obj, change=change, **kwargs)
        form.family = self.family
        form.editable = self._can_edit(request, obj)
        form.provider_name = self._provider_name(request, obj)
        if obj is not None and form.editable:
            form.live = live_choices.fetch(obj, refresh=request.GET.get("refresh_choices") == "1")
        return form

    def _can_edit(self, request, obj) -> bool:
        return self.has_change_permission(request, obj) if obj is not None else self.has_add_permission(request)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context["adminform"].form
        if getattr(form, "switching", False) and form.provider_cls() is not None:
            context["errors"] = None  # not "Please correct the error below": nothing is wrong
            self.message_user(request, form.switch_note(), messages.INFO)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def get_readonly_fields(self, request, obj=None):
        readonly = list(super().get_readonly_fields(request, obj))
        return [*readonly, "provider"] if obj is not None else readonly

    def get_fieldsets(self, request, obj=None):
        editable = self._can_edit(request, obj)
        provider_cls = self.family.providers.get(self._provider_name(request, obj) or "")
        first = {"fields": ["organisation", "provider", "enabled", *(["settings_for"] if editable else [])]}
        fieldsets = [(None, first)]
        if obj is not None:
            fieldsets.append(("Status", {"fields": ["status_now", "connection", "health_now", "last_success",
                                                    "last_failure"]}))  # fmt: skip
            # what a family's admin adds to its pages (a BI dataset, a monitoring cursor...)
            own = [name for name in self.get_readonly_fields(request, obj) if name not in _KERNEL_PAGE_FACTS]
            if own:
                fieldsets.append((f"{self.family.label}", {"fields": own}))
        if provider_cls is None:
            first["description"] = "Choose the vendor: its settings and secrets then appear below."
            return fieldsets
        label = provider_cls.label or provider_cls.name
        if not editable:
            return [*fieldsets, (f"{label} settings", {"fields": ["settings_display"]})]
        settings_names = [form_name(name) for name in provider_cls.settings_serializer().fields]
        if settings_names:
            fieldsets.append((f"{label} settings", {"fields": settings_names, "classes": ["wsi-settings"]}))
        stored = obj.secrets if obj is not None else {}
        boxes = []
        for name in provider_cls.secrets_serializer().fields:
            boxes.append(SECRET_FIELD_PREFIX + name)
            if stored.get(name):
                boxes.append(SECRET_FIELD_PREFIX + name + "__clear")
        if boxes:
            fieldsets.append(
                (f"{label} secrets (write-only: never shown, blank keeps the stored value)", {"fields": boxes})
            )
        return fieldsets

    # -- the list ------------------------------------------------------------------------------------
    def get_queryset(self, request):
        return health.with_queue_facts(super().get_queryset(request), self.family)

    def get_changelist_instance(self, request):
        # every row's circuit in one cache round trip, not one per row
        changelist = super().get_changelist_instance(request)
        rows = list(changelist.result_list)
        breakers = [CircuitBreaker(self.family.name, obj.organisation_id, obj.provider) for obj in rows]
        for obj, state in zip(rows, CircuitBreaker.states(breakers), strict=True):
            obj.circuit = state
        return changelist

    @admin.display(description="provider", ordering="provider")
    def provider_label(self, obj):
        provider_cls = self.family.providers.get(obj.provider)
        return provider_cls.label if provider_cls is not None and provider_cls.label else obj.provider

    @admin.display(description="status", ordering="status")
    def status_column(self, obj):
        return status_badge(health.status_word(obj, health.annotated_facts(obj)), clip=True)

    @admin.display(description="last success", ordering="last_success_at")
    def last_success_column(self, obj):
        if obj.last_success_at is None:
            return "never"
        return format_html('<span title="{}">{}</span>', london(obj.last_success_at), age(obj.last_success_at))

    @admin.display(description="queue", ordering="_queue_depth")
    def queue_depth(self, obj):
        return obj._queue_depth

    @admin.display(description="circuit")
    def circuit_state(self, obj):
        return str(obj.circuit)

    # -- the page's read-only facts ----------------------------------------------------------------
    @admin.display(description="status")
    def status_now(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return status_badge(health.status_word(obj))

    @admin.display(description="last success")
    def last_success(self, obj):
        return with_age(obj.last_success_at) if obj is not None else "-"

    @admin.display(description="last failure")
    def last_failure(self, obj):
        if obj is None or obj.last_error_at is None:
            return "none"
        return format_html("{}<br>{}", with_age(obj.last_error_at), obj.last_error)

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

    @admin.display(description="health (cached 5 min)")
    def health_now(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        result = health.check(obj)
        verdict = "OK" if result["ok"] else "FAILING"
        return format_html("{} — {} (checked {})", verdict, result["message"], with_age(result["checked_at"]))

    @admin.display(description="settings")
    def settings_display(self, obj):
        """The settings as labelled values, for staff who may only view (secrets are never here)."""
        if obj is None:
            return "-"
        try:
            declared = obj.provider_class().settings_serializer().fields
        except UnknownProvider:
            declared = {}
        rows = [
            (setting_label(name, declared[name]) if name in declared else name,
             ", ".join(map(str, value)) if isinstance(value, list) else value)
            for name, value in sorted((obj.settings or {}).items())
        ]  # fmt: skip
        if not rows:
            return "none set: the provider's defaults apply"
        items = format_html_join("", "<dt>{}</dt><dd>{}</dd>", rows)
        return format_html("<dl class='wsi-settings-view'>{}</dl>", items)

    # -- actions -----------------------------------------------------------------------------------
    @admin.action(description="Test connection now")
    def test_connection(self, request, queryset):
        for config in queryset.select_related("organisation"):
            result = health.check(config, refresh=True)
            level = messages.SUCCESS if result["ok"] else messages.ERROR
            self.message_user(request, f"{config}: {result['message']}", level)
            audit_admin_action(
                self.family, request, "test_connection", config, summary=f"ok={result['ok']}: {result['message']}"
            )

    # Resuming restarts deliveries staff stopped or the kernel stopped on purpose and replays the
    # held items: it needs the change permission (an action without one is offered to view-only
    # staff). "Test connection" only checks, so viewing is enough for it.
    @admin.action(description="Resume (after fixing credentials) and replay held items", permissions=["change"])
    def resume_configs(self, request, queryset):
        for config in queryset.select_related("organisation"):
            outbox.resume_config(config)
            health.forget(config)
            audit_admin_action(self.family, request, "resume", config, summary="resumed from admin")
        self.message_user(request, f"Resumed {queryset.count()} configuration(s); held items are due now.")

    def save_model(self, request, obj, form, change):
        changes = {}
        if change:
            for name in form.changed_data:
                if name in ("organisation", "enabled"):
                    changes[name] = [_jsonable(form.initial.get(name)), _jsonable(form.cleaned_data.get(name))]
            if form.stored_settings != obj.settings:
                changes["settings"] = [form.stored_settings, obj.settings]
        secret_changes = form.changed_secret_names()
        if secret_changes:
            changes["secrets"] = secret_changes
        super().save_model(request, obj, form, change)
        health.forget(obj)
        live_choices.forget(obj)
        audit_admin_action(
            self.family,
            request,
            "change_config" if change else "create_config",
            obj,
            changes=changes,
            summary=f"{'changed' if change else 'created'} {obj.provider} for {obj.organisation.slug}",
        )

    def delete_model(self, request, obj):
        audit_admin_action(
            self.family, request, "delete_config", obj, summary=f"deleted {obj.provider} for {obj.organisation.slug}"
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)


_FORM_BUILT_PREFIXES = (SECRET_FIELD_PREFIX, SETTING_FIELD_PREFIX)
_KERNEL_PAGE_FACTS = {*ProviderConfigAdmin.readonly_fields, "provider"}
_TONE_COLOURS = {Tone.OK: "#1a7f37", Tone.WAITING: "#9a6700", Tone.ACTION: "#cf222e", Tone.OFF: "#57606a"}


def status_badge(word: StatusWord, *, clip: bool = False):
    """A status word, coloured by its tone; clipped to one line in lists (the whole on hover)."""
    colour = _TONE_COLOURS.get(word.tone, "#57606a")
    css = "wsi-status wsi-clip" if clip else "wsi-status"
    return format_html('<b class="{}" style="color:{}" title="{}">{}</b>', css, colour, word.text, word.text)


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
            status = health.status_word(config).text
            model_admin.message_user(request, f"{config}: skipped ({status})", messages.WARNING)
            continue
        try:
            result = family.sync_handler(config)
        except Exception as exc:  # one config's failure must not hide the others' results
            logger.exception("%s.admin_sync_failed config=%s", family.name, config.pk)
            model_admin.message_user(request, f"{config}: sync failed ({type(exc).__name__})", messages.ERROR)
            continue
        text, failed = summary(result)
        model_admin.message_user(request, f"{config}: {text}", messages.ERROR if failed else messages.SUCCESS)
        audit_admin_action(family, request, "sync_now", config, summary=text)


def _connectable(config) -> bool:
    try:
        scheme = config.provider_class().credentials
    except UnknownProvider:
        return False
    return scheme is not None and scheme.connectable


def audit_admin_action(family: Family, request, action: str, target, **fields) -> None:
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


def clipped(text: str):
    """Long text (an error, a title) on one line of a list, cut to the column's width by the
    stylesheet, the whole of it on hover."""
    if not text:
        return ""
    return format_html('<span class="wsi-clip" title="{}">{}</span>', text, text)


def moment_column(moment):
    """A time in a list: its age, the London time on hover."""
    if moment is None:
        return "-"
    return format_html('<span title="{}">{}</span>', london(moment), age(moment))


class SyncLogAdmin(OrganisationColumn, ReadOnlyAdmin):
    # What a 1366 px screen has room for; the correlation id (searchable), item count and duration
    # are on each entry's page.
    list_display = ["started_column", "organisation_column", "provider", "operation", "outcome", "http_status",
                    "error_short"]  # fmt: skip
    list_filter = ["outcome", "provider", "operation"]
    search_fields = ["correlation_id", "organisation__slug", "error"]
    list_select_related = ["organisation"]
    date_hierarchy = "started_at"
    change_list_template = "admin/integrations/change_list.html"

    @admin.display(description="started", ordering="started_at")
    def started_column(self, obj):
        return moment_column(obj.started_at)

    @admin.display(description="error")
    def error_short(self, obj):
        return clipped(obj.error)


class AuditEntryAdmin(OrganisationColumn, ReadOnlyAdmin):
    list_display = ["at", "actor", "action", "organisation_column", "target_type", "target_id", "summary_short"]
    list_filter = ["action", "target_type"]
    search_fields = ["actor", "summary", "target_id", "correlation_id"]
    list_select_related = ["organisation"]
    date_hierarchy = "at"
    change_list_template = "admin/integrations/change_list.html"

    @admin.display(description="summary")
    def summary_short(self, obj):
        return clipped(obj.summary)


class RetryStateFilter(admin.SimpleListFilter):
    """The retry queue opens on what may still need someone (pending and dead items); the other
    choices, "All" among them, are one click away, and the chosen one is shown as any filter is."""

    title = "state"
    parameter_name = "state"
    NOT_SUCCEEDED = "not_succeeded"
    ALL = "all"

    def lookups(self, request, model_admin):
        return [(self.NOT_SUCCEEDED, "Not succeeded (pending or dead)"), *RetryState.choices, (self.ALL, "All")]

    def value(self):
        return super().value() or self.NOT_SUCCEEDED

    def choices(self, changelist):
        # no separate "All" that drops the parameter: without it the default applies
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        chosen = self.value()
        if chosen == self.NOT_SUCCEEDED:
            return queryset.exclude(state=RetryState.SUCCEEDED)
        if chosen in RetryState.values:
            return queryset.filter(state=chosen)
        return queryset


class RetryItemAdmin(OrganisationColumn, admin.ModelAdmin):
    family: Family
    # newest first, so the id says how recent; when it was created is on the item's page
    list_display = ["id", "organisation_column", "provider", "operation", "state", "attempts_column",
                    "next_attempt_column", "last_error_short"]  # fmt: skip
    list_filter = [RetryStateFilter, "provider", "operation"]
    ordering = ["-id"]  # newest first (the outbox itself delivers oldest first)
    search_fields = ["organisation__slug", "dedupe_key", "last_error", "correlation_id"]
    list_select_related = ["organisation"]
    actions = ["replay_now"]
    exclude = ["payload"]
    readonly_fields = ["payload_pretty"]
    change_list_template = "admin/integrations/change_list.html"

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

    @admin.display(description="attempts", ordering="attempts")
    def attempts_column(self, obj):
        return f"{obj.attempts}/{obj.max_attempts}"

    @admin.display(description="next attempt", ordering="next_attempt_at")
    def next_attempt_column(self, obj):
        if obj.state != RetryState.PENDING:
            return "-"  # succeeded or dead: nothing is scheduled, whatever the column holds
        return moment_column(obj.next_attempt_at)

    @admin.display(description="last error")
    def last_error_short(self, obj):
        return clipped(obj.last_error)

    @admin.action(description="Replay now (in order, per organisation and provider)", permissions=["replay"])
    def replay_now(self, request, queryset):
        items = list(queryset.exclude(state=RetryState.SUCCEEDED).select_related("organisation").order_by("id"))
        totals = outbox.replay(items)
        for item in items:
            audit_admin_action(
                self.family, request, "replay", item, summary=f"replayed {item.operation} #{item.pk} from admin"
            )
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
