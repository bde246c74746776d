"""`manage.py check` proves every family is completely wired, naming what is missing.

A family that half-plugs into the kernel (a model not installed or not built on the kernel's
abstract model, an admin not registered, a provider without a health check, a schedule naming a
task nobody registered) would otherwise fail at 3 a.m. on the first scheduled run. Each problem
is one Error whose message names the family and the missing piece.
"""

from __future__ import annotations

import importlib.util

from django.apps import apps
from django.contrib import admin
from django.core import checks

from .credentials import SignInSession
from .models import AuditEntryBase, ProviderConfigBase, RetryItemBase, SyncLogBase
from .registry import MODEL_KINDS, Family, Provider, StrictSerializer, families
from .schedules import kernel_schedules

MODEL_BASES = {
    "config": ProviderConfigBase,
    "sync_log": SyncLogBase,
    "audit": AuditEntryBase,
    "retry": RetryItemBase,
}
SYNC_TASK = "integrations.sync_family"


@checks.register()
def check_families(app_configs=None, **kwargs):
    problems: list[checks.CheckMessage] = []
    for family in families():
        problems += family_problems(family)
    known = _registered_tasks()
    for owner, schedule in kernel_schedules():
        if schedule.task not in known:
            problems.append(
                checks.Error(
                    f"{owner}: schedule {schedule.name!r} runs unknown task {schedule.task!r}", id="integrations.E010"
                )
            )
    return problems


def family_problems(family: Family) -> list[checks.CheckMessage]:
    """Every way `family` is not completely wired (empty when it is)."""
    problems = _model_problems(family)
    if not problems:  # admin and providers are checked against models that exist
        problems += _admin_problems(family)
    problems += _provider_problems(family)
    problems += _schedule_problems(family)
    return problems


def _error(family: Family, message: str, code: int, hint: str = "") -> checks.Error:
    return checks.Error(f"family {family.name!r}: {message}", hint=hint or None, id=f"integrations.E{code:03d}")


def _model_problems(family: Family) -> list[checks.CheckMessage]:
    problems = []
    for kind in MODEL_KINDS:
        label = family.model_labels[kind]
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            problems.append(
                _error(family, f"its {kind} model {label!r} is not installed", 1, "add the app to INSTALLED_APPS")
            )
            continue
        if not issubclass(model, MODEL_BASES[kind]):
            problems.append(
                _error(
                    family,
                    f"{label} is not a {MODEL_BASES[kind].__name__}",
                    2,
                    f"subclass {MODEL_BASES[kind].__name__}",
                )
            )
        elif kind == "config" and model.family_name != family.name:
            problems.append(
                _error(family, f"{label}.family_name is {model.family_name!r}", 3, f"set family_name = {family.name!r}")
            )
    return problems


def _admin_problems(family: Family) -> list[checks.CheckMessage]:
    return [
        _error(
            family,
            f"its {kind} model {family.model_labels[kind]} has no admin page",
            4,
            "call register_family_admin(FAMILY) in the app's admin.py",
        )
        for kind in MODEL_KINDS
        if not admin.site.is_registered(family.model(kind))
    ]


def _provider_problems(family: Family) -> list[checks.CheckMessage]:
    if not family.providers:
        return [_error(family, "no provider is registered", 5, "decorate each vendor class with @FAMILY.register")]
    problems = []
    for name, provider_cls in sorted(family.providers.items()):
        problems += [_error(family, f"provider {name!r} {issue}", 6) for issue in provider_issues(family, provider_cls)]
    return problems


def provider_issues(family: Family, provider_cls: type[Provider]) -> list[str]:
    """What a provider class lacks to be used by the kernel (admin, outbox, health, credentials)."""
    issues = []
    if not provider_cls.label:
        issues.append("has no label (admin and docs show it)")
    for kind in ("settings_serializer", "secrets_serializer"):
        if not issubclass(getattr(provider_cls, kind), StrictSerializer):
            issues.append(f"{kind} is not a StrictSerializer (unknown keys would be silently dropped)")
    if provider_cls.check_health is Provider.check_health:
        issues.append("has no check_health() (admin's 'test connection' and the health column need one)")
    if not family.inbound_only and provider_cls.deliver is Provider.deliver:
        issues.append("has no deliver() (the outbox cannot send its items)")
    scheme = provider_cls.credentials
    if scheme is not None:
        issues += [f"credentials: {issue}" for issue in scheme.issues(provider_cls)]
        if isinstance(scheme, SignInSession) and provider_cls.sign_in is Provider.sign_in:
            issues.append("credentials: a sign-in session needs the provider's sign_in()")
        if scheme.connectable and provider_cls.connected_account is Provider.connected_account:
            issues.append("credentials: connecting needs the provider's connected_account()")
    return issues


def _registered_tasks() -> set[str]:
    """Every Celery task name, after importing each installed app's tasks module as the worker's
    autodiscovery does (importing directly: Celery's own hook re-runs these checks)."""
    from wedsync_integrations.celery import app

    for app_config in apps.get_app_configs():
        module = f"{app_config.name}.tasks"
        if _has_package(app_config) and importlib.util.find_spec(module) is not None:
            importlib.import_module(module)
    return set(app.tasks)


def _has_package(app_config) -> bool:
    return getattr(app_config.module, "__path__", None) is not None


def _schedule_problems(family: Family) -> list[checks.CheckMessage]:
    known_tasks = _registered_tasks()
    problems = []
    for schedule in family.schedules:
        if schedule.task not in known_tasks:
            problems.append(_error(family, f"schedule {schedule.name!r} runs unknown task {schedule.task!r}", 7))
        if bool(schedule.every) == bool(schedule.crontab):
            problems.append(_error(family, f"schedule {schedule.name!r} needs exactly one of every or crontab", 8))
        if schedule.task == SYNC_TASK and family.sync_handler is None:
            problems.append(
                _error(family, f"schedule {schedule.name!r} runs the family's sync, but none is registered", 9,
                       "decorate the sync function with @FAMILY.sync")
            )  # fmt: skip
    return problems
