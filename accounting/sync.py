"""The family's sync handler: `manage.py sync accounting [--org] [--provider]` and the daily
scheduled run (integrations.sync_family fan-out) call it per configuration."""

from __future__ import annotations

import logging

from django.utils import timezone

from wedsync_integrations.integrations.registry import SyncResult

from .exporter import export_months
from .family import FAMILY

logger = logging.getLogger("wedsync.accounting")


@FAMILY.sync
def sync_accounting(config, *, progress=None, now=None) -> SyncResult:
    result = export_months(config, now=now or timezone.now(), progress=progress)
    logger.info(
        "accounting.sync org=%s provider=%s queued=%s delivered=%s failed=%s skipped=%s",
        config.organisation.slug, config.provider, result.queued, result.delivered, result.failed, result.skipped,
    )  # fmt: skip
    return result
