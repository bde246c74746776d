"""The organisation page (`/admin/console/organisations/<slug>/`): every integration of every family
for one tenant with its truthful status, last activity and queue; its weddings and open alerts;
the buttons each person may press; and "Test all connections"."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html import unescape

import pytest
import responses
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from alerts.models import Alert, AlertStatus
from wedsync_integrations.integrations.registry import families, get_family
from wedsync_integrations.integrations.states import ConfigStatus, RetryState, SyncOutcome

pytestmark = pytest.mark.django_db


def page_url(organisation) -> str:
    return reverse("console:organisation", args=[organisation.slug])


def url_of_test_all(organisation) -> str:
    return reverse("console:test_all", args=[organisation.slug])


def html_of(client, organisation) -> str:
    """The page as a person reads it: entities decoded, Django's non-breaking spaces as spaces."""
    response = client.get(page_url(organisation))
    assert response.status_code == 200
    return unescape(response.content.decode()).replace("\xa0", " ")


def row_of(html: str, family: str, config) -> str:
    """The table row of one configuration (empty when the page does not show it)."""
    found = re.search(rf'<tr id="integration-{family}-{config.pk}">(.*?)</tr>', html, re.S)
    return found.group(1) if found else ""


def cell(row: str, css: str) -> str:
    return re.search(rf'<td class="[^"]*\b{css}\b[^"]*"[^>]*>(.*?)</td>', row, re.S).group(1)


def add_items(config, *, pending: int = 0, retrying: int = 0, dead: int = 0):
    """Queue items in the state the outbox leaves them: fresh, failed once and due again, given up."""
    model = config.family().retry_model
    states = [(RetryState.PENDING, 0)] * pending + [(RetryState.PENDING, 1)] * retrying + [(RetryState.DEAD, 10)] * dead
    for state, attempts in states:
        model.objects.create(organisation=config.organisation, provider=config.provider, operation="send", payload={},
                             state=state, attempts=attempts, last_error="HTTP 503" if attempts else "")  # fmt: skip


def add_log(config, operation: str, outcome: str, *, minutes_ago: int):
    return config.family().sync_log_model.objects.create(
        organisation=config.organisation, provider=config.provider, operation=operation, outcome=outcome,
        started_at=timezone.now() - timedelta(minutes=minutes_ago),
    )  # fmt: skip


def every_family(make_config, organisation) -> dict:
    """One configuration of each family, with its first registered vendor."""
    return {family.name: make_config(family.name, organisation, sorted(family.providers)[0]) for family in families()}


