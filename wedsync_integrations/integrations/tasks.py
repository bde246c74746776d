"""Kernel Celery tasks: each family's scheduled run fans out one task per (organisation, provider),
so a slow or failing vendor or tenant never delays the others."""

from __future__ import annotations

import logging
from functools import partial

from celery import shared_task
from django.core.cache import cache
from django.db import transaction

from . import outbox
from .models import ConfigStatus
from .registry import Family, get_family

logger = logging.getLogger("wedsync.integrations")

# One sync per configuration per this many seconds when something asks for many at once (an
# import of fifty contacts fires fifty "new client" webhooks): each sync brings the vendor up to
# date with everything there is, so the ones after the first would add nothing. Work queued in the
# meantime is not lost: the family's drain (beat, every minute) delivers it.
SYNC_COALESCE_SECONDS = 60


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


def queue_organisation_syncs(family: Family, organisation) -> list[str]:
    """Queue integrations.sync_config for each syncable configuration of `family` for
    `organisation`, published once the caller's transaction commits (a sync never runs before
    what prompted it is visible). Returns the providers queued; a configuration synced moments
    ago is skipped (SYNC_COALESCE_SECONDS)."""
    if family.sync_handler is None or organisation is None:
        return []
    queued = []
    for config_pk, provider in syncable_configs(family).filter(organisation=organisation).values_list("pk", "provider"):
        key = f"wsi:sync-soon:{family.name}:{config_pk}"
        if not cache.add(key, 1, timeout=SYNC_COALESCE_SECONDS):
            continue  # a sync queued moments ago covers this change too
        transaction.on_commit(partial(_publish_sync, family.name, config_pk, key))
        queued.append(provider)
    return queued


def _publish_sync(family_name: str, config_pk: int, coalesce_key: str) -> None:
    try:
        sync_config.delay(family_name, config_pk)
    except Exception as exc:  # broker down: the next scheduled sync or drain does it instead
        cache.delete(coalesce_key)
        logger.warning("integrations.sync_publish_failed family=%s config=%s error=%s", family_name, config_pk,
                       type(exc).__name__)  # fmt: skip


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
