"""The family's sync (`manage.py sync bi`, the scheduled fan-out, and the refresh after each rollup).

refresh_everything(): the executive metrics follow the rollups (bi/metrics.py), then Looker's
reporting tables take the scopes whose rows changed (bi/reporting.py). Cheap when nothing changed,
and one at a time across processes.

sync_bi(config): refresh, then push what changed to that configuration's tool (bi/export.py).
"""

from __future__ import annotations

import logging

from django.utils import timezone

from . import metrics, reporting
from .export import push
from .family import FAMILY
from .models import ExecutiveMetrics, RefreshState

logger = logging.getLogger("wedsync.bi")


def refresh_everything(now=None) -> dict:
    now = now or timezone.now()
    result = metrics.refresh(now)
    if result.skipped:
        return {"skipped": True}
    state = RefreshState.get()
    changed = ExecutiveMetrics.objects.all()
    if state.reporting_loaded_at is not None:
        changed = changed.filter(changed_at__gt=state.reporting_loaded_at)
    scopes = sorted(set(changed.values_list("scope_key", flat=True).distinct()))
    loaded = {"loaded": [], "held_back": {}}
    if scopes or state.reporting_loaded_at is None:
        loaded = reporting.load(scopes, now=now)
        RefreshState.objects.filter(pk=state.pk).update(reporting_loaded_at=now)
    if loaded["held_back"]:
        logger.warning("bi.reporting.held_back scopes=%s", sorted(loaded["held_back"]))
    return {"days": result.days, "months": result.months, "rows_changed": result.rows_changed,
            "reporting_loaded": len(loaded["loaded"]), "reporting_held_back": sorted(loaded["held_back"])}  # fmt: skip


@FAMILY.sync
def sync_bi(config, *, progress=None, now=None):
    now = now or timezone.now()
    refresh_everything(now)
    provider = config.get_provider()
    result = push(provider, now=now)
    if progress:
        progress(1, 1, f"{config.provider}: queued {result.queued}")
    logger.info(
        "bi.sync org=%s provider=%s queued=%s delivered=%s failed=%s skipped=%s",
        config.organisation.slug, config.provider, result.queued, result.delivered, result.failed, result.skipped,
    )  # fmt: skip
    return result
