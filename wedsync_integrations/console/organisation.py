"""The organisation page (`/admin/console/organisations/<slug>/`): everything one tenant has, on one
page, for the person a vendor just rang: its weddings of the next two weeks, its open alerts, every
integration of every family with its truthful status, last activity and queue, and its AI usage.

The buttons post to the configuration admin's own endpoints (test, resume, replay) with `next`
set to this page, so a button here does exactly what the same button does on the configuration's
page, under the same permission. "Test all connections" is this page's own: it runs every check
the person may see and reports each one.

Queries do not grow with the number of configurations: one per family (its configurations with
their queue facts and last sync-log entry as subqueries), plus a constant few for the page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, Subquery
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert
from wedsync_integrations.calendar import LONDON
from wedsync_integrations.integrations import health
from wedsync_integrations.integrations.admin import audit_admin_action
from wedsync_integrations.integrations.moments import with_age
from wedsync_integrations.integrations.registry import Family
from wedsync_integrations.integrations.states import StatusWord, SyncOutcome, Tone
from wedsync_integrations.tenants.models import Organisation, Wedding

from . import trends
from .permissions import (
    FamilyPermissions,
    VisibleFamilies,
    buttons,
    config_url,
    may_see,
    model_admin,
    visible_families,
)

logger = logging.getLogger("wedsync.console")

UPCOMING_DAYS = 14  # today and the next two weeks: what a vendor on the phone is worried about
OPEN_ALERTS_SHOWN = 50  # an organisation with more open alerts than this needs the alert list's filters

# How a sync log's outcome reads at a glance, in the status words' tones.
OUTCOME_TONES = {
    SyncOutcome.SUCCESS: Tone.OK,
    SyncOutcome.RETRYING: Tone.WAITING,
    SyncOutcome.FAILED: Tone.ACTION,
    SyncOutcome.SKIPPED: Tone.OFF,
}


# -- the integrations table --------------------------------------------------------------------------
@dataclass(frozen=True)
class LastActivity:
    at: datetime
    operation: str
    outcome: str  # the outcome's label ("Failed, will retry")
    tone: str

    @property
    def when(self) -> str:
        return with_age(self.at)


@dataclass(frozen=True)
class IntegrationRow:
    family: Family
    config: object
    provider_label: str
    word: StatusWord
    last_success: str  # London time and age, or "never"
    last_error_at: str
    last_activity: LastActivity | None
    pending: int
    retrying: int
    dead: int
    change_url: str
    test_url: str | None
    resume_url: str | None
    replay_url: str | None


def provider_label(family: Family, provider: str) -> str:
    """The vendor's name as people know it; the stored name when the vendor is no longer registered."""
    provider_cls = family.providers.get(provider)
    return (provider_cls.label or provider_cls.name) if provider_cls is not None else provider


def configurations_of(family: Family, organisation: Organisation):
    """The organisation's configurations of `family`, each with its queue facts (health's
    `_queue_depth`, `_retrying`, `_dead`, `_next_retry_at`) and its latest sync-log entry
    (`_last_at`, `_last_operation`, `_last_outcome`): one query however many there are."""
    latest = family.sync_log_model.objects.filter(
        organisation_id=OuterRef("organisation_id"), provider=OuterRef("provider")
    ).order_by("-started_at", "-id")
    # The page never needs the secrets or the vendor-issued credential: not decrypted for it.
    mine = family.config_model.objects.filter(organisation=organisation).defer("secrets", "credential")
    configs = health.with_queue_facts(mine, family)
    return configs.annotate(
        _last_at=Subquery(latest.values("started_at")[:1]),
        _last_operation=Subquery(latest.values("operation")[:1]),
        _last_outcome=Subquery(latest.values("outcome")[:1]),
    ).order_by("provider")


def last_activity(config) -> LastActivity | None:
    if config._last_at is None:
        return None
    try:
        outcome = SyncOutcome(config._last_outcome)
    except ValueError:  # an outcome this code no longer knows: show it as stored
        return LastActivity(config._last_at, config._last_operation, config._last_outcome, Tone.OFF)
    return LastActivity(config._last_at, config._last_operation, str(outcome.label), OUTCOME_TONES[outcome])


def integration_rows(organisation: Organisation, visible: VisibleFamilies) -> list[IntegrationRow]:
    """Every configuration of `organisation` in the `visible` families, family by family."""
    rows = []
    for family, permissions in visible:
        for config in configurations_of(family, organisation):
            config.organisation = organisation  # the one already loaded, not a query per row
            rows.append(_row(family, permissions, config))
    return rows


def _row(family: Family, permissions: FamilyPermissions, config) -> IntegrationRow:
    facts = health.annotated_facts(config)
    offered = buttons(config, permissions, dead=facts.dead)
    return IntegrationRow(
        family=family,
        config=config,
        provider_label=provider_label(family, config.provider),
        word=health.status_word(config, facts),
        last_success=with_age(config.last_success_at),
        last_error_at=with_age(config.last_error_at, never="none"),
        last_activity=last_activity(config),
        pending=config._queue_depth,
        retrying=config._retrying,
        dead=config._dead,
        change_url=config_url(config, "change"),
        test_url=offered.get("test"),
        resume_url=offered.get("resume"),
        replay_url=offered.get("replay"),
    )


