"""Inbound events the monitoring family acts on.

Product rule: a CRM "new client" (a Tave contact, job or booking; a HoneyBook client through the
studio's zap; a partner's crm.client.created) triggers that organisation's AI metrics sync, so
its monitoring vendors are brought up to date at once instead of at the next beat. Which events
mean "new client" is the webhooks app's vocabulary (webhooks.registry.NEW_CLIENT_EVENTS). The
event body is never trusted for figures: the sync reads them from the usage rollups.
"""

from __future__ import annotations

import logging

from webhooks.registry import handles_new_client
from wedsync_integrations.integrations.tasks import queue_organisation_syncs

from .family import FAMILY

logger = logging.getLogger("wedsync.monitoring")


@handles_new_client
def sync_metrics_for_new_client(event) -> list[str]:
    queued = queue_organisation_syncs(FAMILY, event.organisation)
    logger.info(
        "monitoring.new_client_sync org=%s source=%s event=%s queued=%s",
        getattr(event.organisation, "slug", None),
        event.source,
        event.event_type,
        ",".join(queued) or "none",
    )
    return queued
