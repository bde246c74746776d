"""Kernel Celery tasks: each family's scheduled run fans out one task per (organisation, provider),
so a slow or failing vendor or tenant never delays the others."""

from __future__ import annotations

from celery import shared_task

from . import outbox
from .models import ConfigStatus
from .registry import Family, get_family


def syncable_configs(family: Family):
    """The configurations a sync runs for: enabled, not stopped, of an active organisation
    (the scheduled run and `manage.py sync` select the same)."""
    return family.config_model.objects.filter(enabled=True, organisation__is_active=True).exclude(
        status=ConfigStatus.STOPPED
    )


@shared_task(name="integrations.sync_family")
def sync_family(family_name: str) -> int:
    """Fan out one sync task per usable configuration of the family."""
    family = get_family(family_name)
    if family.sync_handler is None:
        return 0
    count = 0
    for config_pk in syncable_configs(family).values_list("pk", flat=True):
        sync_config.delay(family_name, config_pk)
        count += 1
    return count


@shared_task(name="integrations.sync_config")
def sync_config(family_name: str, config_pk: int) -> dict:
    family = get_family(family_name)
    config = family.config_model.objects.select_related("organisation").filter(pk=config_pk).first()
    if config is None or not config.is_usable or family.sync_handler is None:
        return {"skipped": True}
    result = family.sync_handler(config)
    return {"queued": result.queued, "delivered": result.delivered, "failed": result.failed}


@shared_task(name="integrations.drain_family")
def drain_family(family_name: str) -> int:
    """Fan out one drain task per (organisation, provider) with due retry items."""
    family = get_family(family_name)
    pairs = outbox.due_pairs(family)
    for organisation_id, provider in pairs:
        drain_pair.delay(family_name, organisation_id, provider)
    return len(pairs)


@shared_task(name="integrations.drain_pair")
def drain_pair(family_name: str, organisation_id: int | None, provider: str) -> dict:
    return outbox.drain_pair(family_name, organisation_id, provider)
