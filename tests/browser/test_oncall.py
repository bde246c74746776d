"""On-call in a real browser (headless Chromium): the alert email's link, exactly as the email
carries it, to one click on Acknowledge, then what the vendors (the sandbox) really received.

1. The on-call path: email link → login → the alert page (title, severity, wedding context,
   the timelines) → Acknowledge → the message says Slack and PagerDuty were told → the sandbox
   shows they received the acknowledgement → no further escalation step fires.
2. PagerDuty's configuration is stopped (the vendor refused its key): the message says PagerDuty
   was not told and why, and PagerDuty indeed receives nothing.
3. A staff member without the on-call right sees the page without buttons, and a forged post of
   the button with their own session and CSRF token is refused (403).

With WSI_SCREENSHOTS=DIR set, the first test saves the alert page, 1366 px wide, as DIR/alert.png
(how docs/console/alert.png is made: `WSI_SCREENSHOTS=docs/console .venv/bin/python -m pytest
tests/browser/test_oncall.py -k on_call_path`).
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone
from freezegun import freeze_time

from alerts.lifecycle import escalate_due, raise_alert
from alerts.models import Alert, AlertStatus
from tests.alerts.conftest import PD_ROUTING_KEY
from wedsync_integrations import calendar
from wedsync_integrations.integrations.registry import get_family

from . import test_admin_flows
from .conftest import PASSWORD, missing_browser

MISSING_BROWSER = missing_browser()
pytestmark = [
    pytest.mark.skipif(MISSING_BROWSER is not None, reason=MISSING_BROWSER or ""),
    pytest.mark.django_db(transaction=True),  # the live server answers from another thread
]

on_call_group = test_admin_flows.on_call_group  # the On-call group exactly as migration 0003 makes it
SCREENSHOT_WIDTH = 1366
TITLE = "Seating-plan AI timing out for wedding-day timelines"


@pytest.fixture
def public_links(settings, live_server):
    """Alert links point at this live server, as PUBLIC_BASE_URL points them at the real one."""
    settings.PUBLIC_BASE_URL = live_server.url
    return live_server.url


@pytest.fixture
def wedding_day_alert(public_links, organisation, make_wedding, make_channels, sandbox, deliver_all) -> Alert:
    """A realistic incident 20 minutes old: two of Acme's weddings today, every channel pointed at
    the sandbox, Slack's first attempt refused (503) then retried, and the first escalation step
    already fired because nobody acknowledged within the policy's delay."""
    now = timezone.now()
    today = calendar.london(now).date()
    make_wedding(organisation, today, venue="Kew Gardens", region="London")
    make_wedding(organisation, today, venue="Syon Park", region="London")
    make_channels(organisation, base=sandbox.url)
    sandbox.fault("/slack", kind="status", status=503, times=1)
    raised_at = now - timedelta(minutes=20)
    with freeze_time(raised_at):
        alert = raise_alert(
            organisation=organisation,
            title=TITLE,
            severity="high",
            description="p95 latency of the seating-plan model is above 30 s; 41 % of requests time out.",
            impact="Couples' seating plans and day-of timelines cannot be regenerated",
            affected_vendors=["OpenAI"],
        ).alert
        deliver_all()
    with freeze_time(raised_at + timedelta(seconds=30)):
        deliver_all()  # Slack's retry, after the urgent policy's first backoff
    with freeze_time(raised_at + timedelta(minutes=15)):
        assert escalate_due() == 1  # 15 minutes unacknowledged on a weekday: management is told
        deliver_all()
    alert.refresh_from_db()
    assert (alert.escalation_level, alert.status) == (1, AlertStatus.TRIGGERED)
    return alert


def link_in_email(alert: Alert) -> str:
    """The "Acknowledge or resolve" link of the alert's first email, exactly as sent."""
    first = next(message for message in mail.outbox if alert.ref in message.extra_headers["X-WedSync-Alert-Id"])
    html = first.alternatives[0][0]
    return re.search(r'<a href="([^"]+)">Acknowledge or resolve this alert</a>', html).group(1)


def sign_in_on_the_way(browser, username: str) -> None:
    """The link lands on the login form (nobody is signed in yet); signing in continues to it."""
    assert browser.find_all("#login-form"), f"expected the login form, got: {browser.text('#content')}"
    browser.find("#id_username").send_keys(username)
    browser.find("#id_password").send_keys(PASSWORD)
    browser.submit(browser.find("#login-form [type=submit]"))


