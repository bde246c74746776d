"""Month-end for one ledger: what the daily scheduled sync, `manage.py sync accounting` and the
admin's "export now" run (docs/families/accounting.md).

1. The months to look at: every closed month from the configuration's `first_month` (or the one
   month staff asked for). Rollups of those months are brought up to date first.
2. Each month is planned from its report and the documents already exported for it
   (documents.plan_month): export it, send an adjustment, hold it (usage still waiting for an
   exchange rate, hours still being rolled up, a cost that went down), or nothing to do.
3. In one transaction, under a row lock on the configuration (so a scheduled run and a manual
   one never queue a month twice): each document becomes a MonthlyExport row and its outbox item,
   committed before anything is sent. The database's unique (organisation, provider, month,
   sequence) backs the lock up.
4. Every hold and every month without usage is said in the sync log (once per month for "no
   usage"); then the (organisation, provider) queue is drained in order.

No vendor is called while planning or queueing: the ledger mappings are read at the first
delivery attempt, which the outbox retries with backoff if the vendor is down.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.models import RetryState, SyncOutcome
from wedsync_integrations.integrations.registry import SyncResult
from wedsync_integrations.integrations.signals import Notice, attention_over, need_attention
from wedsync_integrations.integrations.tasks import syncable_configs
from wedsync_integrations.usage.models import RollupDirtyHour

from .documents import Document, Outcome, Plan, document_for, plan_month, reference_for
from .family import FAMILY
from .models import ExportState, MonthlyExport
from .months import Month, closed_months
from .report import build_report, build_reports

logger = logging.getLogger("wedsync.accounting")

QUEUE_CHUNK = 200  # configurations queued per transaction by the daily run
# what planning and queueing read of a configuration: never its secrets or tokens (decrypting
# thousands of them would cost more than the month's reports)
PLANNING_FIELDS = ("pk", "provider", "settings", "created_at", "organisation__id", "organisation__slug",
                   "organisation__name", "organisation__vendor_type", "organisation__vat_registered")  # fmt: skip


def export_months(config, *, now: datetime | None = None, progress=None, only: Month | None = None) -> SyncResult:
    """Queue and send every closed month of `config` not yet (fully) exported; returns counts."""
    now = now or timezone.now()
    provider = config.get_provider()
    result = SyncResult()
    months = [only] if only is not None else closed_months(provider.first_month(), now)
    if not months:
        first = provider.first_month()
        closes = timezone.localtime(first.closes_at)
        message = f"nothing to export yet: {first.title} closes on {closes:%d %b %Y}"
        _log(provider, now, SyncOutcome.SKIPPED, message, {"reason": "not_closed", "month": first.label})
    else:
        bring_rollups_up_to_date(config.organisation, months, now)
        plans = _queue(config, provider, months, now, progress)
        result.queued = sum(plan.outcome == Outcome.EXPORT for plan in plans)
        result.skipped = _record(provider, plans, now)
        result.detail["months"] = {plan.month.label: plan.outcome for plan in plans}
    counts = outbox.drain_pair(FAMILY, config.organisation_id, config.provider, now=None)
    result.delivered = counts.get(RetryState.SUCCEEDED, 0)
    result.failed = counts.get(RetryState.PENDING, 0) + counts.get(RetryState.DEAD, 0)
    result.detail["queue_depth"] = outbox.queue_depth(FAMILY, config.organisation_id, config.provider)
    return result


def month_end(now: datetime | None = None, *, drain: bool = True) -> dict[str, int]:
    """The daily run over every usable configuration (beat: accounting.month_end). Same plans and
    documents as export_months, but each month's reports are read for all organisations at once
    (report.build_reports: a few queries whatever their number), so month-end for thousands of
    organisations costs little more than summing their usage. Configurations are then queued in
    chunks, each chunk in one transaction under row locks on its configurations, and the queues are
    drained by one task per (organisation, provider)."""
    now = now or timezone.now()
    configs = list(
        syncable_configs(FAMILY).select_related("organisation").only(*PLANNING_FIELDS)
        .order_by("organisation_id", "provider")
    )  # fmt: skip
    providers = [config.get_provider() for config in configs]
    wanted = {config.pk: closed_months(p.first_month(), now) for config, p in zip(configs, providers, strict=True)}
    months = sorted({month for span in wanted.values() for month in span})
    if months:
        _roll_up_all(months, now)
    reports = {month: build_reports(_organisations_for(configs, wanted, month), month) for month in months}
    exported = _exported(configs, months)
    plans = {config.pk: _plans(provider, wanted[config.pk], reports, exported)
             for config, provider in zip(configs, providers, strict=True)}  # fmt: skip
    to_queue = [(config, provider) for config, provider in zip(configs, providers, strict=True)
                if any(plan.outcome == Outcome.EXPORT for plan in plans[config.pk])]  # fmt: skip
    for start in range(0, len(to_queue), QUEUE_CHUNK):
        plans.update(_queue_chunk(to_queue[start : start + QUEUE_CHUNK], wanted, reports, now))
    counts = {"configurations": len(configs), "queued": 0, "held": 0}
    for config, provider in zip(configs, providers, strict=True):
        counts["queued"] += sum(plan.outcome == Outcome.EXPORT for plan in plans[config.pk])
        counts["held"] += _record(provider, plans[config.pk], now)
    if drain:
        from wedsync_integrations.integrations.tasks import drain_family

        drain_family.delay(FAMILY.name)
    logger.info("accounting.month_end %s", counts)
    return counts


def _roll_up_all(months: list[Month], now: datetime) -> None:
    from wedsync_integrations.usage import rollup

    if RollupDirtyHour.objects.filter(hour__gte=months[0].start, hour__lt=months[-1].end).exists():
        rollup.update_rollups(now=now)


def _organisations_for(configs, wanted, month: Month) -> list:
    unique = {config.organisation_id: config.organisation for config in configs if month in wanted[config.pk]}
    return list(unique.values())


def _exported(configs, months: list[Month]) -> dict:
    """(organisation, provider, month) -> its exports, oldest first, in one query."""
    found: dict = {}
    if not months:
        return found
    rows = MonthlyExport.objects.filter(
        organisation_id__in={config.organisation_id for config in configs},
        month__gte=months[0].first_day, month__lte=months[-1].first_day,
    ).order_by("month", "sequence")  # fmt: skip
    for export in rows:
        found.setdefault((export.organisation_id, export.provider, export.month), []).append(export)
    return found


def _plans(provider, span: list[Month], reports: dict, exported: dict) -> list[Plan]:
    treatment, supply = provider.treatment(), provider.supply()
    key = (provider.organisation.pk, provider.name)
    return [
        plan_month(reports[month][key[0]], exported.get((*key, month.first_day), []), treatment=treatment,
                   supply=supply)
        for month in span
    ]  # fmt: skip


def _queue_chunk(chunk: list, wanted: dict, reports: dict, now: datetime) -> dict[int, list[Plan]]:
    """Queue the documents of some configurations in one transaction under their row locks,
    planned again from their exports as they are now (a manual run may have queued some
    meanwhile), with the reports already read."""
    configs = [config for config, _ in chunk]
    with transaction.atomic():
        list(FAMILY.config_model.objects.select_for_update().filter(pk__in=[c.pk for c in configs]).values_list("pk"))
        exported = _exported(configs, sorted({m for c in configs for m in wanted[c.pk]}))
        planned = {}
        for config, provider in chunk:
            planned[config.pk] = _plans(provider, wanted[config.pk], reports, exported)
            for plan in planned[config.pk]:
                if plan.outcome == Outcome.EXPORT:
                    queue_document(config, provider, plan, now)
    return planned


def bring_rollups_up_to_date(organisation, months: list[Month], now: datetime) -> None:
    """Roll up the months' dirty hours (late usage) before reading them; an hour still dirty
    afterwards (another process rolling up) holds its month until the next run."""
    from wedsync_integrations.usage import rollup

    if RollupDirtyHour.objects.filter(organisation=organisation, hour__gte=months[0].start,
                                      hour__lt=months[-1].end).exists():  # fmt: skip
        rollup.update_rollups(now=now)


def plan_months(provider, months: list[Month]) -> list[Plan]:
    """The plan of each month (database reads only)."""
    exported: dict = {}
    rows = MonthlyExport.objects.filter(
        organisation_id=provider.organisation.pk, provider=provider.name,
        month__gte=months[0].first_day, month__lte=months[-1].first_day,
    ).order_by("month", "sequence")  # fmt: skip
    for export in rows:
        exported.setdefault(export.month, []).append(export)
    treatment, supply = provider.treatment(), provider.supply()
    return [
        plan_month(build_report(provider.organisation, month), exported.get(month.first_day, []),
                   treatment=treatment, supply=supply)
        for month in months
    ]  # fmt: skip


def _queue(config, provider, months: list[Month], now: datetime, progress) -> list[Plan]:
    with transaction.atomic():
        # one run at a time per configuration: the second waits here, then finds the months queued
        type(config).objects.select_for_update().only("pk").get(pk=config.pk)
        plans = plan_months(provider, months)
        for index, plan in enumerate(plans):
            if plan.outcome == Outcome.EXPORT:
                queue_document(config, provider, plan, now)
            if progress:
                progress(index + 1, len(plans), f"{provider.name} {plan.month.label}: {plan.outcome}")
    return plans


def queue_document(config, provider, plan: Plan, now: datetime) -> MonthlyExport:
    """The export row and its outbox item for one planned document (inside the caller's transaction)."""
    organisation = config.organisation
    totals = plan.totals
    previous = None
    if plan.sequence:  # an adjustment names the month's own document
        previous = MonthlyExport.objects.filter(organisation=organisation, provider=provider.name,
                                                month=plan.month.first_day, sequence=0).first()  # fmt: skip
    export = MonthlyExport.objects.create(
        organisation=organisation, provider=provider.name, config=config, month=plan.month.first_day,
        sequence=plan.sequence, reference=reference_for(organisation.pk, plan.month, plan.sequence),
        treatment=provider.treatment(), supply=provider.supply(), net_gbp=totals.net, vat_gbp=totals.vat,
        gross_gbp=totals.gross,
        amount_sent_gbp=totals.amount, exact_by_provider={k: str(v) for k, v in plan.exact.items()},
        lines=[line.as_json() for line in plan.lines], report=plan.report.as_json(), created_at=now,
    )  # fmt: skip
    document = document_for(
        plan, export_id=export.pk, reference=export.reference, treatment=export.treatment, supply=export.supply,
        today=timezone.localdate(now), url=admin_url(export), original=previous.reference if previous else "",
    )  # fmt: skip
    export.amount_sent_gbp = provider.amount_sent(document)
    item = outbox.enqueue(
        config,
        operation=provider.document_kind(),
        payload={"export": export.pk, "document": document.as_json()},
        dedupe_key=f"accounting:{organisation.pk}:{provider.name}:{plan.month.label}:{plan.sequence}",
    )
    export.retry_item_id = item.pk
    export.save(update_fields=["amount_sent_gbp", "retry_item_id"])
    logger.info("accounting.queued org=%s provider=%s month=%s sequence=%s net=%s vat=%s", organisation.slug,
                provider.name, plan.month.label, plan.sequence, totals.net, totals.vat)  # fmt: skip
    return export


def admin_url(export: MonthlyExport) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("admin:accounting_monthlyexport_change", args=[export.pk])


def preview(provider, month: Month, now: datetime) -> tuple[Plan, Document | None]:
    """The month's plan and the document it would send now, without writing anything."""
    (plan,) = plan_months(provider, [month])
    if plan.outcome != Outcome.EXPORT:
        return plan, None
    original = reference_for(provider.organisation.pk, month, 0) if plan.sequence else ""
    document = document_for(
        plan, export_id=0, reference=reference_for(provider.organisation.pk, month, plan.sequence),
        treatment=provider.treatment(), supply=provider.supply(), today=timezone.localdate(now),
        url="(a link to this export in admin)", original=original,
    )  # fmt: skip
    return plan, document


# -- telling staff --------------------------------------------------------------------------------------------
def _record(provider, plans: list[Plan], now: datetime) -> int:
    """Sync-log rows for the months not exported, and staff notices for the ones needing action."""
    skipped = 0
    for plan in plans:
        detail = {"month": plan.month.label, "reason": plan.outcome}
        key = f"accounting:decreased:{provider.name}:{plan.month.label}"
        if plan.outcome == Outcome.HOLD:
            skipped += 1
            detail.update(unpriced_requests=plan.report.total.unpriced_requests, dirty_hours=plan.report.dirty_hours)
            _log(provider, now, SyncOutcome.SKIPPED, f"{plan.month.title} held: {plan.reason}", detail)
        elif plan.outcome == Outcome.NO_USAGE:
            skipped += 1
            if not _said_before(provider, plan.month, Outcome.NO_USAGE):
                _log(provider, now, SyncOutcome.SKIPPED, plan.reason, detail)
        elif plan.outcome == Outcome.DECREASED:
            skipped += 1
            _log(provider, now, SyncOutcome.SKIPPED, plan.reason, detail)
            need_attention(FAMILY, Notice(
                key=key, title=f"{provider.label}: {plan.month.title} needs a credit note",
                description=plan.reason, severity="medium", organisation=provider.organisation,
                impact="the ledger shows more AI cost for the month than the usage now says",
                recovery_actions=("Check the deleted usage records", "Raise a supplier credit in the ledger by hand"),
                details=detail,
            ))  # fmt: skip
        elif plan.outcome == Outcome.UP_TO_DATE:
            attention_over(FAMILY, key, provider.organisation)
    return skipped


def _said_before(provider, month: Month, reason: str) -> bool:
    return FAMILY.sync_log_model.objects.filter(
        organisation=provider.organisation, provider=provider.name, detail__month=month.label, detail__reason=reason
    ).exists()


def _log(provider, now: datetime, outcome: str, message: str, detail: dict) -> None:
    FAMILY.sync_log_model.objects.create(
        organisation=provider.organisation, provider=provider.name, operation="month_end", started_at=now,
        finished_at=now, outcome=outcome, error=message, detail=detail,
    )  # fmt: skip
    logger.info("accounting.%s org=%s provider=%s %s", detail.get("reason"), provider.organisation.slug,
                provider.name, message)  # fmt: skip


def mark_failed(item, error: str) -> None:
    """The outbox gave up on an export's item: the export is failed until staff replay it."""
    MonthlyExport.objects.filter(retry_item_id=item.pk).exclude(state=ExportState.CONFIRMED).update(
        state=ExportState.FAILED, state_reason=error[:2000]
    )
