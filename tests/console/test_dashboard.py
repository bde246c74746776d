"""Issue 13, item 1: the operations dashboard says what needs a person now, each with the button
that deals with it, and the buttons do exactly what they say, for those allowed to press them."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from freezegun import freeze_time

from alerts.lifecycle import raise_alert
from alerts.models import Alert, AlertStatus
from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.errors import PermanentError
from wedsync_integrations.integrations.registry import get_family
from wedsync_integrations.integrations.states import ConfigStatus, RetryState
from wedsync_integrations.usage.models import AIUsageRecord

pytestmark = pytest.mark.django_db

DASHBOARD = "/admin/console/"
TUESDAY = datetime(2026, 6, 16, 10, 0, tzinfo=UTC)  # 11:00 BST: no wedding-day banner


def page_of(client, path: str = DASHBOARD) -> str:
    response = client.get(path)
    assert response.status_code == 200
    return response.content.decode()


def section(page: str, element_id: str) -> str:
    match = re.search(rf'<section class="needs" id="{element_id}">(.*?)</section>', page, re.S)
    return match.group(1) if match else ""


def messages_of(response) -> list[str]:
    return [str(message) for message in response.context["messages"]] if response.context else []


@pytest.fixture
def family():
    return get_family("monitoring")


@pytest.fixture
def stopped(fake_provider, make_config, organisation, family):
    """A configuration the vendor refused for good, with the item it holds."""
    config = make_config("monitoring", organisation, "fake")
    fake_provider.script = [PermanentError("HTTP 403 forbidden: bad API key", status=403, stops_config=True)]
    outbox.enqueue(config, operation="send", payload={"n": 1})
    outbox.drain_pair(family, organisation.pk, "fake")
    config.refresh_from_db()
    assert config.status == ConfigStatus.STOPPED
    return config


@pytest.fixture
def with_dead_item(fake_provider, make_config, make_organisation, family):
    """An active configuration whose only item the outbox gave up on."""
    config = make_config("monitoring", make_organisation(name="Bloom Florists"), "fake")
    outbox.enqueue(config, operation="send", payload={"n": 1})
    family.retry_model.objects.update(state=RetryState.DEAD, attempts=10, last_error="HTTP 500")
    return config


def view_only_staff(django_user_model, client, *models):
    user = django_user_model.objects.create_user("viewer", "viewer@example.com", "pw-viewer-1", is_staff=True)
    for model in models:
        opts = model._meta
        user.user_permissions.add(Permission.objects.get(codename=f"view_{opts.model_name}",
                                                         content_type__app_label=opts.app_label))  # fmt: skip
    client.force_login(user)
    return client


# -- where staff land ------------------------------------------------------------------------------
def test_staff_land_on_the_dashboard_and_the_admin_index_links_to_it(admin_client):
    assert admin_client.get("/")["Location"] == DASHBOARD
    assert 'href="/admin/console/"' in page_of(admin_client, "/admin/")


def test_the_dashboard_needs_a_staff_sign_in(client, django_user_model):
    assert client.get(DASHBOARD)["Location"].startswith("/admin/login/")
    client.force_login(django_user_model.objects.create_user("guest", "g@example.com", "pw-guest-1"))
    assert client.get(DASHBOARD)["Location"].startswith("/admin/login/")


def test_a_quiet_day_says_so(admin_client):
    page = page_of(admin_client)
    assert "No open alerts." in page
    assert "Every integration is working or retrying by itself." in page


# -- alerts --------------------------------------------------------------------------------------------
def test_open_alerts_lead_untaken_first_then_most_severe_with_their_buttons(admin_client, organisation):
    low = raise_alert(organisation=organisation, title="Slow replies", severity="low", at=TUESDAY).alert
    critical = raise_alert(organisation=organisation, title="Payments AI down", severity="critical", at=TUESDAY).alert
    taken = raise_alert(organisation=organisation, title="Quota near", severity="high", at=TUESDAY).alert
    Alert.objects.filter(pk=taken.pk).update(status=AlertStatus.ACKNOWLEDGED, acknowledged_by="admin:olivia")
    gone = raise_alert(organisation=organisation, title="Old news", severity="critical", at=TUESDAY).alert
    Alert.objects.filter(pk=gone.pk).update(status=AlertStatus.RESOLVED)

    alerts = section(page_of(admin_client), "open-alerts")

    order = [int(pk) for pk in re.findall(r'<tr id="alert-(\d+)">', alerts)]
    assert order == [critical.pk, low.pk, taken.pk]
    assert "Old news" not in alerts
    assert "acknowledged by admin:olivia" in alerts
    # untaken alerts have both buttons, a taken one only Resolve
    assert alerts.count('value="acknowledge"') == 2 and alerts.count('value="resolve"') == 3


def test_acknowledging_from_the_dashboard_returns_to_it_saying_what_each_channel_was_told(admin_client, organisation):
    alert = raise_alert(organisation=organisation, title="Payments AI down", severity="critical", at=TUESDAY).alert

    response = admin_client.post(reverse("admin:alerts_alert_act", args=[alert.pk]),
                                 {"action": "acknowledge", "next": DASHBOARD}, follow=True)  # fmt: skip

    assert response.redirect_chain[-1][0] == DASHBOARD
    alert.refresh_from_db()
    assert alert.status == AlertStatus.ACKNOWLEDGED and alert.acknowledged_by == "admin:admin"
    said = messages_of(response)
    assert said[0].startswith(f"Alert {alert.ref} acknowledged.")
    # no channel is configured for Acme: the message says so per channel instead of promising
    assert "Slack not told: no Slack configuration." in said


def test_a_next_address_outside_the_site_is_ignored(admin_client, organisation):
    alert = raise_alert(organisation=organisation, title="Payments AI down", severity="critical", at=TUESDAY).alert
    response = admin_client.post(reverse("admin:alerts_alert_act", args=[alert.pk]),
                                 {"action": "acknowledge", "next": "https://evil.example/"})  # fmt: skip
    assert response["Location"] == reverse("admin:alerts_alert_change", args=[alert.pk])


# -- integrations ---------------------------------------------------------------------------------------
def test_a_stopped_integration_shows_its_reason_and_resume_brings_it_back(admin_client, stopped, fake_provider):
    integrations = section(page_of(admin_client), "integrations")
    assert "Stopped: " in integrations and "HTTP 403 forbidden" in integrations
    resume = reverse("admin:monitoring_monitoringconfig_resume", args=[stopped.pk])
    assert f'action="{resume}"' in integrations

    response = admin_client.post(resume, {"next": DASHBOARD}, follow=True)

    assert response.redirect_chain[-1][0] == DASHBOARD
    stopped.refresh_from_db()
    assert stopped.status == ConfigStatus.ACTIVE
    assert "Resumed 1 configuration(s); held items are due now." in messages_of(response)
    assert "Every integration is working or retrying by itself." in response.content.decode()


def test_dead_items_have_a_replay_button_that_queues_them_again(admin_client, with_dead_item, family):
    integrations = section(page_of(admin_client), "integrations")
    assert "Dead item: replay it" in integrations and "Replay 1 dead" in integrations

    replay = reverse("admin:monitoring_monitoringconfig_replay", args=[with_dead_item.pk])
    response = admin_client.post(replay, {"next": DASHBOARD})

    assert response["Location"] == DASHBOARD
    assert not family.retry_model.objects.filter(state=RetryState.DEAD).exists()


def test_testing_a_connection_from_the_dashboard_reports_the_vendors_answer(admin_client, stopped, fake_provider):
    response = admin_client.post(reverse("admin:monitoring_monitoringconfig_test", args=[stopped.pk]),
                                 {"next": DASHBOARD}, follow=True)  # fmt: skip
    assert any("fake is fine" in message for message in messages_of(response))


def test_the_buttons_answer_only_a_post(admin_client, stopped):
    for verb in ("resume", "test", "replay"):
        assert (
            admin_client.get(reverse(f"admin:monitoring_monitoringconfig_{verb}", args=[stopped.pk])).status_code == 405
        )


def test_an_integration_retrying_by_itself_is_folded_away_from_what_needs_a_person(
    admin_client, fake_provider, make_config, organisation, family
):
    from wedsync_integrations.integrations.errors import RetryableError

    config = make_config("monitoring", organisation, "fake")
    fake_provider.script = [RetryableError("HTTP 503", status=503)]
    outbox.enqueue(config, operation="send", payload={"n": 1})
    outbox.drain_pair(family, organisation.pk, "fake")

    page = page_of(admin_client)
    assert 'href="#retrying" id="count-retrying">1 retrying by itself<' in page
    to_fix, retrying = section(page, "integrations").split('<details id="retrying">')
    assert f"integration-monitoring-{config.pk}" not in to_fix
    assert "Every integration is working or retrying by itself." in to_fix
    assert f"integration-monitoring-{config.pk}" in retrying and "Retrying 1 item (next attempt " in retrying
    assert ">Resume<" not in retrying  # nothing to resume: the outbox is on it


def test_view_only_staff_see_what_is_wrong_but_no_buttons_and_a_forged_post_is_refused(
    client, django_user_model, stopped, with_dead_item, organisation
):
    family = get_family("monitoring")
    alert = raise_alert(organisation=organisation, title="Payments AI down", severity="critical", at=TUESDAY).alert
    viewer = view_only_staff(django_user_model, client, family.config_model, family.retry_model, Alert)
    dead_before = family.retry_model.objects.filter(state=RetryState.DEAD).count()

    page = page_of(viewer)
    assert "Payments AI down" in page and "HTTP 403 forbidden" in page and "Dead item: replay it" in page
    assert 'value="acknowledge"' not in page and 'value="resolve"' not in page
    assert ">Resume<" not in page and "Replay 1 dead" not in page

    assert viewer.post(reverse("admin:alerts_alert_act", args=[alert.pk]), {"action": "acknowledge"}).status_code == 403
    assert viewer.post(reverse("admin:monitoring_monitoringconfig_resume", args=[stopped.pk])).status_code == 403
    assert viewer.post(reverse("admin:monitoring_monitoringconfig_replay", args=[with_dead_item.pk])).status_code == 403
    alert.refresh_from_db()
    stopped.refresh_from_db()
    assert alert.status == AlertStatus.TRIGGERED and stopped.status == ConfigStatus.STOPPED
    assert family.retry_model.objects.filter(state=RetryState.DEAD).count() == dead_before


def test_staff_without_the_view_permission_do_not_see_a_family(client, django_user_model, stopped):
    viewer = view_only_staff(django_user_model, client)  # staff, no model permissions
    page = page_of(viewer)
    assert "HTTP 403 forbidden" not in page and "open-alerts" not in page


# -- the rest that waits for a person --------------------------------------------------------------------
def test_usage_waiting_for_an_exchange_rate_says_how_much_and_links_to_adding_the_rate(admin_client, organisation):
    for n, at in enumerate([datetime(2026, 12, 4, 23, 30, tzinfo=UTC), datetime(2026, 12, 6, 9, 0, tzinfo=UTC)]):
        AIUsageRecord.objects.create(organisation=organisation, request_id=f"r{n}", occurred_at=at,
                                     hour=at.replace(minute=0), feature="chat", provider="openai", model="gpt",
                                     latency_ms=100, cost_usd=Decimal("0.01"), outcome="success")  # fmt: skip
    page = page_of(admin_client)
    waiting = re.search(r'<li id="waiting-for-rate">(.*?)</li>', page, re.S).group(1)
    assert "2 AI usage records wait for a USD→GBP rate" in waiting
    assert "Fri 04 Dec 2026 to Sun 06 Dec 2026" in waiting  # London dates
    assert "/admin/usage/exchangerate/add/?date=2026-12-04&amp;base=USD&amp;quote=GBP" in waiting


def test_failed_inbound_webhooks_link_to_reprocessing(admin_client, organisation):
    from webhooks.models import EventStatus, InboundEvent

    InboundEvent.objects.create(
        source="pagerduty",
        organisation=organisation,
        event_type="incident.acknowledged",
        external_id="Q1",
        dedupe_key="d" * 64,
        payload={},
        status=EventStatus.FAILED,
    )
    failed = re.search(r'<li id="failed-webhooks">(.*?)</li>', page_of(admin_client), re.S).group(1)
    assert "1 inbound webhook failed" in failed and "status__exact=failed" in failed


# -- the wedding-day banner ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("moment", "banner"),
    [
        ("2026-06-13T11:00:00Z", "Wedding-day mode is on"),  # Saturday 12:00 BST
        ("2026-10-23T17:00:00Z", "Wedding-day mode is on"),  # Friday 18:00 BST: the window opens
        ("2026-10-23T16:59:00Z", None),  # Friday 17:59 BST
        ("2026-10-25T22:59:00Z", "Wedding-day mode is on"),  # Sunday 22:59 GMT, the day the clocks went back
        ("2026-10-25T23:00:00Z", None),  # Sunday 23:00 GMT: the window has closed
        ("2026-06-16T10:00:00Z", None),  # a Tuesday
    ],
)
def test_the_banner_follows_the_london_wedding_window(admin_client, moment, banner):
    with freeze_time(moment):
        page = page_of(admin_client)
    if banner is None:
        assert 'id="banner"' not in page
    else:
        assert f"<h2>{banner}</h2>" in page


def test_the_banner_lists_todays_weddings_on_the_london_day(admin_client, organisation, make_wedding):
    make_wedding(organisation, date(2026, 6, 13), venue="Kew Gardens")
    make_wedding(organisation, date(2026, 6, 14), venue="Tomorrow Hall")
    with freeze_time("2026-06-12T23:30:00Z"):  # 00:30 BST on Saturday 13 June
        page = page_of(admin_client)
    assert "Saturday 13 June, 00:30 BST" in page
    weddings = re.search(r'<div id="todays-weddings">(.*?)</div>', page, re.S).group(1)
    assert "1 wedding today:" in weddings and "Kew Gardens" in weddings and "Tomorrow Hall" not in weddings


# -- cost --------------------------------------------------------------------------------------------------
def test_the_query_count_does_not_grow_with_organisations_or_rows(
    admin_client, make_organisation, make_config, fake_provider, django_assert_max_num_queries
):
    def add(n: int) -> None:
        family = get_family("monitoring")
        for _ in range(n):
            org = make_organisation()
            config = make_config("monitoring", org, "fake", status=ConfigStatus.STOPPED, status_reason="HTTP 401")
            outbox.enqueue(config, operation="send", payload={})
            family.retry_model.objects.filter(organisation=org).update(state=RetryState.DEAD)
            raise_alert(organisation=org, title=f"Down {org.slug}", severity="high", at=TUESDAY)

    add(2)
    admin_client.get(DASHBOARD)  # warm the session and the chart cache
    with django_assert_max_num_queries(60) as few:
        page_of(admin_client)
    add(30)
    with django_assert_max_num_queries(len(few.captured_queries)):
        page_of(admin_client)


def test_the_dashboard_answers_with_the_cache_down(admin_client, stopped, dead_cache_settings):
    page = page_of(admin_client)
    assert "HTTP 403 forbidden" in page and 'id="charts"' in page


@pytest.fixture
def dead_cache_settings(settings):
    from tests.core.test_cache_outage import _closed_port

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0",
                                   "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}  # fmt: skip
    # sessions must not live in the dead cache for the signed-in client to stay signed in
    settings.SESSION_ENGINE = "django.contrib.sessions.backends.db"
    return settings
