"""The family's sync: `manage.py sync crm [--org] [--provider]`, the daily beat run and a "new
client" webhook run it per configuration.

1. Every closed month since the configuration's first month that it has not been sent yet gets
   its value report queued. A month closes CRM_MONTH_CLOSE_DAYS days after it ends (London), and
   only once its rollups are final (no dirty hour: the rollup engine has caught up with its
   usage); months go out in order, so a month still waiting holds back the ones after it.
2. Where the vendor has jobs (Tave), each wedding linked to a job gets a note about the AI help it
   had, CRM_WEDDING_NOTE_AFTER_DAYS after its date (weddings from the first month on).
3. The (organisation, CRM) outbox is drained: what was queued, jobs a webhook named, retries.

Each queued report is a CRMReport row written in the transaction that writes its outbox item, so
a report is queued once per configuration even when the daily run and a webhook-triggered run
race; a failing CRM only holds back its own queue.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from wedsync_integrations.calendar import Month, london
from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.models import RetryState, SyncOutcome
from wedsync_integrations.integrations.registry import SyncResult
from wedsync_integrations.usage.models import RollupDirtyHour

from . import value, weddings
from .family import FAMILY
from .models import CRMReport, JobLink, ReportKind
from .monthly import last_closed_month
from .providers.base import REPORT, WEDDING_NOTE

logger = logging.getLogger("wedsync.crm")

MAX_MONTHS_PER_RUN = 24  # a long backfill continues on the next run


def months_due(config, provider, now: datetime) -> list[Month]:
    """Closed months from the first month on that have no report queued for `config`."""
    candidates = provider.first_month().months_until(last_closed_month(now))
    sent = set(CRMReport.objects.filter(config=config, kind=ReportKind.MONTH).values_list("period", flat=True))
    return [month for month in candidates if month.first_day not in sent][:MAX_MONTHS_PER_RUN]


def first_unfinished_month(organisation, months: list[Month], now: datetime) -> Month | None:
    """The first of `months` whose rollups are still being computed (a dirty hour), after
    bringing the rollups up to date once."""
    if not months:
        return None
    start, end = months[0].bounds()[0], months[-1].bounds()[1]
    dirty = RollupDirtyHour.objects.filter(organisation=organisation, hour__gte=start, hour__lt=end)
    if dirty.exists():
        from wedsync_integrations.usage import rollup

        rollup.update_rollups(now=now)
    hour = dirty.order_by("hour").values_list("hour", flat=True).first()
    return Month.containing(hour) if hour is not None else None


def queue(config, *, kind: str, report_id: str, period, figures: dict, payload: dict | None, operation: str,
          wedding=None) -> bool:  # fmt: skip
    """Record the report and queue its payload in one transaction; False if `config` already
    has it. A report with no payload (no AI use that month, no AI help for that wedding) is
    recorded, not sent."""
    with transaction.atomic():
        report, created = CRMReport.objects.get_or_create(
            config=config,
            report_id=report_id,
            defaults={
                "organisation_id": config.organisation_id,
                "provider": config.provider,
                "kind": kind,
                "period": period,
                "wedding": wedding,
                "figures": figures,
            },
        )
        if not created:
            return False
        if payload is not None:
            report.item = outbox.enqueue(
                config, operation=operation, payload=payload, dedupe_key=f"crm:{config.pk}:{report_id}"
            )
            report.save(update_fields=["item"])
    return payload is not None


def queue_months(config, provider, now: datetime, progress=None) -> tuple[int, int]:
    """Queue the reports of the closed months not sent yet. Returns (queued, waiting)."""
    due = months_due(config, provider, now)
    unfinished = first_unfinished_month(config.organisation, due, now)
    ready = [month for month in due if unfinished is None or month < unfinished]
    if unfinished is not None:
        _log_waiting(config, unfinished, now)
    queued = 0
    for index, month in enumerate(ready):
        report = value.build_report(config.organisation, month, now=now)
        queued += queue(
            config,
            kind=ReportKind.MONTH,
            report_id=report.report_id,
            period=month.first_day,
            figures=report.figures(),
            # a month without any AI use is recorded, not sent: "0 hours saved" helps no studio
            payload=provider.report_payload(report) if report.requests else None,
            operation=REPORT,
        )
        if progress:
            progress(index + 1, len(ready), f"{config.provider} {month}")
    return queued, len(due) - len(ready)


def queue_wedding_notes(config, provider, now: datetime) -> int:
    """A note on its job for each linked wedding now over, from the first month on."""
    latest = london(now).date() - timedelta(days=settings.CRM_WEDDING_NOTE_AFTER_DAYS)
    noted = CRMReport.objects.filter(config=config, kind=ReportKind.WEDDING, wedding__isnull=False).values("wedding")
    links = (
        JobLink.objects.filter(
            organisation_id=config.organisation_id,
            provider=config.provider,
            wedding__date__gte=provider.first_month().first_day,
            wedding__date__lte=latest,
        )
        .exclude(wedding__in=noted)
        .select_related("wedding__organisation")
        .order_by("wedding__date", "pk")
    )
    queued = 0
    for link in links:
        help_ = weddings.wedding_help(link.wedding)
        payload = (
            provider.wedding_payload(help_, link.job_id, link.wedding.date.isoformat()) if help_.requests else None
        )  # no AI help recorded: nothing to tell the studio, but remembered as considered
        queued += queue(
            config,
            kind=ReportKind.WEDDING,
            report_id=help_.report_id,
            period=link.wedding.date,
            figures=help_.figures(),
            payload=payload,
            operation=WEDDING_NOTE,
            wedding=link.wedding,
        )
    return queued


def _log_waiting(config, month: Month, now: datetime) -> None:
    message = f"{month} is not final yet (its usage rollups are being computed): its report waits for the next run"
    FAMILY.sync_log_model.objects.create(
        organisation_id=config.organisation_id,
        provider=config.provider,
        operation=REPORT,
        started_at=now,
        finished_at=now,
        outcome=SyncOutcome.SKIPPED,
        error=message,
        detail={"month": str(month), "reason": "rollups_pending"},
    )
    logger.info("crm.month_waiting org=%s provider=%s %s", config.organisation.slug, config.provider, message)


@FAMILY.sync
def sync_crm(config, *, progress=None, now=None) -> SyncResult:
    now = now or timezone.now()
    provider = config.get_provider()
    result = SyncResult()
    result.queued, result.skipped = queue_months(config, provider, now, progress)
    if provider.wedding_notes:
        result.queued += queue_wedding_notes(config, provider, now)
    counts = outbox.drain_pair(FAMILY, config.organisation_id, config.provider)
    result.delivered = counts.get(RetryState.SUCCEEDED, 0)
    result.failed = counts.get(RetryState.PENDING, 0) + counts.get(RetryState.DEAD, 0)
    result.detail["queue_depth"] = outbox.queue_depth(FAMILY, config.organisation_id, config.provider)
    logger.info("crm.sync org=%s provider=%s queued=%s delivered=%s failed=%s waiting=%s", config.organisation.slug,
                config.provider, result.queued, result.delivered, result.failed, result.skipped)  # fmt: skip
    return result