# -- the organisation's weddings and alerts ----------------------------------------------------------
@dataclass(frozen=True)
class UpcomingWedding:
    wedding: Wedding
    is_today: bool
    days_away: int


def upcoming_weddings(organisation: Organisation, today: date | None = None) -> list[UpcomingWedding]:
    """Today's weddings and those of the next UPCOMING_DAYS days, by London date (a wedding's date
    is a London calendar day, whatever the server's clock says)."""
    today = today or timezone.localdate(timezone=LONDON)
    weddings = Wedding.objects.filter(organisation=organisation, date__range=(today, today + timedelta(UPCOMING_DAYS)))
    return [UpcomingWedding(w, w.date == today, (w.date - today).days) for w in weddings.order_by("date", "id")]


@dataclass(frozen=True)
class OpenAlert:
    alert: object
    url: str
    raised: str  # London time and age

    @property
    def acknowledged(self) -> bool:
        return bool(self.alert.acknowledged_at)


def open_alerts(organisation: Organisation) -> tuple[list[OpenAlert], bool]:
    """The organisation's unresolved alerts, newest first, and whether there are more than shown."""
    from alerts.models import Alert, AlertStatus  # the alerts family is an app like any other

    alerts = list(
        Alert.objects.filter(organisation=organisation)
        .exclude(status=AlertStatus.RESOLVED)
        .order_by("-raised_at", "-id")[: OPEN_ALERTS_SHOWN + 1]
    )
    rows = [
        OpenAlert(alert, reverse("admin:alerts_alert_change", args=[alert.pk]), with_age(alert.raised_at))
        for alert in alerts[:OPEN_ALERTS_SHOWN]
    ]
    return rows, len(alerts) > OPEN_ALERTS_SHOWN


def organisation_admin_url(request, organisation: Organisation) -> str | None:
    organisation_admin = model_admin(Organisation)
    if organisation_admin is None or not organisation_admin.has_view_or_change_permission(request, organisation):
        return None
    return reverse("admin:tenants_organisation_change", args=[organisation.pk])


# -- the views ---------------------------------------------------------------------------------------
def organisation_page(request, slug: str):
    organisation = get_object_or_404(Organisation, slug=slug)
    visible = visible_families(request)
    show_alerts = may_see(request, Alert)
    alerts, more_alerts = open_alerts(organisation) if show_alerts else ([], False)
    context = {
        **admin.site.each_context(request),
        "is_nav_sidebar_enabled": False,  # like the dashboard: the integrations table needs the width
        "title": organisation.name,
        "organisation": organisation,
        "organisation_admin_url": organisation_admin_url(request, organisation),
        "weddings": upcoming_weddings(organisation),
        "upcoming_days": UPCOMING_DAYS,
        "show_alerts": show_alerts,
        "alerts": alerts,
        "more_alerts": more_alerts,
        "rows": integration_rows(organisation, visible),
        "back": request.get_full_path(),
        # Offered to anyone who may see a family's configurations, even when none exist yet: the
        # view then says there was nothing to test.
        "can_test_all": bool(visible),
        "test_all_url": reverse("console:test_all", args=[organisation.slug]),
        "usage_chart": trends.ai_usage_per_day(organisation=organisation),
    }
    return TemplateResponse(request, "console/organisation.html", context)


def test_all_connections(request, slug: str):
    """Check every enabled configuration of the organisation the person may see, now (not from
    the health cache), one message and one audit entry each, as the configuration admin's "Test
    connection" does; then back to the organisation page."""
    organisation = get_object_or_404(Organisation, slug=slug)
    visible = visible_families(request)
    if not visible:
        raise PermissionDenied
    tested = 0
    for family, _permissions in visible:
        for config in family.config_model.objects.filter(organisation=organisation).order_by("provider"):
            config.organisation = organisation
            name = f"{family.label} {provider_label(family, config.provider)}"
            if not config.enabled:
                messages.info(request, f"{name}: disabled, so not tested.")
                continue
            ok, message = check_now(config)
            messages.add_message(request, messages.SUCCESS if ok else messages.ERROR, f"{name}: {message}")
            audit_admin_action(family, request, "test_connection", config, summary=f"ok={ok}: {message}")
            tested += 1
    if not tested:
        messages.info(request, f"{organisation.name} has no enabled integration you may test.")
    return redirect("console:organisation", slug=organisation.slug)


def check_now(config) -> tuple[bool, str]:
    """(ok, message) of a live check. health.check already turns a vendor's error into an unhealthy
    result; this also keeps a configuration the code cannot even start to check (its vendor no longer
    registered, a bug outside the vendor call) from stopping the checks of the others."""
    try:
        result = health.check(config, refresh=True)
    except Exception as exc:
        logger.exception("console.test_all_crashed config=%s family=%s", config.pk, config.family().name)
        return False, f"the check could not run ({type(exc).__name__})"
    return bool(result["ok"]), str(result["message"])