def staff_with(django_user_model, client, *codenames: str, name: str = "viewer"):
    user = django_user_model.objects.create_user(name, password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client.force_login(user)
    return user


def view_codenames() -> list[str]:
    return [f"view_{family.config_model._meta.model_name}" for family in families()]


# -- what the page shows -------------------------------------------------------------------------------
def test_every_familys_configuration_appears_with_its_truthful_status(admin_client, make_config, organisation):
    configs = every_family(make_config, organisation)
    configs["monitoring"].stop("HTTP 403 invalid API key")
    add_items(configs["alerts"], dead=1)
    add_items(configs["crm"], retrying=1)
    get_family("bi").config_model.objects.filter(pk=configs["bi"].pk).update(enabled=False)

    html = html_of(admin_client, organisation)

    words = {name: cell(row_of(html, name, config), "status") for name, config in configs.items()}
    assert words["monitoring"] == "Stopped: HTTP 403 invalid API key — fix and resume"
    assert words["alerts"] == "Dead item: replay it"
    assert words["crm"].startswith("Retrying 1 item (next attempt ")
    assert words["bi"] == "Disabled"
    assert words["accounting"] == words["webhooks"] == "Active"
    assert 'class="clip status tone-action"' in row_of(html, "monitoring", configs["monitoring"])
    assert 'class="clip status tone-off"' in row_of(html, "bi", configs["bi"])
    for family in families():
        label = family.providers[configs[family.name].provider].label
        assert f"{family.label} · {label}" in row_of(html, family.name, configs[family.name])


def test_another_organisations_configurations_never_appear(admin_client, make_config, make_organisation, organisation):
    mine = make_config("monitoring", organisation, "datadog")
    other = make_organisation(name="Zzz Florals")
    theirs = make_config("monitoring", other, "datadog")
    theirs.stop("their own trouble")
    add_items(theirs, dead=3)
    add_log(theirs, "their-export", SyncOutcome.FAILED, minutes_ago=1)

    html = html_of(admin_client, organisation)

    assert row_of(html, "monitoring", mine)
    assert not row_of(html, "monitoring", theirs)
    for leak in ("Zzz Florals", "their own trouble", "their-export", "Replay 3 dead"):
        assert leak not in html
    assert cell(row_of(html, "monitoring", mine), "queue") == "0 / 0 / 0"


def test_the_header_says_who_the_organisation_is(admin_client, make_organisation):
    organisation = make_organisation(slug="kew-films", name="Kew Films", vendor_type="videographer",
                                     vat_registered=True, vat_number="GB123456789")  # fmt: skip
    html = html_of(admin_client, organisation)
    assert "<h1>Kew Films</h1>" in html
    assert "<code>kew-films</code> · Videographer" in html and "VAT registered (GB123456789)" in html
    assert reverse("admin:tenants_organisation_change", args=[organisation.pk]) in html
    assert f'<a href="{reverse("console:dashboard")}">Console</a> › Kew Films' in html


def test_last_activity_is_the_latest_sync_log_entry_of_that_vendor(admin_client, make_config, organisation):
    config = make_config("crm", organisation, "tave")
    add_log(config, "old-note", SyncOutcome.SUCCESS, minutes_ago=90)
    add_log(config, "push-note", SyncOutcome.RETRYING, minutes_ago=3)
    neighbour = make_config("crm", organisation, "honeybook")  # same family, another vendor: its own log
    add_log(neighbour, "zap", SyncOutcome.SUCCESS, minutes_ago=1)
    never = make_config("bi", organisation, "looker")

    html = html_of(admin_client, organisation)

    activity = cell(row_of(html, "crm", config), "last-activity")
    assert "(3 minutes ago)" in activity and "push-note" in activity and "Failed, will retry" in activity
    assert 'class="tone-waiting"' in activity and "old-note" not in activity and "zap" not in activity
    assert "zap" in cell(row_of(html, "crm", neighbour), "last-activity")
    assert "none logged" in cell(row_of(html, "bi", never), "last-activity")


def test_times_are_london_time_with_their_age_and_errors_are_clipped_with_the_whole_on_hover(
    admin_client, make_config, organisation
):
    config = make_config("monitoring", organisation, "datadog")
    long_error = "HTTP 502 from the vendor's gateway " + "with a very long explanation " * 10
    with freeze_time("2026-07-04T12:00:00Z"):
        config.mark_success(at=timezone.now() - timedelta(hours=2))
        config.mark_failure(long_error, at=timezone.now() - timedelta(minutes=5))
        row = row_of(html_of(admin_client, organisation), "monitoring", config)
    times = cell(row, "times")
    assert '<span class="last-success">04 Jul 2026 11:00 BST (2 hours ago)</span>' in times
    assert "error</span> 04 Jul 2026 12:55 BST (5 minutes ago)" in times
    assert f'<span class="muted">{long_error}</span>' in times  # one line, clipped by the table
    hover = re.search(r'<td class="clip times" title="([^"]*)"', row).group(1)
    assert hover == (
        "last success: 04 Jul 2026 11:00 BST (2 hours ago)\n"
        f"last error: 04 Jul 2026 12:55 BST (5 minutes ago) — {long_error}"  # the whole error on hover
    )


def test_queue_counts_say_pending_retrying_and_dead(admin_client, make_config, organisation):
    config = make_config("accounting", organisation, "xero")
    add_items(config, pending=2, retrying=1, dead=2)
    row = row_of(html_of(admin_client, organisation), "accounting", config)
    # pending counts every item still to send, the retrying ones among them
    assert re.sub(r"<[^>]+>", "", cell(row, "queue")) == "3 / 1 / 2"
    assert "Replay 2 dead" in row


@freeze_time("2026-07-04T23:30:00Z")  # 00:30 on Sunday 5 July in London: the London date decides
def test_weddings_today_and_in_the_next_two_weeks_by_london_date(
    admin_client, make_organisation, make_wedding, organisation
):
    today = date(2026, 7, 5)
    shown = [make_wedding(organisation, today, venue="Kew Gardens"),
             make_wedding(organisation, today + timedelta(days=1), venue="Syon Park"),
             make_wedding(organisation, today + timedelta(days=14), venue="Hampton Court")]  # fmt: skip
    hidden = [make_wedding(organisation, today - timedelta(days=1), venue="Yesterday Hall"),
              make_wedding(organisation, today + timedelta(days=15), venue="Too Far Barn"),
              make_wedding(make_organisation(), today, venue="Someone Else's Venue")]  # fmt: skip

    html = html_of(admin_client, organisation)

    section = re.search(r'<section class="needs" id="weddings">(.*?)</section>', html, re.S).group(1)
    for wedding in shown:
        assert f'id="wedding-{wedding.pk}"' in section
    for wedding in hidden:
        assert f'id="wedding-{wedding.pk}"' not in section
    assert "Sun 05 Jul 2026</td>\n        <td><strong>today</strong>" in section
    assert "tomorrow" in section and "in 14 days" in section


def test_open_alerts_newest_first_linking_to_their_pages(admin_client, make_organisation, organisation):
    def alert(title, *, organisation=organisation, status=AlertStatus.TRIGGERED, minutes_ago=0, severity="high"):
        return Alert.objects.create(organisation=organisation, title=title, severity=severity,
                                    effective_severity=severity, dedup_key=title, status=status,
                                    raised_at=timezone.now() - timedelta(minutes=minutes_ago))  # fmt: skip

    older = alert("Xero exports failing", minutes_ago=30, severity="critical")
    newer = alert("Slack channel archived", minutes_ago=2)
    alert("Resolved long ago", status=AlertStatus.RESOLVED)
    alert("Someone else's alert", organisation=make_organisation())

    html = html_of(admin_client, organisation)

    section = re.search(r'<section class="needs" id="open-alerts">(.*?)</section>', html, re.S).group(1)
    assert section.index(f"alert-{newer.pk}") < section.index(f"alert-{older.pk}")
    assert reverse("admin:alerts_alert_change", args=[older.pk]) in section
    assert '<span class="badge sev-critical">critical</span>' in section and "(30 minutes ago)" in section
    assert "Resolved long ago" not in section and "Someone else" not in section


def test_the_organisations_ai_usage_chart_is_on_the_page(admin_client, organisation):
    html = html_of(admin_client, organisation)
    assert 'id="chart-ai-usage-acme"' in html and "AI requests and cost, Acme Photography" in html


# -- buttons and permissions ----------------------------------------------------------------------------
def test_a_superuser_gets_every_button_each_returning_to_this_page(admin_client, make_config, organisation):
    config = make_config("monitoring", organisation, "datadog")
    config.stop("HTTP 403 invalid API key")
    add_items(config, dead=1)
    html = html_of(admin_client, organisation)
    row = row_of(html, "monitoring", config)

    for verb in ("resume", "replay", "test"):
        assert f'action="{reverse(f"admin:monitoring_monitoringconfig_{verb}", args=[config.pk])}"' in row
    assert "Replay 1 dead" in row
    assert row.count(f'name="next" value="{page_url(organisation)}"') == 3
    assert reverse("admin:monitoring_monitoringconfig_change", args=[config.pk]) in row
    assert f'action="{url_of_test_all(organisation)}"' in html

    response = admin_client.post(
        reverse("admin:monitoring_monitoringconfig_resume", args=[config.pk]), {"next": page_url(organisation)}
    )
    assert response.status_code == 302 and response.url == page_url(organisation)
    config.refresh_from_db()
    assert config.status == ConfigStatus.ACTIVE


def test_view_only_staff_see_everything_but_may_only_test(client, django_user_model, make_config, organisation):
    configs = every_family(make_config, organisation)
    configs["monitoring"].stop("HTTP 403 invalid API key")
    add_items(configs["monitoring"], dead=1)
    staff_with(django_user_model, client, *view_codenames())

    html = html_of(client, organisation)

    row = row_of(html, "monitoring", configs["monitoring"])
    assert "Stopped: HTTP 403 invalid API key — fix and resume" in row
    assert "Resume" not in row and "Replay" not in row  # the change permissions they do not have
    assert "/resume/" not in html and "/replay/" not in html
    test = reverse("admin:monitoring_monitoringconfig_test", args=[configs["monitoring"].pk])
    assert test in row  # a check only reads
    with responses.RequestsMock(assert_all_requests_are_fired=False):  # no vendor is really called
        tested = client.post(test, {"next": page_url(organisation)})
    assert tested.status_code == 302 and tested.url == page_url(organisation)
    assert f'action="{url_of_test_all(organisation)}"' in html
    for name, config in configs.items():
        assert row_of(html, name, config)
    # forged posts change nothing
    resume = client.post(reverse("admin:monitoring_monitoringconfig_resume", args=[configs["monitoring"].pk]))
    replay = client.post(reverse("admin:monitoring_monitoringconfig_replay", args=[configs["monitoring"].pk]))
    assert (resume.status_code, replay.status_code) == (403, 403)
    configs["monitoring"].refresh_from_db()
    assert configs["monitoring"].status == ConfigStatus.STOPPED
    assert get_family("monitoring").retry_model.objects.get().state == RetryState.DEAD


def test_families_the_person_may_not_see_are_left_out(client, django_user_model, make_config, organisation):
    configs = every_family(make_config, organisation)
    staff_with(django_user_model, client, "view_monitoringconfig")
    html = html_of(client, organisation)
    assert row_of(html, "monitoring", configs["monitoring"])
    for name in configs.keys() - {"monitoring"}:
        assert not row_of(html, name, configs[name])


def test_staff_who_may_see_no_family_get_no_rows_and_may_not_test_all(
    client, django_user_model, make_config, organisation
):
    config = make_config("monitoring", organisation, "datadog")
    staff_with(django_user_model, client)
    html = html_of(client, organisation)
    assert not row_of(html, "monitoring", config)
    assert url_of_test_all(organisation) not in html
    with responses.RequestsMock():  # nothing may be called
        assert client.post(url_of_test_all(organisation)).status_code == 403
    assert not get_family("monitoring").audit_model.objects.exists()


def test_staff_only_pages_and_unknown_organisations(client, admin_client, django_user_model, organisation):
    login = client.get(page_url(organisation))
    assert login.status_code == 302 and reverse("admin:login") in login.url
    django_user_model.objects.create_user("customer", password="pw")  # signed in, not staff
    client.login(username="customer", password="pw")
    assert client.get(page_url(organisation)).status_code == 302
    assert client.post(url_of_test_all(organisation)).status_code == 302
    assert admin_client.get(reverse("console:organisation", args=["no-such-studio"])).status_code == 404
    assert admin_client.post(reverse("console:test_all", args=["no-such-studio"])).status_code == 404


# -- test all connections --------------------------------------------------------------------------------
def test_test_all_checks_every_enabled_configuration_reports_each_and_audits_it(
    admin_client, fake_provider, make_config, make_organisation, organisation
):
    fake = make_config("monitoring", organisation, "fake")
    failing = make_config("alerts", organisation, "slack", settings={}, secrets={})  # no webhook URL stored
    gone = make_config("crm", organisation, "a-vendor-since-removed")  # its check cannot even start
    off = make_config("bi", organisation, "looker", enabled=False)
    other = make_config("monitoring", make_organisation(), "fake")

    with responses.RequestsMock(assert_all_requests_are_fired=False):  # no vendor is really called
        response = admin_client.post(url_of_test_all(organisation))

    assert response.status_code == 302 and response.url == page_url(organisation)
    said = {str(m): m.level_tag for m in get_messages(response.wsgi_request)}
    assert said["Monitoring Fake: fake is fine"] == "success"
    failed = [text for text, tag in said.items() if text.startswith("Alerts Slack (incoming webhook): ")]
    assert len(failed) == 1 and said[failed[0]] == "error"
    assert said["CRM a-vendor-since-removed: the check could not run (UnknownProvider)"] == "error"
    assert said["BI Looker: disabled, so not tested."] == "info"
    for config in (fake, failing, gone):
        entry = config.family().audit_model.objects.get(action="test_connection", target_id=str(config.pk))
        assert entry.actor == "admin:admin" and entry.organisation_id == organisation.pk
        assert entry.summary.startswith("ok=True: " if config is fake else "ok=False: ")
    assert not off.family().audit_model.objects.filter(action="test_connection").exists()
    assert not other.family().audit_model.objects.filter(target_id=str(other.pk)).exists()


def test_test_all_checks_only_the_families_the_person_may_see(
    client, django_user_model, fake_provider, make_config, organisation
):
    mine = make_config("monitoring", organisation, "fake")
    hidden = make_config("crm", organisation, "tave")
    staff_with(django_user_model, client, "view_monitoringconfig")
    response = client.post(url_of_test_all(organisation))
    assert [str(m) for m in get_messages(response.wsgi_request)] == ["Monitoring Fake: fake is fine"]
    assert mine.family().audit_model.objects.filter(target_id=str(mine.pk)).exists()
    assert not hidden.family().audit_model.objects.exists()


def test_test_all_is_a_post(admin_client, organisation):
    assert admin_client.get(url_of_test_all(organisation)).status_code == 405


def test_test_all_with_nothing_to_test_says_so(admin_client, organisation):
    response = admin_client.post(url_of_test_all(organisation))
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        "Acme Photography has no enabled integration you may test."
    ]


# -- cost --------------------------------------------------------------------------------------------------
def _fill(make_config, organisation, per_family: int):
    """`per_family` configurations of every family, each with a sync log entry and queued items."""
    for family in families():
        for n in range(per_family):
            config = make_config(family.name, organisation, f"vendor-{n}")
            add_log(config, "send", SyncOutcome.SUCCESS, minutes_ago=n + 1)
            add_items(config, pending=1, retrying=1, dead=1)
            if n % 2:
                config.stop("HTTP 403")


@pytest.mark.parametrize("per_family", [1, 8])
def test_the_number_of_queries_does_not_grow_with_the_configurations(
    admin_client, django_assert_max_num_queries, make_config, make_organisation, make_wedding, per_family
):
    organisation = make_organisation()
    _fill(make_config, organisation, per_family)
    make_wedding(organisation, timezone.localdate())
    Alert.objects.create(organisation=organisation, title="t", severity="low", effective_severity="low", dedup_key="t")
    # session, user, organisation; one per family; open alerts, weddings, the usage chart
    with django_assert_max_num_queries(3 + len(families()) + 3):
        html = html_of(admin_client, organisation)
    assert html.count('<tr id="integration-') == per_family * len(families())
