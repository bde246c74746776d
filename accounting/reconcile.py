"""Nightly reconciliation: every recent export is read back from its ledger and compared with
what was sent (accounting.reconcile, beat at 03:30 London).

Read back: the exports of the last ACCOUNTING_RECONCILE_MONTHS months and every export not yet
confirmed, whatever its month. For each:
- the document is gone (deleted or voided)               -> voided, staff told (high)
- its lines' total, or its VAT (standard rate), differs   -> mismatch, staff told (high)
- it matches                                              -> confirmed (also what a webhook does)
An export still not confirmed ACCOUNTING_UNCONFIRMED_ALERT_HOURS after it was queued (never
delivered, failed, or its ledger unreachable) tells staff too; each condition is one alert per
export, resolved when the export is confirmed. A failing ledger never stops the others.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from wedsync_integrations.integrations.errors import IntegrationError
from wedsync_integrations.integrations.models import SyncOutcome
from wedsync_integrations.integrations.signals import Notice, attention_over, need_attention

from .confirmations import tell_voided, unconfirmed_key
from .family import FAMILY
from .models import ExportState, MonthlyExport, Treatment
from .months import Month
from .providers.base import VendorDocument

logger = logging.getLogger("wedsync.accounting.reconcile")

UNSETTLED = [ExportState.QUEUED, ExportState.SENT, ExportState.FAILED]


def exports_to_check(now: datetime):
    oldest = Month.of(now)
    for _ in range(settings.ACCOUNTING_RECONCILE_MONTHS):
        oldest = oldest.previous()
    return (
        MonthlyExport.objects.filter(Q(month__gte=oldest.first_day) | Q(state__in=UNSETTLED))
        .exclude(state=ExportState.VOIDED)
        .select_related("organisation", "config")
        .order_by("organisation_id", "provider", "month", "sequence")
    )


def reconcile_all(now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    counts = {"checked": 0, "confirmed": 0, "mismatch": 0, "voided": 0, "unreadable": 0, "unconfirmed": 0}
    providers: dict[int, object] = {}
    for export in exports_to_check(now):
        if export.vendor_entity_id and export.config is not None and export.config.is_usable:
            provider = providers.setdefault(export.config_id, export.config.get_provider())
            outcome = reconcile(provider, export, now)
            counts["checked"] += 1
            counts[outcome] = counts.get(outcome, 0) + 1
        export.refresh_from_db()
        if export.state in UNSETTLED and now - export.created_at > unconfirmed_after():
            counts["unconfirmed"] += 1
            tell_unconfirmed(export, now)
    logger.info("accounting.reconciled %s", counts)
    return counts


def unconfirmed_after() -> timedelta:
    return timedelta(hours=settings.ACCOUNTING_UNCONFIRMED_ALERT_HOURS)


def reconcile(provider, export: MonthlyExport, now: datetime) -> str:
    """Read one export back and record what the ledger holds; returns the outcome."""
    try:
        held = provider.read_back(export)  # network: outside any transaction
    except IntegrationError as exc:
        message = provider.redact(exc.message)
        _log(export, now, SyncOutcome.FAILED, f"could not read {export.reference} back: {message}")
        return "unreadable"
    state, reason = compare(export, held)
    MonthlyExport.objects.filter(pk=export.pk).update(
        vendor_state={**held.as_json(), "checked_at": now.isoformat()}, checked_at=now, state=state,
        state_reason=reason,
        confirmed_at=export.confirmed_at or (now if state == ExportState.CONFIRMED else None),
    )  # fmt: skip
    _log(export, now, SyncOutcome.SUCCESS if state == ExportState.CONFIRMED else SyncOutcome.FAILED,
         reason or f"{export.reference} matches the ledger", held.as_json())  # fmt: skip
    if state == ExportState.CONFIRMED:
        attention_over(FAMILY, unconfirmed_key(export), export.organisation)
        attention_over(FAMILY, mismatch_key(export), export.organisation)
    elif state == ExportState.VOIDED:
        tell_voided(export, reason)
    else:
        tell_mismatch(export, reason)
    return str(state)


def compare(export: MonthlyExport, held: VendorDocument) -> tuple[str, str]:
    if held.gone:
        return ExportState.VOIDED, f"{export.provider} holds {held.entity_type} {held.entity_id} as {held.status}"
    differences = []
    if held.amount is not None and held.amount != export.amount_sent_gbp:
        differences.append(f"its lines total £{held.amount} where £{export.amount_sent_gbp} was sent")
    if export.treatment == Treatment.STANDARD and held.tax is not None and held.tax != export.vat_gbp:
        differences.append(f"its VAT is £{held.tax} where the lines' VAT is £{export.vat_gbp}")
    if differences:
        return ExportState.MISMATCH, f"{export.reference} differs in {export.provider}: " + "; ".join(differences)
    return ExportState.CONFIRMED, ""


def mismatch_key(export: MonthlyExport) -> str:
    return f"accounting:mismatch:{export.pk}"


def tell_mismatch(export: MonthlyExport, reason: str) -> None:
    need_attention(FAMILY, Notice(
        key=mismatch_key(export), title=f"{export.reference} differs in {export.provider}", description=reason,
        severity="high", organisation=export.organisation,
        impact=f"the ledger's AI costs for {export.month:%B %Y} no longer reconcile with the usage",
        recovery_actions=("Compare the document in the ledger with the export in admin",
                          "Correct the ledger document (or void it and replay the export)"),
        details={"export": export.pk, "reference": export.reference},
    ))  # fmt: skip


def tell_unconfirmed(export: MonthlyExport, now: datetime) -> None:
    hours = int((now - export.created_at).total_seconds() // 3600)
    need_attention(FAMILY, Notice(
        key=unconfirmed_key(export), title=f"{export.reference} not confirmed by {export.provider} after {hours} h",
        description=(f"The {export.month:%B %Y} AI-cost document for {export.organisation} is "
                     f"{export.get_state_display()}{': ' + export.state_reason if export.state_reason else ''}."),
        severity="medium", organisation=export.organisation,
        impact="the organisation's books may be missing this month's AI costs",
        recovery_actions=("Open the export in admin: replay it or check it at the vendor",
                          "Check the configuration is connected (not stopped)"),
        details={"export": export.pk, "reference": export.reference, "state": export.state},
    ))  # fmt: skip


def _log(export: MonthlyExport, now: datetime, outcome: str, message: str, detail: dict | None = None) -> None:
    FAMILY.sync_log_model.objects.create(
        organisation=export.organisation, provider=export.provider, operation="reconcile", started_at=now,
        finished_at=timezone.now(), outcome=outcome, error="" if outcome == SyncOutcome.SUCCESS else message,
        detail={"export": export.pk, "reference": export.reference, **(detail or {})},
    )  # fmt: skip
