"""The alert page (where every alert link lands): what it leads with, who gets the buttons, that
acknowledging needs both the on-call right and the CSRF token, the message after it, and the two
timelines in time order."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from freezegun import freeze_time

from alerts.lifecycle import acknowledge, escalate_due, raise_alert
from alerts.models import ActionSource, Alert, AlertStatus, MuteWindow
from alerts.render import dashboard_url
from alerts.timeline import delivery_timeline, escalation_plan, escalation_timeline
from tests.alerts.conftest import SLACK_WEBHOOK
from wedsync_integrations.integrations.registry import get_family

pytestmark = pytest.mark.django_db

SATURDAY = datetime(2026, 6, 13, 13, 2, tzinfo=UTC)  # 14:02 BST, a wedding Saturday in June


@pytest.fixture
def on_call(db):
    user = User.objects.create_user("olivia", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="On-call"))
    return user


@pytest.fixture
def bystander(db):
    user = User.objects.create_user("pat", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_alert"))
    return user


@pytest.fixture
def saturday_alert(organisation, make_wedding, channels, vendors, deliver_all) -> Alert:
    make_wedding(organisation, SATURDAY.date(), venue="Kew Gardens", region="London")
    make_wedding(organisation, SATURDAY.date(), venue="Syon Park", region="London")
    alert = raise_alert(
        organisation=organisation,
        title="Seating-plan AI timing out",
        severity="medium",
        impact="Seating plans cannot be generated",
        at=SATURDAY,
    ).alert
    deliver_all(SATURDAY)
    return alert


def page_of(client, alert) -> str:
    response = client.get(reverse("admin:alerts_alert_change", args=[alert.pk]))
    assert response.status_code == 200
    return response.content.decode()


def act_url(alert) -> str:
    return reverse("admin:alerts_alert_act", args=[alert.pk])


def test_the_alert_link_is_the_alert_page(saturday_alert):
    assert dashboard_url(saturday_alert).endswith(f"/admin/alerts/alert/{saturday_alert.pk}/change/")


def test_the_page_leads_with_title_severity_wedding_context_and_the_buttons(client, on_call, saturday_alert):
    client.force_login(on_call)
    page = page_of(client, saturday_alert)

    head = page[page.index('id="alert-head"') : page.index('id="delivery-timeline"')]
    assert "Seating-plan AI timing out" in head
    assert '<span class="severity" id="alert-severity">Critical</span>' in head  # own weddings today: critical
    assert "raised as medium" in head
    assert "Acme Photography (acme)" in head
    assert "Saturday 13 June 2026: 2 weddings for this organisation" in head
    assert "Kew Gardens, Syon Park (London)" in head
    assert "Saturday · wedding-day mode ON · peak ceremony hours · peak season" in head
    assert "Sat 13 Jun 14:02:00 BST" in head  # raised, London time, with its age
    assert re.search(r"Sat 13 Jun 14:02:00 BST \(\d+ months? ago\)", head)
    assert "Seating plans cannot be generated" in head
    assert 'id="acknowledge"' in head and 'id="resolve"' in head
    assert f'action="{act_url(saturday_alert)}"' in head and "csrfmiddlewaretoken" in head
    # the page is no longer the model form of ~35 read-only fields
    assert 'name="_save"' not in page and "routing_pretty" not in page


def test_a_secret_handle_never_shows(client, on_call, saturday_alert):
    Alert.objects.filter(pk=saturday_alert.pk).update(
        slack_response_url="https://hooks.slack.com/actions/T1/1/SECRETISH"
    )
    client.force_login(on_call)
    page = page_of(client, saturday_alert)
    assert "SECRETISH" not in page and SLACK_WEBHOOK not in page


def test_staff_without_the_on_call_right_see_no_buttons_and_get_403_on_a_forged_post(client, bystander, saturday_alert):
    client.force_login(bystander)
    page = page_of(client, saturday_alert)
    assert "Seating-plan AI timing out" in page
    assert 'id="acknowledge"' not in page and 'id="resolve"' not in page

    response = client.post(act_url(saturday_alert), {"action": "acknowledge"})

    assert response.status_code == 403
    saturday_alert.refresh_from_db()
    assert saturday_alert.status == AlertStatus.TRIGGERED and saturday_alert.acknowledged_by == ""
    assert not get_family("alerts").audit_model.objects.filter(action="acknowledge").exists()


def test_acknowledging_needs_the_csrf_token(on_call, saturday_alert):
    client = Client(enforce_csrf_checks=True)
    client.force_login(on_call)
    page = page_of(client, saturday_alert)

    forged = client.post(act_url(saturday_alert), {"action": "acknowledge"})
    assert forged.status_code == 403
    saturday_alert.refresh_from_db()
    assert saturday_alert.status == AlertStatus.TRIGGERED

    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    real = client.post(act_url(saturday_alert), {"action": "acknowledge", "csrfmiddlewaretoken": token})
    assert real.status_code == 302
    saturday_alert.refresh_from_db()
    assert (saturday_alert.status, saturday_alert.acknowledged_by) == (AlertStatus.ACKNOWLEDGED, "admin:olivia")


def test_only_a_post_acts(client, on_call, saturday_alert):
    client.force_login(on_call)
    assert client.get(act_url(saturday_alert) + "?action=acknowledge").status_code == 405
    assert client.post(act_url(saturday_alert), {"action": "delete"}).status_code == 400
    saturday_alert.refresh_from_db()
    assert saturday_alert.status == AlertStatus.TRIGGERED


def test_the_message_after_acknowledging_says_what_each_channel_was_told(client, on_call, saturday_alert):
    get_family("alerts").config_model.objects.get(provider="pagerduty").stop("pagerduty: HTTP 401: bad routing key")
    client.force_login(on_call)

    response = client.post(act_url(saturday_alert), {"action": "acknowledge"})

    assert response.status_code == 302
    assert response.url == reverse("admin:alerts_alert_change", args=[saturday_alert.pk])
    said = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    assert said == [
        ("success", f"Alert {saturday_alert.ref} acknowledged. Escalation stopped."),
        ("success", "Slack told."),
        ("info", "Email: nothing to tell (Email is not told of acknowledgements)."),
        ("info", "SMS: nothing to tell (SMS is not told of acknowledgements)."),
        (
            "warning",
            "PagerDuty not told: its configuration is stopped (pagerduty: HTTP 401: bad routing key); "
            "it waits in the queue until staff resume the configuration.",
        ),
        ("success", "Webhook told."),
    ]
    page = page_of(client, saturday_alert)
    assert 'id="acknowledge"' not in page and 'id="resolve"' in page  # what is left to do


def test_the_list_bulk_action_reports_each_alert_truthfully(client, on_call, organisation, make_channels):
    make_channels(organisation, only=("pagerduty",))  # no Slack here: it must not claim Slack was told
    alert = raise_alert(organisation=organisation, title="Invoice AI slow", severity="critical").alert
    client.force_login(on_call)

    response = client.post(
        reverse("admin:alerts_alert_changelist"), {"action": "acknowledge_alerts", "_selected_action": [alert.pk]}
    )

    said = [(m.level_tag, str(m)) for m in get_messages(response.wsgi_request)]
    assert said == [
        (
            "warning",
            f"Alert {alert.ref} acknowledged. Slack not told: no Slack configuration. "
            "Email: nothing to tell (Email is not told of acknowledgements). "
            "SMS: nothing to tell (SMS is not told of acknowledgements). PagerDuty told.",
        )
    ]


def test_the_delivery_timeline_is_in_time_order_with_each_attempt_and_what_comes_next(
    organisation, channels, vendors, deliver_all
):
    with freeze_time(SATURDAY):
        alert = raise_alert(organisation=organisation, title="Gallery AI slow", severity="low").alert
        vendors.replace("POST", SLACK_WEBHOOK, status=503, body="upstream trouble")
        deliver_all()
    with freeze_time(SATURDAY + timedelta(minutes=2)):
        vendors.replace("POST", SLACK_WEBHOOK, status=200, body="ok")
        deliver_all()
    with freeze_time(SATURDAY + timedelta(minutes=3)):
        acknowledge(alert.pk, by="admin:olivia", via=ActionSource.ADMIN)

    slack = next(t for t in delivery_timeline(alert, now=SATURDAY + timedelta(minutes=3)) if t.channel == "slack")

    steps = [(event.what, event.http_status) for event in slack.events]
    assert steps == [  # queued and tried at once: the attempt stands for both
        ("First notification: failed, will retry (attempt 1)", 503),
        ("First notification: sent (vendor accepted) (attempt 2)", 200),
        ("Acknowledged: queued", None),
        ("Acknowledged: due now, the worker sends it", None),
    ]
    assert slack.events[0].detail == "to Slack channel · slack: HTTP 503 from hooks.slack.com***: upstream trouble"
    instants = [event.at for event in slack.events]
    assert instants == sorted(instants)


def test_the_escalation_timeline_shows_the_plan_the_steps_fired_and_the_one_stopped(
    organisation, channels, vendors, deliver_all
):
    first_step = SATURDAY + timedelta(minutes=5)  # the wedding-day window's delay
    with freeze_time(SATURDAY):
        alert = raise_alert(organisation=organisation, title="Payments AI down", severity="critical").alert
        deliver_all()
    with freeze_time(first_step):
        assert escalate_due() == 1
        deliver_all()
    with freeze_time(first_step + timedelta(minutes=1)):
        acknowledge(alert.pk, by="admin:olivia", via=ActionSource.ADMIN)
    assert escalate_due(first_step + timedelta(hours=2)) == 0
    alert.refresh_from_db()

    events = escalation_timeline(alert, now=first_step + timedelta(hours=2))

    whats = [event.what for event in events]
    assert whats == [
        "Raised as critical, routed as critical to Slack, Email, SMS, PagerDuty",
        "Escalation planned",
        "Escalation level 1 fired",
        "Acknowledged by admin:olivia",
        "Escalation stopped: level 2 will not fire",
    ]
    assert events[1].detail == "level 1 after 5 min without an acknowledgement"
    assert "SMS (+447700900999): sent (vendor accepted)" in events[2].detail  # management's number
    assert events[4].detail == "it was due Sat 13 Jun 14:12:00 BST, 4 minutes after the acknowledgement"
    instants = [event.at for event in events]
    assert instants == sorted(instants)
    assert escalation_plan(alert) == (
        "Escalates to management (Slack, Email, SMS) if nobody acknowledges: after 5 min in the wedding-day "
        "window, 15 min otherwise, repeating until someone acknowledges."
    )


def test_the_delivery_timeline_says_what_holds_an_item_back_and_which_item_was_given_up(
    organisation, channels, vendors, deliver_all
):
    vendors.replace("POST", "https://events.pagerduty.com/v2/enqueue", status=401, json={"status": "unauthorized"})
    vendors.replace("POST", SLACK_WEBHOOK, status=400, body="invalid_blocks")
    with freeze_time(SATURDAY):
        alert = raise_alert(organisation=organisation, title="Payments AI down", severity="critical").alert
        deliver_all()  # PagerDuty refuses the key: stopped, item kept; Slack refuses the message: dead

    timelines = {t.channel: t for t in delivery_timeline(alert, now=SATURDAY + timedelta(minutes=30))}

    pagerduty = timelines["pagerduty"]
    # the kernel's status word (states.py), then the reason the vendor gave
    assert pagerduty.configuration.startswith("configuration stopped")
    assert pagerduty.configuration.endswith('HTTP 401 from events.pagerduty.com/v2/enqueue: {"status": "unauthorized"}')
    assert [event.what for event in pagerduty.events] == [
        "First notification: failed permanently (attempt 1)",
        "First notification: waiting, its configuration is stopped (pagerduty: HTTP 401 from "
        'events.pagerduty.com/v2/enqueue: {"status": "unauthorized"}); it waits in the queue until staff '
        "resume the configuration",
    ]
    assert pagerduty.events[-1].look == "waiting"
    slack = [(event.what, event.look) for event in timelines["slack"].events]
    assert slack == [("First notification: gave up after all attempts (attempt 1)", "failed")]


TUESDAY = datetime(2026, 6, 16, 10, 0, tzinfo=UTC)  # 11:00 BST, outside the wedding-day window


def test_a_platform_wide_alert_page_names_the_platform_and_its_weddings(
    client, on_call, make_organisation, make_wedding, make_channels
):
    platform = make_organisation(slug="wedsync", name="WedSync")
    make_channels(platform, only=("slack",))
    make_wedding(make_organisation(), SATURDAY.date(), venue="Hedsor House")
    alert = raise_alert(title="OpenAI errors across the platform", severity="high", at=SATURDAY).alert
    client.force_login(on_call)

    head = page_of(client, alert)
    head = head[head.index('id="alert-head"') : head.index('id="delivery-timeline"')]

    assert "Platform-wide (sent through wedsync&#x27;s channels)" in head
    assert "Saturday 13 June 2026: 1 wedding on the platform" in head
    assert "Hedsor House" in head


@pytest.mark.parametrize(
    ("severity", "muted", "plan"),
    [
        ("low", False, "No escalation: low alerts do not escalate (high and critical ones do)."),
        ("high", True, "No escalation while muted (mute window #"),
        ("high", False, "Escalates to management (Slack, Email, SMS) if nobody acknowledges: after 5 min"),
    ],
)
def test_the_escalation_plan_says_why_an_alert_does_not_escalate(organisation, severity, muted, plan):
    if muted:
        MuteWindow.objects.create(
            organisation=organisation,
            starts_at=TUESDAY - timedelta(hours=1),
            ends_at=TUESDAY + timedelta(hours=1),
            reason="database upgrade",
        )
    alert = raise_alert(organisation=organisation, title="Invoice AI slow", severity=severity, at=TUESDAY).alert
    assert escalation_plan(alert).startswith(plan)
    planned = [event for event in escalation_timeline(alert, now=TUESDAY) if event.what == "Escalation planned"]
    assert [event.detail for event in planned] == (
        ["level 1 after 15 min without an acknowledgement"] if plan.startswith("Escalates") else []
    )
