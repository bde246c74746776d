"""The ledgers' webhooks confirm exports (moved here from the webhooks app, which only carries
events: it verifies, stores and dispatches them to the handlers families register).

QuickBooks, Xero and FreshBooks tell us when an entity in the organisation's ledger was created,
changed, voided or deleted. Each such event becomes an ExportConfirmation (source, organisation,
vendor account, entity type and id, operation, time), idempotently per event, and is matched to
the export whose document it names (MonthlyExport.vendor_entity_id, kept from the create
answer): a creation or change confirms the export; a deletion or void marks it voided and tells
staff. A confirmation that arrives before its export is recorded stays unmatched and is matched
by the hourly task (match_unmatched). Payloads are thin: the nightly reconciliation reads the
document itself (reconcile.py).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from webhooks.registry import handles
from wedsync_integrations.integrations.signals import Notice, attention_over, need_attention

from .family import FAMILY
from .models import ExportConfirmation, ExportState, MonthlyExport

logger = logging.getLogger("wedsync.accounting.confirmations")

# FreshBooks' verification handshake (the webhooks app adopts the code as the signing secret): no entity
VERIFY_EVENT = "callback.verify"
FRESHBOOKS_OPERATIONS = {"create": "created", "update": "updated", "delete": "deleted"}
XERO_OPERATIONS = {"CREATE": "created", "UPDATE": "updated"}
GONE_OPERATIONS = {"deleted", "voided"}
MATCH_WINDOW = timedelta(days=31)


def _when(value) -> datetime | None:
    if not isinstance(value, str):
        return None
    parsed = parse_datetime(value)
    if parsed is not None and timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)  # Xero's eventDateUtc has no offset: it is UTC
    return parsed


# -- per vendor: (entity type, entity id, operation, occurred at, vendor account) ---------------------------------
def _quickbooks(event) -> tuple:
    payload = event.payload
    if payload.get("format") == "legacy":
        entity = payload.get("entity") or {}
        return (
            entity.get("name", ""),
            str(entity.get("id", "")),
            event.event_type.split(".")[2],
            _when(entity.get("lastUpdated")),
            str(payload.get("realmId", "")),
        )
    # CloudEvents "qbo.<entity>.<operation>.v1"
    parts = event.event_type.split(".")
    return (
        parts[1].capitalize() if len(parts) > 2 else "?",
        str(payload.get("intuitentityid") or ""),
        parts[2] if len(parts) > 2 else event.event_type,
        _when(payload.get("time")),
        str(payload.get("intuitaccountid") or ""),
    )


def _xero(event) -> tuple:
    payload = event.payload
    kind = str(payload.get("eventType", ""))
    return (
        str(payload.get("eventCategory", "")).capitalize(),
        str(payload.get("resourceId", "")),
        XERO_OPERATIONS.get(kind.upper(), kind.lower()),
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
    confirmation, _ = ExportConfirmation.objects.get_or_create(
        inbound_event_id=event.pk,
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
    export = confirmation.export if confirmation.export_id else match(confirmation)
    summary = f"{entity_type} {entity_id} {operation}"
    return summary + (f" matched export {export.reference}" if export else " (unmatched)")


def match(confirmation: ExportConfirmation) -> MonthlyExport | None:
    """Link a confirmation to the export whose document it names, and apply what it says."""
    export = (
        MonthlyExport.objects.filter(
            organisation_id=confirmation.organisation_id,
            provider=confirmation.source,
            vendor_entity_id=confirmation.entity_id,
            vendor_entity_type__iexact=confirmation.entity_type,
        )
        .order_by("-id")
        .first()
    )
    if export is None:
        return None
    now = timezone.now()
    ExportConfirmation.objects.filter(pk=confirmation.pk).update(
        export=export, matched_item_id=export.retry_item_id, matched_at=now
    )
    confirmation.export, confirmation.matched_item_id = export, export.retry_item_id
    apply(export, confirmation.operation, now)
    logger.info("accounting.confirmed source=%s entity=%s export=%s operation=%s", confirmation.source,
                confirmation.entity_id, export.reference, confirmation.operation)  # fmt: skip
    return export


def apply(export: MonthlyExport, operation: str, now) -> None:
    if operation in GONE_OPERATIONS:
        reason = f"{export.provider} says the {export.vendor_entity_type} {export.vendor_entity_id} was {operation}"
        MonthlyExport.objects.filter(pk=export.pk).update(state=ExportState.VOIDED, state_reason=reason)
        tell_voided(export, reason)
        return
    confirmed = MonthlyExport.objects.filter(
        pk=export.pk, state__in=[ExportState.QUEUED, ExportState.SENT, ExportState.FAILED]
    ).update(state=ExportState.CONFIRMED, confirmed_at=now, state_reason="")
    if confirmed:
        attention_over(FAMILY, unconfirmed_key(export), export.organisation)


def unconfirmed_key(export: MonthlyExport) -> str:
    return f"accounting:unconfirmed:{export.pk}"


def tell_voided(export: MonthlyExport, reason: str) -> None:
    need_attention(FAMILY, Notice(
        key=f"accounting:voided:{export.pk}",
        title=f"{export.reference} was voided or deleted in {export.provider}",
        description=f"{reason}. The ledger no longer carries the AI costs of {export.month:%B %Y} "
                    f"(£{export.amount_sent_gbp}).",
        severity="high", organisation=export.organisation,
        impact="the organisation's books and VAT return miss this month's AI costs",
        recovery_actions=("Ask the organisation whether it was deliberate",
                          "Replay the export from admin if it should be in the ledger"),
        details={"export": export.pk, "reference": export.reference},
    ))  # fmt: skip


def match_unmatched(limit: int = 1000) -> int:
    """Match confirmations of the last MATCH_WINDOW that arrived before their export's create
    answer was recorded (hourly beat task accounting.match_confirmations). Older unmatched ones
    name entities we did not create (a bill keyed in by hand) and are left alone."""
    matched = 0
    recent = ExportConfirmation.objects.filter(export__isnull=True, created_at__gte=timezone.now() - MATCH_WINDOW)
    for confirmation in recent.order_by("id")[:limit]:
        matched += match(confirmation) is not None
    return matched
