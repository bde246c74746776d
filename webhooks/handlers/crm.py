"""CRM "new client" / "booking" events → queue that organisation's syncs.

Per the product rules a CRM "new client" triggers the organisation's AI metrics sync. The handler
never trusts the event body (Tave's postback is only a hint, docs/vendors/inbound-signatures.md): it only says "this
organisation changed", and queues the kernel task integrations.sync_config for each enabled,
usable config of the families in WEBHOOK_CRM_SYNC_FAMILIES (monitoring, and crm once that family
exists), found through the kernel registry. A burst of events for one organisation (an import of
fifty contacts) is coalesced: one sync per config per COALESCE_SECONDS, since each sync pushes the
organisation's current figures anyway.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache

from wedsync_integrations.integrations.models import ConfigStatus
from wedsync_integrations.integrations.registry import families

from ..registry import handles

logger = logging.getLogger("wedsync.webhooks.crm")

# Which inbound events mean "a new client or a booking" (Tave's documented names; HoneyBook's come from
# the customer's Zapier zap, so they are our convention, as are the generic ones).
CRM_TRIGGERS: dict[str, tuple[str, ...]] = {
    "tave": ("contact.created", "job.created", "order.booked"),
    "honeybook": ("client.created", "inquiry.created", "project.booked"),
    "generic": ("crm.client.created", "crm.booking.created"),
}
DEFAULT_SYNC_FAMILIES = ("monitoring", "crm")
COALESCE_SECONDS = 60


def sync_families() -> list:
    wanted = getattr(settings, "WEBHOOK_CRM_SYNC_FAMILIES", DEFAULT_SYNC_FAMILIES)
    return [family for family in families() if family.name in wanted and family.sync_handler is not None]


def queue_organisation_syncs(event) -> list[str]:
    """Queue integrations.sync_config for each usable config of the organisation's sync families."""
    from wedsync_integrations.integrations.tasks import sync_config

    if event.organisation is None:
        return []
    queued = []
    for family in sync_families():
        configs = family.config_model.objects.filter(organisation=event.organisation, enabled=True).exclude(
            status=ConfigStatus.STOPPED
        )
        for config in configs:
            key = f"wsi:wh:crm-sync:{family.name}:{config.pk}"
            if not cache.add(key, event.pk, timeout=COALESCE_SECONDS):
                continue  # a sync queued moments ago already covers this change
            try:
                sync_config.delay(family.name, config.pk)
            except Exception:
                cache.delete(key)  # let the retry of this event queue it
                raise
            queued.append(f"{family.name}:{config.provider}")
    logger.info(
        "webhooks.crm_sync org=%s source=%s event=%s queued=%s",
        event.organisation.slug,
        event.source,
        event.event_type,
        ",".join(queued) or "none",
    )
    return queued


for _source, _event_types in CRM_TRIGGERS.items():
    handles(_source, *_event_types)(queue_organisation_syncs)
