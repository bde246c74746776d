"""Declarative configuration: organisations and their integrations as one JSON document.

    document = config_io.load(text)                 # JSON text -> dict, ConfigFileError if malformed
    report = config_io.apply(document)              # validate everything, then write in one transaction
    report = config_io.apply(document, dry_run=True)
    document = config_io.export(org_slug="acme")    # the same shape, secrets shown as "***"

Shape:

    {"organisations": [{"slug": "acme", "name": "Acme", "vendor_type": "photographer",
                        <optional organisation fields>,
                        "integrations": [{"family": "monitoring", "provider": "datadog", "enabled": true,
                                          "settings": {...}, "secrets": {...}}]}]}

Rules, chosen so that `export | apply` is always a no-op and a file can never half-apply:
- Every error in the file is collected, each named by its path
  (`organisations[0].integrations[1].settings.site: unknown setting`), and nothing is written
  when there is any.
- Organisations and integrations not in the file are left alone.
- An organisation field or an integration's `enabled`/`settings` that is omitted keeps its
  stored value; `settings`, when given, is the complete settings object (normalised through
  the provider's serializer).
- Secrets merge: a value given is set, a key omitted keeps its stored value, and the redacted
  placeholder "***" (what export prints) also means "keep".
- Every config created or changed gets one audit entry naming the secrets that changed, never
  their values.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from rest_framework import serializers

from wedsync_integrations.tenants.models import Organisation

from . import audit, health
from .models import ConfigStatus
from .registry import (
    Family,
    Provider,
    UnknownFamily,
    UnknownProvider,
    clean_settings,
    families,
    get_family,
    jsonable,
    validate_config_data,
)
from .secrets import MASK, redact

ACTOR = "cli:integrations-apply"
ORGANISATION_REQUIRED_ON_CREATE = ("name", "vendor_type")
ORGANISATION_OPTIONAL_FIELDS = (
    "country",
    "currency",
    "timezone",
    "vat_registered",
    "vat_number",
    "minutes_saved_per_request",
    "value_per_request_gbp",
    "revenue_multiplier",
    "retention_uplift_percent",
)
ORGANISATION_FIELDS = ("slug", "name", "vendor_type", *ORGANISATION_OPTIONAL_FIELDS)
INTEGRATION_KEYS = ("family", "provider", "enabled", "settings", "secrets")


class ConfigFileError(Exception):
    """The document has errors; `errors` lists every one as 'path: message'."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        count = len(errors)
        super().__init__(f"{count} error{'s' if count != 1 else ''}; nothing was applied:\n  " + "\n  ".join(errors))


# -- plans: what validation decided, applied verbatim -----------------------------------------------
@dataclass
class IntegrationPlan:
    path: str
    family: Family
    provider_cls: type[Provider]
    config: Any | None  # the stored row, None when it will be created
    enabled: bool
    settings: dict
    secrets: dict
    changes: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.family.name}/{self.provider_cls.name}"


@dataclass
class OrganisationPlan:
    path: str
    slug: str
    organisation: Organisation | None  # None when it will be created
    values: dict[str, Any]
    changed_fields: list[str]
    integrations: list[IntegrationPlan] = field(default_factory=list)


@dataclass
class ApplyReport:
    dry_run: bool = False
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        verbs = ("would create", "would update") if self.dry_run else ("created", "updated")
        lines = [f"{verbs[0]} {what}" for what in self.created]
        lines += [f"{verbs[1]} {what}" for what in self.updated]
        lines += [f"unchanged {what}" for what in self.unchanged]
        lines += [f"note: {note}" for note in self.notes]
        summary = f"{len(self.created)} created, {len(self.updated)} updated, {len(self.unchanged)} unchanged"
        lines.append(("dry run, nothing written: " if self.dry_run else "") + summary)
        return lines


