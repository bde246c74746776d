"""What needs a person now, read live on every view (never cached: after pressing a button the
page must show the new truth): open alerts, integrations whose status asks for a person, inbound
webhooks that failed, usage waiting for an exchange rate, and the wedding-day banner.

Every part is a fixed number of queries, whatever the number of organisations or rows: one per
family for the integrations (queue facts annotated, filtered by the status words' own rule), a
bounded list plus a count for everything else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from django.db.models import Case, Count, Exists, IntegerField, Max, Min, OuterRef, Q, Value, When
from django.urls import reverse
from django.utils import timezone

from wedsync_integrations import calendar
from wedsync_integrations.integrations import health
from wedsync_integrations.integrations.moments import age, with_age
from wedsync_integrations.integrations.registry import Family
from wedsync_integrations.integrations.states import ConfigStatus, RetryState, StatusWord, Tone

from .permissions import FamilyPermissions, buttons, config_url, may_see, visible_families

# how many rows each list shows; the rest is one link away (the full admin list, filtered)
SHOWN = 25


@dataclass
class Listing:
    """A bounded list and how many there are in all."""

    rows: list
    total: int
    more_url: str = ""

    @property
    def hidden(self) -> int:
        return max(self.total - len(self.rows), 0)


# -- alerts ------------------------------------------------------------------------------------------
@dataclass
class OpenAlert:
    alert: object
    url: str
    age: str
    acknowledged: bool


def open_alerts(now: datetime) -> tuple[Listing, dict[str, int]]:
    """Unresolved alerts, most severe first then newest; and how many of each severity."""
    from alerts.models import Alert, AlertStatus, Severity

    rank = Case(*(When(effective_severity=s, then=Value(i)) for i, s in enumerate(Severity.ordered())),
                output_field=IntegerField())  # fmt: skip
    unresolved = Alert.objects.exclude(status=AlertStatus.RESOLVED)
    by_severity = dict(unresolved.values_list("effective_severity").annotate(n=Count("id")).order_by())
    counts = {severity.value: by_severity.get(severity.value, 0) for severity in reversed(Severity.ordered())}
    # triggered first (nobody has taken those yet), then the most severe, then the newest
    untaken = Case(When(status=AlertStatus.TRIGGERED, then=Value(0)), default=Value(1), output_field=IntegerField())
    shown = (
        unresolved.select_related("organisation").annotate(rank=rank, untaken=untaken)
        .order_by("untaken", "-rank", "-raised_at")[:SHOWN]
    )  # fmt: skip
    rows = [
        OpenAlert(
            alert,
            reverse("admin:alerts_alert_change", args=[alert.pk]),
            age(alert.raised_at, now),
            alert.status == AlertStatus.ACKNOWLEDGED,
        )  # fmt: skip
        for alert in shown
    ]
    more = reverse("admin:alerts_alert_changelist") + "?status__exact=triggered"
    return Listing(rows, sum(counts.values()), more), counts


# -- integrations ------------------------------------------------------------------------------------
@dataclass
class Integration:
    family: Family
    config: object
    word: StatusWord
    dead: int
    change_url: str
    buttons: dict[str, str] = field(default_factory=dict)  # verb -> URL to POST to

    @property
    def last_error_at(self) -> str:
        return with_age(self.config.last_error_at)


def integrations_by_tone(request) -> dict[str, Listing]:
    """Across every family the person may see, the configurations whose status word asks a person
    to act (stopped, reconnect needed, dead items, failing with nothing to retry) and those
    retrying by themselves (nobody needs to act yet; shown folded), most recent failure first."""
    found = {Tone.ACTION: ([], 0), Tone.WAITING: ([], 0)}
    for family, permissions in visible_families(request):
        annotated = health.with_queue_facts(_may_need_attention(family), family)
        counts = annotated.aggregate(**{tone: Count("pk", filter=health.of_tone(tone)) for tone in found})
        for tone, (rows, total) in found.items():
            found[tone] = (rows, total + counts[tone])
            if counts[tone]:
                configs = annotated.filter(health.of_tone(tone)).select_related("organisation")
                for config in configs.defer("secrets", "credential").order_by("-last_error_at", "-pk")[:SHOWN]:
                    rows.append(_integration(family, permissions, config))
    return {tone: Listing(_most_recent_failure_first(rows)[:SHOWN], total) for tone, (rows, total) in found.items()}


def _most_recent_failure_first(rows: list[Integration]) -> list[Integration]:
    return sorted(rows, key=lambda row: row.config.last_error_at or row.config.updated_at, reverse=True)


def _may_need_attention(family: Family):
    """The configurations whose status word could be other than "Active" or "Disabled": stopped,
    failing, or with an item retrying or dead. One semi-join narrows a thousand configurations to
    the few the queue-facts subqueries then run for."""
    troubled = family.retry_model.objects.filter(
        Q(state=RetryState.DEAD) | Q(state=RetryState.PENDING, attempts__gt=0),
        organisation_id=OuterRef("organisation_id"),
        provider=OuterRef("provider"),
    )
    return family.config_model.objects.filter(
        Q(status__in=[ConfigStatus.STOPPED, ConfigStatus.FAILING]) | Exists(troubled), enabled=True
    )


def _integration(family: Family, permissions: FamilyPermissions, config) -> Integration:
    facts = health.annotated_facts(config)
    return Integration(family, config, health.status_word(config, facts), facts.dead, config_url(config, "change"),
                       buttons(config, permissions, dead=facts.dead))  # fmt: skip


# -- inbound webhooks and usage ----------------------------------------------------------------------
@dataclass
class FailedWebhooks:
    count: int
    oldest: str
    url: str


def failed_webhooks(request) -> FailedWebhooks | None:
    """Verified inbound events whose handling gave up: they wait for staff to reprocess them."""
    from webhooks.models import EventStatus, InboundEvent

    if not may_see(request, InboundEvent):
        return None
    facts = InboundEvent.objects.filter(status=EventStatus.FAILED).aggregate(n=Count("id"), oldest=Min("received_at"))
    if not facts["n"]:
        return None
    url = reverse("admin:webhooks_inboundevent_changelist") + f"?status__exact={EventStatus.FAILED}"
    return FailedWebhooks(facts["n"], with_age(facts["oldest"]), url)


@dataclass
class WaitingForRate:
    count: int
    first_day: date
    last_day: date
    add_rate_url: str
    records_url: str


def usage_waiting_for_a_rate(request) -> WaitingForRate | None:
    """AI usage stored without a GBP cost because no USD→GBP rate covers its London date yet: a
    rate dated on or before the first such day prices all of it (usage/pricing.py)."""
    from wedsync_integrations.usage.models import AIUsageRecord

    if not may_see(request, AIUsageRecord):
        return None
    facts = AIUsageRecord.objects.filter(cost_gbp__isnull=True).aggregate(
        n=Count("id"), first=Min("occurred_at"), last=Max("occurred_at")
    )
    if not facts["n"]:
        return None
    first, last = calendar.london(facts["first"]).date(), calendar.london(facts["last"]).date()
    add = reverse("admin:usage_exchangerate_add") + f"?date={first.isoformat()}&base=USD&quote=GBP"
    records = reverse("admin:usage_aiusagerecord_changelist") + "?gbp=pending"
    return WaitingForRate(facts["n"], first, last, add, records)


# -- the wedding-day banner --------------------------------------------------------------------------
@dataclass
class WeddingBanner:
    title: str
    detail: str
    weddings: Listing


def wedding_banner(now: datetime) -> WeddingBanner | None:
    """Shown while wedding-day mode is on (Friday 18:00 to Sunday 23:00, London) or on any
    Saturday: the day nothing may fail, with today's weddings."""
    from wedsync_integrations.tenants.models import Wedding

    moment = calendar.snapshot(now)
    if not (moment.wedding_day_mode or moment.saturday):
        return None
    today = moment.london_time.date()
    todays = Wedding.objects.filter(date=today)
    shown = list(todays.select_related("organisation").order_by("organisation__name", "venue")[:SHOWN])
    title = "Wedding-day mode is on" if moment.wedding_day_mode else "It is Saturday"
    details = [f"{moment.london_time:%A %d %B, %H:%M %Z}", f"{moment.season} season"]
    if moment.peak_ceremony_hours:
        details.append("peak ceremony hours (10:00–18:00)")
    return WeddingBanner(title, " · ".join(details), Listing(shown, todays.count()))


# -- everything at once ------------------------------------------------------------------------------
def needs_a_person(request, now: datetime | None = None) -> dict:
    from alerts.models import Alert

    now = now or timezone.now()
    alerts, severity_counts = open_alerts(now) if may_see(request, Alert) else (None, {})
    integrations = integrations_by_tone(request)
    return {
        "banner": wedding_banner(now),
        "alerts": alerts,
        "severity_counts": severity_counts,
        "integrations": integrations[Tone.ACTION],
        "retrying": integrations[Tone.WAITING],
        "failed_webhooks": failed_webhooks(request),
        "waiting_for_rate": usage_waiting_for_a_rate(request),
    }
