"""Follow the rollups: every rollup run that recomputed hours queues the BI refresh at once, so a
finished hour reaches every BI tool within seconds of its rollup (the product's "BI refresh < 1 min")
instead of waiting for beat's next tick."""

from __future__ import annotations

import logging

from django.dispatch import receiver

from wedsync_integrations.usage.signals import rollups_updated

logger = logging.getLogger("wedsync.bi")


@receiver(rollups_updated, dispatch_uid="bi.refresh_after_rollup")
def refresh_after_rollup(sender, hours, **kwargs) -> None:
    from .tasks import queue, refresh_and_sync

    try:
        refresh_and_sync.apply_async(queue=queue())
    except Exception:  # the broker being down must not fail the rollup; beat's minute tick catches up
        logger.warning("bi.refresh_not_queued hours=%d", len(hours), exc_info=True)