def save_screenshot(browser, name: str) -> None:
    """The whole page, 1366 px wide, into $WSI_SCREENSHOTS/name (only when asked for)."""
    folder = os.environ.get("WSI_SCREENSHOTS")
    if not folder:
        return
    driver = browser.driver
    # a viewport exactly 1366 px wide and as tall as the page, so nothing is cut or scrolled
    metrics = {"width": SCREENSHOT_WIDTH, "height": 768, "deviceScaleFactor": 1, "mobile": False}
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    metrics["height"] = driver.execute_script("return document.documentElement.scrollHeight")
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    Path(folder).mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(Path(folder) / name))
    driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_on_call_path_from_the_email_link_to_one_click_acknowledge(
    browser, make_staff, on_call_group, wedding_day_alert, sandbox, deliver_all
):
    alert = wedding_day_alert
    make_staff("olivia", groups=[on_call_group])
    link = link_in_email(alert)
    assert urlsplit(link).path == reverse("admin:alerts_alert_change", args=[alert.pk])

    browser.driver.get(link)
    sign_in_on_the_way(browser, "olivia")

    assert browser.driver.current_url == link
    assert browser.text("#alert-title") == TITLE
    assert browser.text("#alert-severity") == "CRITICAL"  # high, raised to critical: Acme's weddings today
    context = browser.text("#wedding-context")
    assert "Acme Photography (acme)" in context and "2 weddings for this organisation" in context
    assert "Kew Gardens, Syon Park (London)" in context
    assert "20 minutes ago" in browser.text("#alert-times")
    slack = browser.text("#channel-slack")
    assert "failed, will retry (attempt 1)" in slack and "HTTP 503" in slack
    assert "sent (vendor accepted) (attempt 2)" in slack
    assert "Escalation level 1 fired" in browser.text("#escalation-timeline")
    assert "Next escalation: level 2" in browser.text("#escalation-timeline")
    save_screenshot(browser, "alert.png")

    browser.submit(browser.find("#acknowledge"))  # the one click

    said = browser.messages()
    assert said[0] == f"Alert {alert.ref} acknowledged. Escalation stopped."
    assert "Slack told." in said and "PagerDuty told." in said
    assert "Email: nothing to tell (Email is not told of acknowledgements)." in said
    assert browser.find_all("#acknowledge") == []  # acknowledged: only Resolve is left
    assert browser.text("#alert-status").startswith("Acknowledged by admin:olivia via Django admin")

    deliver_all()  # the worker's turn
    slack_messages = [request.json() for request in sandbox.requests("/slack/services")]
    assert slack_messages[-1]["text"].startswith("Acknowledged by admin:olivia via Django admin")
    events = [request.json() for request in sandbox.requests("/pagerduty/v2/enqueue")]
    assert [event["event_action"] for event in events] == ["trigger", "acknowledge"]
    assert events[1] == {
        "routing_key": PD_ROUTING_KEY,
        "event_action": "acknowledge",
        "dedup_key": events[0]["dedup_key"],
    }

    # escalation stopped: long past any delay, no further step fires
    assert escalate_due(timezone.now() + timedelta(hours=2)) == 0
    alert.refresh_from_db()
    assert (alert.escalation_level, alert.next_escalation_at) == (1, None)
    retry = get_family("alerts").retry_model.objects
    assert not retry.filter(dedupe_key__startswith=f"alert:{alert.pk}:escalate:2:").exists()

    browser.open(reverse("admin:alerts_alert_change", args=[alert.pk]))
    escalation = browser.text("#escalation-timeline")
    assert "Escalation stopped: level 2 will not fire" in escalation and "Next escalation" not in escalation
    assert "Acknowledged: sent (vendor accepted)" in browser.text("#channel-pagerduty")


def test_a_stopped_pagerduty_configuration_is_named_in_the_message(
    browser, make_staff, on_call_group, public_links, organisation, make_channels, sandbox, deliver_all
):
    make_channels(organisation, base=sandbox.url, only=("slack", "pagerduty"))
    sandbox.fault("/pagerduty", kind="status", status=403, times=1)  # PagerDuty refuses the routing key
    alert = raise_alert(organisation=organisation, title="Invoice AI failing", severity="critical").alert
    deliver_all()
    pagerduty = get_family("alerts").config_model.objects.get(provider="pagerduty")
    assert pagerduty.status == "stopped"

    make_staff("olivia", groups=[on_call_group])
    link = link_in_slack(sandbox)
    assert urlsplit(link).path == reverse("admin:alerts_alert_change", args=[alert.pk])
    browser.driver.get(link)
    sign_in_on_the_way(browser, "olivia")
    assert "configuration stopped" in browser.text("#channel-pagerduty")

    browser.submit(browser.find("#acknowledge"))

    said = browser.messages()
    assert "Slack told." in said
    stopped = [line for line in said if line.startswith("PagerDuty not told: its configuration is stopped (")]
    assert len(stopped) == 1 and "HTTP 403" in stopped[0], said
    assert stopped[0].endswith("it waits in the queue until staff resume the configuration.")
    assert "PagerDuty told." not in said

    deliver_all()
    assert all(request.json()["event_action"] == "trigger" for request in sandbox.requests("/pagerduty/v2/enqueue"))
    assert sandbox.requests("/slack/services")[-1].json()["text"].startswith("Acknowledged by admin:olivia")


def link_in_slack(sandbox) -> str:
    """The "View dashboard" button of the Slack message the sandbox received."""
    message = sandbox.requests("/slack/services")[0].json()
    buttons = [element for block in message["blocks"] if block["type"] == "actions" for element in block["elements"]]
    return next(button["url"] for button in buttons if button["action_id"] == "alert_open")


def test_staff_without_the_on_call_right_see_no_buttons_and_a_forged_post_is_refused(
    browser, make_staff, on_call_group, public_links, organisation
):
    alert = raise_alert(organisation=organisation, title="Gallery AI slow", severity="high").alert
    escalation_due_at = alert.next_escalation_at
    make_staff("pat", "alerts.view_alert")
    browser.login("pat")
    browser.open(reverse("admin:alerts_alert_change", args=[alert.pk]))

    assert browser.text("#alert-title") == "Gallery AI slow"  # pat sees the alert...
    assert browser.find_all("#alert-actions") == []  # ...but no Acknowledge or Resolve
    assert browser.find_all("#acknowledge") == [] and browser.find_all("#resolve") == []

    token = browser.find("#logout-form input[name=csrfmiddlewaretoken]").get_attribute("value")
    act = reverse("admin:alerts_alert_act", args=[alert.pk])
    browser.post_form(act, {"csrfmiddlewaretoken": token, "action": "acknowledge"})

    assert "403 Forbidden" in browser.source
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by, alert.next_escalation_at) == ("triggered", "", escalation_due_at)
    assert not get_family("alerts").audit_model.objects.filter(action__startswith="acknowledge").exists()
