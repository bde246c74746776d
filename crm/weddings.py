"""CRM jobs and the organisation's weddings: linking a job (as the CRM's API returned it) to a
Wedding, and what the AI did for a wedding once it is over.

Linking a job with an event date, in one transaction:
1. a job already linked keeps its Wedding (its date follows the job's if the studio moved it);
2. else the organisation's only Wedding on that date that no other job claims is adopted (the AI
   platform may have created it already, and its usage already points at it);
3. else a Wedding is created on that date.
A job without an event date is remembered without a wedding until an event names it again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.dateparse import parse_date

from wedsync_integrations.tenants.models import Organisation, Wedding
from wedsync_integrations.usage.models import AIUsageRecord, Outcome

from .models import JobLink
from .render import WeddingHelp
from .value import Parameters, report_id

logger = logging.getLogger("wedsync.crm")


@dataclass(frozen=True)
class LinkOutcome:
    link: JobLink
    created_wedding: bool

    def detail(self) -> dict:
        return {
            "job_id": self.link.job_id,
            "wedding_id": self.link.wedding_id,
            "event_date": self.link.event_date.isoformat() if self.link.event_date else None,
            "created_wedding": self.created_wedding,
        }


def link_job(organisation: Organisation, provider: str, job: dict) -> LinkOutcome:
    """Record the job and link it to a Wedding of `organisation` (rules in the module docstring).
    `job` is the vendor's job as read through its API; idempotent."""
    job_id = str(job["id"]).lower()
    event_date = _date(job.get("eventDate"))
    links = job.get("links") or {}
    fields = {
        "job_name": str(job.get("name") or job.get("title") or "")[:255],
        "event_date": event_date,
        "stage": str(job.get("stage") or "")[:20],
        "manager_url": str((links.get("self") or {}).get("managerHref") or "")[:500],
        "refreshed_at": timezone.now(),
    }
    with transaction.atomic():
        link, _ = JobLink.objects.select_for_update().get_or_create(
            organisation=organisation, provider=provider, job_id=job_id, defaults=fields
        )
        for name, value in fields.items():
            setattr(link, name, value)
        created = False
        if event_date is not None:
            if link.wedding_id is None:
                link.wedding, created = _wedding_for(organisation, event_date)
            elif link.wedding.date != event_date:
                Wedding.objects.filter(pk=link.wedding_id).update(date=event_date)  # the studio moved it
        link.save()
    logger.info("crm.job_linked org=%s provider=%s job=%s wedding=%s created=%s", organisation.slug, provider,
                job_id, link.wedding_id, created)  # fmt: skip
    return LinkOutcome(link, created)


def _wedding_for(organisation: Organisation, day: date) -> tuple[Wedding, bool]:
    claimed = JobLink.objects.filter(organisation=organisation, wedding__isnull=False).values("wedding_id")
    unclaimed = list(
        Wedding.objects.select_for_update().filter(organisation=organisation, date=day).exclude(pk__in=claimed)[:2]
    )
    if len(unclaimed) == 1:
        return unclaimed[0], False
    return Wedding.objects.create(organisation=organisation, date=day), True


def _date(value) -> date | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_date(value)
    except ValueError:
        return None


# -- a wedding's AI help ----------------------------------------------------------------------------
def wedding_report_id(organisation: Organisation, wedding: Wedding) -> str:
    return report_id(organisation.slug, f"wedding-{wedding.pk}")


def wedding_help(wedding: Wedding) -> WeddingHelp:
    """The AI requests the platform linked to this wedding (through the wedding_id index), by
    feature. Requests sent before the wedding existed here carry only a date and are not
    counted: with several weddings on a day, a date does not say which one they helped."""
    organisation = wedding.organisation
    parameters = Parameters.of(organisation)
    rows = (
        AIUsageRecord.objects.filter(wedding=wedding, organisation=organisation)
        .values("feature")
        .annotate(n=Count("id"), ok=Count("id", filter=Q(outcome=Outcome.OK)))
        .order_by()
    )
    by_feature = sorted(((row["feature"], row["n"], row["ok"]) for row in rows), key=lambda r: (-r[1], r[0]))
    requests = sum(n for _, n, _ in by_feature)
    successful = sum(ok for _, _, ok in by_feature)
    return WeddingHelp(
        report_id=wedding_report_id(organisation, wedding),
        organisation_name=organisation.name,
        wedding_date_label=f"{wedding.date.day} {wedding.date:%B %Y}",
        venue=wedding.venue,
        requests=requests,
        successful=successful,
        by_feature=tuple((feature, n) for feature, n, _ in by_feature),
        time_saved_hours=parameters.time_saved_hours(successful),
        cost_savings_gbp=parameters.cost_savings_gbp(successful),
    )