# -- reading -----------------------------------------------------------------------------------------
def load(text: str) -> dict:
    """Parse the document; a JSON syntax error names the line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigFileError([f"line {exc.lineno} column {exc.colno}: invalid JSON ({exc.msg})"])


# -- validation -------------------------------------------------------------------------------------
class _OrganisationSerializer(serializers.ModelSerializer):
    """Field validation for organisations (choices, ISO codes, IANA zones, decimals ≥ 0)."""

    class Meta:
        model = Organisation
        fields = list(ORGANISATION_FIELDS)


def validate(document) -> list[OrganisationPlan]:
    """Check the whole document against the registry and the database; raise ConfigFileError
    listing every problem, or return the plans `apply` will carry out."""
    errors: list[str] = []
    if not isinstance(document, dict):
        raise ConfigFileError(["(top level): must be a JSON object with an 'organisations' list"])
    for key in sorted(set(document) - {"organisations"}):
        errors.append(f"{key}: unknown key (expected only 'organisations')")
    organisations = document.get("organisations")
    if not isinstance(organisations, list):
        errors.append("organisations: must be a list")
        raise ConfigFileError(errors)
    plans: list[OrganisationPlan] = []
    seen_slugs: dict[str, str] = {}
    for index, entry in enumerate(organisations):
        path = f"organisations[{index}]"
        slug = entry.get("slug") if isinstance(entry, dict) else None
        if isinstance(slug, str) and slug in seen_slugs:
            errors.append(f"{path}.slug: {slug!r} already appears at {seen_slugs[slug]}")
            continue
        if isinstance(slug, str):
            seen_slugs[slug] = path
        plan = _validate_organisation(path, entry, errors)
        if plan is not None:
            plans.append(plan)
    if errors:
        raise ConfigFileError(errors)
    return plans


def _validate_organisation(path: str, entry, errors: list[str]) -> OrganisationPlan | None:
    if not isinstance(entry, dict):
        errors.append(f"{path}: must be a JSON object")
        return None
    for key in sorted(set(entry) - set(ORGANISATION_FIELDS) - {"integrations"}):
        errors.append(f"{path}.{key}: unknown organisation field")
    slug = entry.get("slug")
    if not isinstance(slug, str) or not slug:
        errors.append(f"{path}.slug: required (a non-empty string)")
        return None
    existing = Organisation.objects.filter(slug=slug).first()
    data = {key: value for key, value in entry.items() if key in ORGANISATION_FIELDS}
    if existing is None:
        for key in ORGANISATION_REQUIRED_ON_CREATE:
            if key not in data:
                errors.append(f"{path}.{key}: required to create organisation {slug!r}")
    serializer = _OrganisationSerializer(instance=existing, data=data, partial=True)
    if not serializer.is_valid():
        errors.extend(_messages(path, serializer.errors))
        return None
    values = dict(serializer.validated_data)
    candidate = existing or Organisation()
    original = {name: getattr(candidate, name) for name in ORGANISATION_FIELDS}
    for name, value in values.items():
        setattr(candidate, name, value)
    try:
        candidate.clean()  # VAT rules across fields; also normalises the VAT number
    except DjangoValidationError as exc:
        errors.extend(_messages(path, exc.message_dict))
        return None
    values = {name: getattr(candidate, name) for name in values}
    if existing is not None:
        for name, value in original.items():
            setattr(existing, name, value)  # the row is written in apply(), not here
    changed = [name for name, value in values.items() if existing is None or original[name] != value]
    plan = OrganisationPlan(path=path, slug=slug, organisation=existing, values=values, changed_fields=changed)
    integrations = entry.get("integrations", [])
    if not isinstance(integrations, list):
        errors.append(f"{path}.integrations: must be a list")
        return plan
    seen: dict[tuple[str, str], str] = {}
    for index, item in enumerate(integrations):
        item_path = f"{path}.integrations[{index}]"
        integration = _validate_integration(item_path, item, existing, errors)
        if integration is None:
            continue
        key = (integration.family.name, integration.provider_cls.name)
        if key in seen:
            errors.append(f"{item_path}: {integration.label} already appears at {seen[key]}")
            continue
        seen[key] = item_path
        plan.integrations.append(integration)
    return plan


def _validate_integration(path: str, item, organisation: Organisation | None, errors: list[str]):
    if not isinstance(item, dict):
        errors.append(f"{path}: must be a JSON object")
        return None
    for key in sorted(set(item) - set(INTEGRATION_KEYS)):
        errors.append(f"{path}.{key}: unknown key (expected {', '.join(INTEGRATION_KEYS)})")
    try:
        family = get_family(_required_string(item, "family"))
    except (UnknownFamily, ValueError) as exc:
        errors.append(f"{path}.family: {exc}")
        return None
    try:
        provider_cls = family.provider(_required_string(item, "provider"))
    except (UnknownProvider, ValueError) as exc:
        errors.append(f"{path}.provider: {exc}")
        return None
    problems = len(errors)
    enabled = item.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        errors.append(f"{path}.enabled: must be true or false")
    settings_data, secrets_data = item.get("settings"), item.get("secrets", {})
    for key, value in (("settings", settings_data), ("secrets", secrets_data)):
        if value is not None and not isinstance(value, dict):
            errors.append(f"{path}.{key}: must be a JSON object")
    if len(errors) > problems:
        return None

    config = None
    if organisation is not None:
        config = family.config_model.objects.filter(organisation=organisation, provider=provider_cls.name).first()
    stored_secrets = dict(config.secrets) if config is not None else {}
    secrets, secret_errors = _merge_secrets(path, provider_cls, stored_secrets, secrets_data or {})
    errors.extend(secret_errors)
    if settings_data is None:
        settings_data = dict(config.settings) if config is not None else {}
    given_values = [str(value) for value in (secrets_data or {}).values() if value not in (None, "", MASK)]
    problems = validate_config_data(provider_cls, settings_data, secrets, partial_secrets=False)
    for key, message in sorted(problems.items()):
        errors.append(f"{path}.{key}: {redact(message, given_values)}")
    if problems or secret_errors:
        return None

    settings = jsonable(clean_settings(provider_cls, settings_data))
    enabled = (config.enabled if config is not None else True) if enabled is None else enabled
    plan = IntegrationPlan(
        path=path,
        family=family,
        provider_cls=provider_cls,
        config=config,
        enabled=enabled,
        settings=settings,
        secrets=secrets,
    )
    plan.changes = _config_changes(config, enabled, settings, stored_secrets, secrets)
    return plan


def _required_string(item: dict, key: str) -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError("required (a non-empty string)")
    return value


def _merge_secrets(path: str, provider_cls, stored: dict, given: dict) -> tuple[dict, list[str]]:
    """Stored secrets overlaid with the given ones; "***" and omitted keys keep the stored value.

    Only the provider's declared secrets are kept (as the admin does): a key left over from
    another provider would otherwise fail validation for a key the user never wrote."""
    declared = set(provider_cls.secrets_serializer().fields)
    merged = {key: value for key, value in stored.items() if key in declared}
    errors = []
    for key, value in given.items():
        if key not in declared:
            known = ", ".join(sorted(declared)) or "none"
            errors.append(f"{path}.secrets.{key}: unknown secret for {provider_cls.name} (known: {known})")
        elif value == MASK:
            if not stored.get(key):
                errors.append(f"{path}.secrets.{key}: {MASK!r} keeps the stored value, but none is stored")
        else:
            merged[key] = value
    return merged, errors


def _config_changes(config, enabled: bool, settings: dict, stored_secrets: dict, secrets: dict) -> dict:
    if config is None:
        return {"enabled": [None, enabled], "settings": [None, settings], "secrets": sorted(secrets)}
    changes: dict[str, Any] = {}
    if config.enabled != enabled:
        changes["enabled"] = [config.enabled, enabled]
    if (config.settings or {}) != settings:
        changes["settings"] = [config.settings, settings]
    changed_secrets = sorted(
        key for key in set(stored_secrets) | set(secrets) if stored_secrets.get(key) != secrets.get(key)
    )
    if changed_secrets:
        changes["secrets"] = changed_secrets
    return changes


def _messages(path: str, errors) -> list[str]:
    out = []
    for key, value in errors.items():
        where = path if key in ("non_field_errors", "__all__") else f"{path}.{key}"
        items = value if isinstance(value, list) else [value]
        out.append(f"{where}: {'; '.join(str(item) for item in items)}")
    return out


# -- applying ---------------------------------------------------------------------------------------
def apply(document, *, dry_run: bool = False, actor: str = ACTOR) -> ApplyReport:
    """Validate the whole document, then (unless dry_run) write it in one transaction."""
    plans = validate(document)
    report = ApplyReport(dry_run=dry_run)
    if dry_run:
        for plan in plans:
            _report_plan(report, plan)
        return report
    with transaction.atomic():
        for plan in plans:
            _apply_organisation(plan, actor)
            _report_plan(report, plan)
    return report


def _report_plan(report: ApplyReport, plan: OrganisationPlan) -> None:
    what = f"organisation {plan.slug}"
    if plan.organisation is None:
        report.created.append(what)
    elif plan.changed_fields:
        report.updated.append(f"{what} ({', '.join(plan.changed_fields)})")
    else:
        report.unchanged.append(what)
    for integration in plan.integrations:
        what = f"{integration.label} for {plan.slug}"
        if integration.config is None:
            report.created.append(what)
        elif integration.changes:
            report.updated.append(f"{what} ({_describe(integration.changes)})")
        else:
            report.unchanged.append(what)
        if integration.config is not None and integration.config.status == ConfigStatus.STOPPED:
            # A file can fix a key but not vouch for it: staff resume in admin, which replays held items.
            report.notes.append(
                f"{what} is stopped ({integration.config.status_reason[:120]}); "
                "once its credentials are right, resume it in admin to send what it holds"
            )


def _describe(changes: dict) -> str:
    parts = [name for name in changes if name != "secrets"]
    if "secrets" in changes:
        parts.append("secrets: " + ", ".join(changes["secrets"]))
    return "; ".join(parts)


def _apply_organisation(plan: OrganisationPlan, actor: str) -> None:
    organisation = Organisation.objects.select_for_update().filter(slug=plan.slug).first()
    if organisation is None:
        organisation = Organisation.objects.create(**plan.values)
    elif plan.changed_fields:
        for name in plan.changed_fields:
            setattr(organisation, name, plan.values[name])
        organisation.save(update_fields=[*plan.changed_fields, "updated_at"])
    for integration in plan.integrations:
        if integration.config is None or integration.changes:
            _apply_integration(organisation, integration, actor)


def _apply_integration(organisation: Organisation, plan: IntegrationPlan, actor: str) -> None:
    model = plan.family.config_model
    config = model.objects.select_for_update().filter(organisation=organisation, provider=plan.provider_cls.name)
    config = config.first()
    created = config is None
    if created:
        config = model(organisation=organisation, provider=plan.provider_cls.name)
    config.enabled, config.settings, config.secrets = plan.enabled, plan.settings, plan.secrets
    config.save()
    health.forget(config)
    audit.record(
        plan.family,
        actor=actor,
        action="create_config" if created else "change_config",
        target=config,
        organisation=organisation,
        changes=plan.changes,
        summary=f"{'created' if created else 'changed'} {plan.provider_cls.name} for {organisation.slug} "
        "from a configuration file",
    )


# -- exporting --------------------------------------------------------------------------------------
def export(org_slug: str | None = None) -> dict:
    """Every organisation (or one) with its integrations, secrets redacted to "***"."""
    organisations = Organisation.objects.order_by("slug")
    if org_slug is not None:
        organisations = organisations.filter(slug=org_slug)
        if not organisations.exists():
            raise LookupError(f"unknown organisation {org_slug!r}")
    serializer = _OrganisationSerializer()
    out = []
    for organisation in organisations:
        entry = dict(serializer.to_representation(organisation))
        entry["integrations"] = _export_integrations(organisation)
        out.append(entry)
    return {"organisations": out}


def _export_integrations(organisation: Organisation) -> list[dict]:
    rows = []
    for family in families():
        for config in family.config_model.objects.filter(organisation=organisation).order_by("provider"):
            rows.append(
                {
                    "family": family.name,
                    "provider": config.provider,
                    "enabled": config.enabled,
                    "settings": config.settings or {},
                    "secrets": config.secrets.redacted(),
                }
            )
    return rows
