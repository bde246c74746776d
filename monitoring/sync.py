"""The family's sync handler: `manage.py sync monitoring` and the scheduled run call it per config.

It first brings the usage rollups up to date (so a just-finished hour is complete), then lets
the config's provider export every finished hour it has not exported yet (backfilling after an
outage, within what the vendor accepts) and drain its queue.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from wedsync_integrations.integrations.registry import SyncResult
from wedsync_integrations.usage.models import RollupDirtyHour

from .family import FAMILY
from .metrics import floor_hour

logger = logging.getLogger("wedsync.monitoring")


def bring_rollups_up_to_date(organisation, now) -> None:
    """Run the incremental rollup when the organisation has a finished hour still to roll up.

    The rollup's own beat keeps finished hours current; this catches the minute after an hour
    ends, late usage and a manual `sync`, without every (organisation, provider) task re-running
    the rollup of all tenants for the hour in progress, which stays dirty while usage flows.
    The rollup is a no-op while another process runs it. Either way is safe: an hour whose rollup
    is not finished keeps its dirty marker, and the exporter never exports such an hour (it
    waits for the next run)."""
    from wedsync_integrations.usage import rollup

    if RollupDirtyHour.objects.filter(organisation=organisation, hour__lt=floor_hour(now)).exists():
        rollup.update_rollups(now=now)


@FAMILY.sync
def sync_monitoring(config, *, progress=None, now=None) -> SyncResult:
    now = now or timezone.now()
    bring_rollups_up_to_date(config.organisation, now)
    provider = config.get_provider()
    result = provider.sync(now=now, progress=progress)
    logger.info(
        "monitoring.sync org=%s provider=%s queued=%s delivered=%s failed=%s skipped=%s",
        config.organisation.slug,
        config.provider,
        result.queued,
        result.delivered,
        result.failed,
        result.skipped,
    )
    return result
