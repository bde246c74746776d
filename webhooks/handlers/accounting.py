"""Accounting webhooks → durable export confirmations.

QuickBooks, Xero and FreshBooks tell us when an entity in the organisation's ledger was created,
changed, voided or deleted. Each such event is recorded as an ExportConfirmation (source,
organisation, vendor account, entity type and id, operation, time), idempotently per event.

The accounting exporter family does not exist yet. When one is registered (family name
"accounting", one provider per vendor named like the source), a confirmation is matched to its
outbox item whose delivery result names the same entity: the exporter must put
{"entity_type": "Bill", "entity_id": "145"} in its DeliveryResult.detail (kept as the item's
`result`). Until then, and for entities created by hand in the ledger, confirmations stay
unmatched; `match_unmatched()` (hourly beat task) re-tries them once the exporter's rows exist,
and the signal `export_confirmed` lets that family react.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.dispatch import Signal
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.registry import UnknownFamily, get_family

from ..models import ExportConfirmation
from ..providers.freshbooks import VERIFY_EVENT
from ..registry import handles

logger = logging.getLogger("wedsync.webhooks.accounting")

ACCOUNTING_FAMILY = "accounting"
export_confirmed = Signal()  # sender=ExportConfirmation, confirmation=…, item=… (or None)

FRESHBOOKS_OPERATIONS = {"create": "created", "update": "updated", "delete": "deleted"}
XERO_OPERATIONS = {"CREATE": "created", "UPDATE": "updated"}


def _when(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    parsed = parse_datetime(value)
    if parsed is not None and timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)  # Xero eventDateUtc has no offset: it is UTC
    return parsed


# -- per vendor: (entity type, entity id, operation, occurred at, vendor account) ---------------------
def _quickbooks(event) -> tuple:
    payload = event.payload
    if payload.get("format") == "legacy":
        entity = payload.get("entity") or {}
        operation = event.event_type.split(".")[2]
        return (
            entity.get("name", ""),
            str(entity.get("id", "")),
            operation,
            _when(entity.get("lastUpdated")),
            str(payload.get("realmId", "")),
        )
    # CloudEvents "qbo.<entity>.<operation>.v1"
    parts = event.event_type.split(".")
    entity_type = parts[1].capitalize() if len(parts) > 2 else "?"
    operation = parts[2] if len(parts) > 2 else event.event_type
    return (
        entity_type,
        str(payload.get("intuitentityid") or ""),
        operation,
        _when(payload.get("time")),
        str(payload.get("intuitaccountid") or ""),
    )


def _xero(event) -> tuple:
    payload = event.payload
    return (
        str(payload.get("eventCategory", "")).capitalize(),
        str(payload.get("resourceId", "")),
        XERO_OPERATIONS.get(str(payload.get("eventType", "")).upper(), str(payload.get("eventType", "")).lower()),
        _when(payload.get("eventDateUtc")),
        str(payload.get("tenantId", "")),
    )


def _freshbooks(event) -> tuple:
    payload = event.payload
    entity_type, _, operation = event.event_type.partition(".")
    return (
        entity_type.capitalize(),
        str(payload.get("object_id", "")),
        FRESHBOOKS_OPERATIONS.get(operation, operation),
        None,  # FreshBooks callbacks carry no event time
        str(payload.get("account_id", "")),
    )


EXTRACTORS = {"quickbooks": _quickbooks, "xero": _xero, "freshbooks": _freshbooks}


@handles("quickbooks", "*")
@handles("xero", "*")
@handles("freshbooks", "*")
def record_confirmation(event) -> str:
    if event.event_type == VERIFY_EVENT or event.organisation is None:
        return "not an entity event"
    entity_type, entity_id, operation, occurred_at, account = EXTRACTORS[event.source](event)
    if not entity_type or not entity_id:
        return "no entity named"
    confirmation, created = ExportConfirmation.objects.get_or_create(
        inbound_event=event,
        entity_type=entity_type[:64],
        entity_id=entity_id[:128],
        operation=operation[:32],
        defaults={
            "source": event.source,
            "organisation": event.organisation,
            "vendor_account": account[:64],
            "occurred_at": occurred_at or event.received_at,
        },
    )
    item = match(confirmation) if confirmation.matched_item_id is None else None
    if created:
        export_confirmed.send_robust(sender=ExportConfirmation, confirmation=confirmation, item=item)
    return f"{entity_type} {entity_id} {operation}" + (f" matched export #{item.pk}" if item else " (unmatched)")


def match(confirmation: ExportConfirmation):
    """Link a confirmation to the accounting outbox item that created the entity, if any."""
    try:
        family = get_family(ACCOUNTING_FAMILY)
    except UnknownFamily:
        return None  # the accounting exporter arrives later; the confirmation waits
    item = (
        family.retry_model.objects.filter(
            organisation_id=confirmation.organisation_id,
            provider=confirmation.source,
            state=RetryState.SUCCEEDED,
            result__entity_id=confirmation.entity_id,
            result__entity_type__iexact=confirmation.entity_type,
        )
        .order_by("-id")
        .first()
    )
    if item is None:
        return None
    ExportConfirmation.objects.filter(pk=confirmation.pk).update(
        matched_family=family.name, matched_item_id=item.pk, matched_at=timezone.now()
    )
    confirmation.matched_family, confirmation.matched_item_id = family.name, item.pk
    logger.info("webhooks.export_confirmed source=%s entity=%s item=%s", confirmation.source, confirmation.entity_id,
                item.pk)  # fmt: skip
    return item


def match_unmatched(limit: int = 1000) -> int:
    """Retry matching confirmations that arrived before their export row (or before the family);
    run hourly by the beat task webhooks.match_confirmations."""
    try:
        get_family(ACCOUNTING_FAMILY)
    except UnknownFamily:
        return 0  # nothing can match yet: no need to visit every waiting confirmation
    matched = 0
    for confirmation in ExportConfirmation.objects.filter(matched_item_id__isnull=True).order_by("id")[:limit]:
        matched += match(confirmation) is not None
    return matched
