"""BI Celery tasks. `bi.refresh_and_sync` runs right after every rollup that recomputed hours (see
receivers.py) and every minute from beat (the safety net): it refreshes the metrics and reporting
tables once, then fans out one sync per configuration, so one slow or failing tool never blocks
another."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from wedsync_integrations.integrations.tasks import sync_config, syncable_configs

from .family import FAMILY
from .sync import refresh_everything


def queue() -> str | None:
    return settings.BI_TASK_QUEUE or None


@shared_task(name="bi.refresh_and_sync", ignore_result=True)
def refresh_and_sync() -> dict:
    refreshed = refresh_everything()
    configs = list(syncable_configs(FAMILY).values_list("pk", flat=True))
    for pk in configs:
        sync_config.apply_async((FAMILY.name, pk), queue=queue())
    return {**refreshed, "configs": len(configs)}
