"""The operations console in a real browser (headless Chromium):

1. On-call lands on the dashboard from `/`: open alerts lead, the stopped and dead integrations
   follow with their reason, every chart is drawn by Chart.js with its numbers a click away; one
   click on Acknowledge returns to the dashboard saying what each channel was told, and the
   sandbox shows Slack and PagerDuty received it.
2. A staff member who may only look sees the same facts without a single button, and a forged
   post of the Resume button with their own session and CSRF token is refused (403).
3. The organisation page lists every integration of the tenant; "Test all connections" tests them
   and says how each went.

With WSI_SCREENSHOTS=DIR set, the dashboard and the organisation page are saved 1366 px wide as
DIR/dashboard.png and DIR/organisation.png (how docs/console/ is made:
`WSI_SCREENSHOTS=docs/console .venv/bin/python -m pytest tests/browser/test_console.py`).
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from alerts.lifecycle import raise_alert
from alerts.models import AlertStatus
from wedsync_integrations.integrations.registry import get_family
from wedsync_integrations.integrations.states import ConfigStatus, RetryState, SyncOutcome
from wedsync_integrations.usage.models import AIUsageRecord

from . import test_admin_flows
from .conftest import missing_browser
from .test_oncall import public_links, save_screenshot  # noqa: F401  (fixture, and the screenshot helper)

MISSING_BROWSER = missing_browser()
pytestmark = [
    pytest.mark.skipif(MISSING_BROWSER is not None, reason=MISSING_BROWSER or ""),
    pytest.mark.django_db(transaction=True),  # the live server answers from another thread
]

on_call_group = test_admin_flows.on_call_group


@pytest.fixture
def busy_day(public_links, organisation, make_organisation, make_config, make_channels, make_rollup, sandbox,  # noqa: F811
             deliver_all):  # fmt: skip
    """A day with something of everything: Acme's Slack and PagerDuty on the sandbox, three open
    alerts, a Xero export stopped by the vendor, a CRM push given up on, two days of deliveries,
    a month of AI usage and some usage waiting for an exchange rate."""
    now = timezone.now()
    make_channels(organisation, base=sandbox.url, only=["slack", "pagerduty"])
    bloom = make_organisation(slug="bloom", name="Bloom & Wild Florists")
    alerts = {
        severity: raise_alert(organisation=org, title=title, severity=severity).alert
        for severity, org, title in [
            ("critical", organisation, "Payments AI failing for wedding-day invoices"),
            ("high", bloom, "Seating-plan AI timing out for wedding-day timelines"),
            ("low", organisation, "Gallery captions slower than usual"),
        ]
    }
    deliver_all()
    xero = make_config("accounting", bloom, "xero", status=ConfigStatus.STOPPED, last_error_at=now,
                       status_reason="xero: HTTP 403 the organisation disconnected the app",
                       last_error="HTTP 403 AuthenticationUnsuccessful")  # fmt: skip
    crm = get_family("crm")
    tave = make_config("crm", organisation, "tave", last_error_at=now - timedelta(minutes=40), last_error="HTTP 500")
    crm.retry_model.objects.create(organisation=organisation, provider="tave", operation="push_report", payload={},
                                   state=RetryState.DEAD, attempts=8, last_attempt_at=now - timedelta(minutes=40),
                                   last_error="HTTP 500 from Tave")  # fmt: skip
    logs = get_family("monitoring").sync_log_model.objects
    for hours_ago in range(48):
        at = now - timedelta(hours=hours_ago)
        for n in range(3 + hours_ago % 5):
            logs.create(organisation=organisation, provider="datadog", operation="export", started_at=at,
                        outcome=SyncOutcome.SUCCESS if n or hours_ago % 7 else SyncOutcome.RETRYING)  # fmt: skip
    _queue_and_intake(organisation, now)
    for days_ago in range(30):
        make_rollup(organisation, (now - timedelta(days=days_ago)).replace(minute=0, second=0, microsecond=0),
                    requests=200 + 10 * (days_ago % 6), errors=3)  # fmt: skip
    AIUsageRecord.objects.create(organisation=organisation, request_id="waiting-1", occurred_at=now, hour=now,
                                 feature="chat", provider="openai", model="gpt-4o", latency_ms=300,
                                 cost_usd=Decimal("0.02"), outcome="success")  # fmt: skip
    return {"alerts": alerts, "xero": xero, "tave": tave, "bloom": bloom}


def _queue_and_intake(organisation, now) -> None:
    """Two days of the monitoring queue filling and draining, and of inbound webhooks."""
    from webhooks.models import InboundEvent, RejectedAttempt

    items = get_family("monitoring").retry_model.objects
    for hours_ago in range(48):
        at = now - timedelta(hours=hours_ago, minutes=30)
        for n in range(hours_ago % 4):
            items.create(organisation=organisation, provider="datadog", operation="export", payload={},
                         created_at=at, state=RetryState.SUCCEEDED, attempts=2,
                         succeeded_at=at + timedelta(minutes=20 + 50 * n))  # fmt: skip
        for n, source in enumerate(["pagerduty", "slack", "slack"][: 1 + hours_ago % 3]):
            InboundEvent.objects.create(source=source, organisation=organisation, event_type="e",
                                        external_id=f"{hours_ago}-{n}", dedupe_key=f"{hours_ago:032d}{n:032d}",
                                        payload={}, status="processed", received_at=at)  # fmt: skip
        if hours_ago % 11 == 3:
            RejectedAttempt.objects.create(source="slack", reason="bad_signature", at=at)


def drawn_charts(browser) -> list[str]:
    return [canvas.get_attribute("data-chart") for canvas in browser.find_all("canvas[data-drawn=yes]")]


def test_on_call_lands_on_the_dashboard_and_acknowledges_in_one_click(
    browser, make_staff, on_call_group, busy_day, sandbox, deliver_all
):
    make_staff("olivia", *_viewing_everything(), groups=[on_call_group])
    browser.login("olivia")
    browser.open("/")

    assert browser.driver.current_url.endswith("/admin/console/")
    rows = [row.get_attribute("id") for row in browser.find_all("#open-alerts tbody tr")]
    critical, high, low = (busy_day["alerts"][s] for s in ("critical", "high", "low"))
    assert rows == [f"alert-{critical.pk}", f"alert-{high.pk}", f"alert-{low.pk}"]
    assert browser.text("#count-critical") == "1 critical"
    xero = browser.text(f"#integration-accounting-{busy_day['xero'].pk}")
    assert "Stopped: xero: HTTP 403 the organisation disconnected the app — fix and resume" in xero
    assert "Dead item: replay it" in browser.text(f"#integration-crm-{busy_day['tave'].pk}")
    assert "1 AI usage record waits for a USD→GBP rate" in browser.text("#waiting-for-rate")
    # every chart with data is drawn, and its numbers are one click away
    every_chart = {"chart-data-deliveries-succeeded", "chart-data-deliveries-failed", "chart-data-retry-queue",
                   "chart-data-webhook-intake", "chart-data-alerts", "chart-data-ai-usage"}  # fmt: skip
    browser.wait.until(lambda _: set(drawn_charts(browser)) == every_chart)
    save_screenshot(browser, "dashboard.png")
    table = browser.find("#chart-deliveries-succeeded details")
    assert not table.find_element("css selector", "table").is_displayed()
    table.find_element("css selector", "summary").click()
    assert table.find_element("css selector", "table").is_displayed()

    before = len(sandbox.requests("/pagerduty/"))
    browser.submit(browser.find(f"#alert-{critical.pk} button.acknowledge"))

    assert browser.driver.current_url.endswith("/admin/console/")
    said = browser.messages()
    assert said[0] == f"Alert {critical.ref} acknowledged. Escalation stopped."
    assert "Slack told." in said and "PagerDuty told." in said
    assert "acknowledged by admin:olivia" in browser.text(f"#alert-{critical.pk}")
    critical.refresh_from_db()
    assert critical.status == AlertStatus.ACKNOWLEDGED and critical.next_escalation_at is None
    deliver_all()
    acknowledgements = [json.loads(r.body) for r in sandbox.requests("/pagerduty/")[before:]]
    assert [body["event_action"] for body in acknowledgements] == ["acknowledge"]


def _viewing_everything() -> list[str]:
    return [f"{app}.view_{model}" for app, model in (("alerts", "alert"), ("accounting", "accountingconfig"),
            ("crm", "crmconfig"), ("crm", "crmretryitem"), ("usage", "aiusagerecord"))]  # fmt: skip


def test_staff_who_may_only_look_see_no_buttons_and_a_forged_resume_is_refused(browser, make_staff, busy_day):
    make_staff("pat", *_viewing_everything())
    browser.login("pat")
    browser.open(reverse("console:dashboard"))

    xero = busy_day["xero"]
    assert "Stopped: " in browser.text(f"#integration-accounting-{xero.pk}")  # pat sees what is wrong...
    for button in ("acknowledge", "resolve", "resume", "replay"):
        assert browser.find_all(f"button.{button}") == []  # ...and no button to change it

    token = browser.find("#logout-form input[name=csrfmiddlewaretoken]").get_attribute("value")
    resume = reverse("admin:accounting_accountingconfig_resume", args=[xero.pk])
    browser.post_form(resume, {"csrfmiddlewaretoken": token, "next": "/admin/console/"})

    assert "403 Forbidden" in browser.source
    xero.refresh_from_db()
    assert xero.status == ConfigStatus.STOPPED
    assert not get_family("accounting").audit_model.objects.filter(action="resume").exists()


def test_the_organisation_page_tests_every_connection_at_once(browser, make_staff, busy_day, organisation):
    make_staff("casey", *_viewing_everything(), "alerts.view_alertconfig")
    browser.login("casey")
    browser.open("/admin/console/")
    browser.submit(browser.find(f"#alert-{busy_day['alerts']['critical'].pk} a[href^='/admin/console/organisations/']"))

    assert browser.driver.current_url.endswith(f"/admin/console/organisations/{organisation.slug}/")
    page = browser.text("#content")
    assert "Slack" in page and "PagerDuty" in page and "Tave" in page
    assert "Bloom" not in browser.text("#content table")  # another tenant's integrations stay out
    save_screenshot(browser, "organisation.png")

    browser.submit(browser.find("#test-all button"))
    said = " ".join(browser.messages())
    assert "Slack" in said and "PagerDuty" in said and "Tave" in said
