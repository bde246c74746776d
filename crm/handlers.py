"""Inbound events the CRM family acts on (registered with the webhooks app, which stays transport).

A "new client or booking" (webhooks.registry.NEW_CLIENT_EVENTS: Tave's REST hooks, HoneyBook's
through the studio's zap, a partner's generic event) queues that organisation's CRM syncs, which
must reach the vendor within the product's CRM sync latency (5 minutes). A Tave job or booking
also queues a re-read of the job through the studio's API key (Tave's hook body is only a hint,
docs/vendors/tave.md), in the Tave configuration's outbox, so the job is linked to its wedding by the
sync that follows: retried with backoff if Tave is down, kept if the key is refused.
"""

from __future__ import annotations

import logging
from functools import partial

from django.db import transaction

from webhooks.registry import handles_new_client
from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.tasks import drain_pair, queue_organisation_syncs

from .family import FAMILY
from .models import CRMConfig
from .providers.base import LINK_JOB

logger = logging.getLogger("wedsync.crm")

# Tave REST-hook events whose targetId names a job (job.created) or an order of one (order.booked)
TAVE_JOB_EVENTS = ("job.created", "order.booked")


def queue_job_read(event) -> str:
    """Queue the re-read of the job a Tave event names, on the organisation's Tave configuration."""
    config = CRMConfig.objects.filter(organisation=event.organisation, provider="tave").first()
    target = str((event.payload or {}).get("targetId") or "")
    if config is None or not config.enabled:
        return "no enabled Tave CRM configuration (no API key to read the job with): job not linked"
    if not target:
        return "the event names no job"
    outbox.enqueue(
        config,
        operation=LINK_JOB,
        payload={"event": event.event_type, "target_id": target},
        dedupe_key=f"crm:{config.pk}:link:{event.event_type}:{target}",
    )
    # Drained at once, even when the sync is coalesced with one queued moments ago (a burst).
    transaction.on_commit(partial(_drain_soon, config.organisation_id, config.provider), robust=True)
    return f"job read queued ({event.event_type} {target})"


def _drain_soon(organisation_id: int, provider: str) -> None:
    drain_pair.delay(FAMILY.name, organisation_id, provider)  # if this fails, beat's drain sends it


@handles_new_client
def sync_crms_for_new_client(event) -> str:
    if event.organisation is None:
        return "no organisation"
    notes = []
    if event.source == "tave" and event.event_type in TAVE_JOB_EVENTS:
        notes.append(queue_job_read(event))
    queued = queue_organisation_syncs(FAMILY, event.organisation)
    notes.append(f"syncs queued: {', '.join(queued) or 'none'}")
    summary = "; ".join(notes)
    logger.info("crm.new_client org=%s source=%s event=%s %s", event.organisation.slug, event.source,
                event.event_type, summary)  # fmt: skip
    return summary
