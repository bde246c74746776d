"""Django admin in a real browser (headless Chromium): the flows staff and on-call people click
through, each starting at the login form, asserting what the page shows and what the database
then holds.

1. A staff member edits an integration's configuration: secrets are write-only (the stored
   value is never in the page), a new one is saved encrypted, a bad setting is refused.
2. A dead export in the retry queue is replayed with "Replay now" once the vendor answers.
3. An on-call member acknowledges an alert from the list; a staff member outside the On-call
   group is not offered the action, and a forged post of it changes nothing.
"""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from alerts.admin import ON_CALL_GROUP
from alerts.lifecycle import escalate_due, raise_alert
from alerts.models import Alert, AlertStatus
from monitoring.exporter import last_finished_hour
from monitoring.models import MonitoringCursor
from monitoring.sync import sync_monitoring
from tests.alerts.conftest import PD_ROUTING_KEY
from tests.monitoring.conftest import DD_KEY, NR_KEY
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.registry import get_family
from wedsync_integrations.integrations.secrets import decrypt_json

from .conftest import missing_browser

MISSING_BROWSER = missing_browser()
pytestmark = [
    pytest.mark.skipif(MISSING_BROWSER is not None, reason=MISSING_BROWSER or ""),
    pytest.mark.django_db(transaction=True),  # the live server answers from another thread
]

NEW_DD_KEY = "dd-key-typed-into-the-browser-0042"
HOUR = timedelta(hours=1)


# -- 1. an integration's configuration ---------------------------------------------------------------
@pytest.fixture
def datadog(sandbox, make_config, organisation):
    """A Datadog export pointed at the sandbox, whose key check the change page runs live."""
    return make_config(
        "monitoring",
        organisation,
        "datadog",
        settings={"base_url": sandbox.vendor_url("datadog")},
        secrets={"api_key": DD_KEY},
    )


@pytest.fixture
def config_editor(make_staff):
    return make_staff("casey", "monitoring.view_monitoringconfig", "monitoring.change_monitoringconfig")


def stored_ciphertext(config) -> str:
    """The secrets column exactly as the database holds it."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secrets FROM {config._meta.db_table} WHERE id = %s", [config.pk])  # noqa: S608
        return cursor.fetchone()[0]


def key_checks(sandbox) -> list[str]:
    """The API key each live health check on the change page sent to Datadog's validate endpoint."""
    return [request.headers["DD-API-KEY"] for request in sandbox.requests("/datadog/api/v1/validate")]


def test_a_new_secret_is_saved_encrypted_and_no_page_ever_shows_a_secret(browser, config_editor, datadog, sandbox):
    monitoring = get_family("monitoring")
    browser.login("casey")
    browser.open(reverse("admin:monitoring_monitoringconfig_changelist"))
    assert "Acme Photography" in browser.cell(datadog.pk, "organisation_column")
    assert DD_KEY not in browser.source

    browser.open(reverse("admin:monitoring_monitoringconfig_change", args=[datadog.pk]))
    box = browser.find("input[name=secret__api_key]")
    assert (box.get_attribute("type"), box.get_attribute("value")) == ("password", "")
    assert "Set — leave blank to keep it" in browser.text(".field-secret__api_key")
    assert "OK — API key valid" in browser.text(".field-health_now")  # the live check used the stored key
    assert key_checks(sandbox) == [DD_KEY]
    assert DD_KEY not in browser.source

    box.send_keys(NEW_DD_KEY)
    browser.submit(browser.find("input[name=_continue]"))  # "Save and continue editing"

    assert any("was changed successfully" in message for message in browser.messages())
    assert browser.find("input[name=secret__api_key]").get_attribute("value") == ""
    assert NEW_DD_KEY not in browser.source and DD_KEY not in browser.source
    # the reloaded page checked the key again, with the new one
    assert "OK — API key valid" in browser.text(".field-health_now")
    assert key_checks(sandbox) == [DD_KEY, NEW_DD_KEY]

    datadog.refresh_from_db()
    assert dict(datadog.secrets) == {"api_key": NEW_DD_KEY}
    assert datadog.settings == {"base_url": sandbox.vendor_url("datadog")}
    ciphertext = stored_ciphertext(datadog)
    assert NEW_DD_KEY not in ciphertext and DD_KEY not in ciphertext
    assert decrypt_json(ciphertext) == {"api_key": NEW_DD_KEY}
    entry = monitoring.audit_model.objects.get(action="change_config")
    assert (entry.actor, entry.user.username) == ("admin:casey", "casey")
    assert entry.changes == {"secrets": {"api_key": "(changed)"}}


def test_an_invalid_setting_shows_the_error_and_saves_nothing(browser, config_editor, datadog, sandbox):
    monitoring = get_family("monitoring")
    browser.login("casey")
    browser.open(reverse("admin:monitoring_monitoringconfig_change", args=[datadog.pk]))
    site_box = browser.find("input[name=setting__site]")  # a typed field of Datadog's settings
    site_box.send_keys("Mars")
    browser.find("input[name=secret__api_key]").send_keys(NEW_DD_KEY)
    browser.submit(browser.find("input[name=_save]"))

    assert "Please correct the error below." in browser.text("p.errornote")
    assert "unknown Datadog site 'Mars'" in browser.text(".field-setting__site .errorlist")
    assert browser.find("input[name=setting__site]").get_attribute("value") == "Mars"  # kept to be corrected
    assert browser.find("input[name=secret__api_key]").get_attribute("value") == ""  # the typed key is not echoed
    assert NEW_DD_KEY not in browser.source and DD_KEY not in browser.source
    assert not browser.messages()

    datadog.refresh_from_db()
    assert datadog.settings == {"base_url": sandbox.vendor_url("datadog")}
    assert dict(datadog.secrets) == {"api_key": DD_KEY}
    assert not monitoring.audit_model.objects.filter(action="change_config").exists()


# -- 2. replaying a dead export ----------------------------------------------------------------------
def test_replay_now_delivers_a_dead_export_once_the_vendor_answers(
    browser, make_staff, sandbox, make_config, organisation, make_rollup
):
    monitoring = get_family("monitoring")
    newrelic = make_config(
        "monitoring",
        organisation,
        "newrelic",
        settings={"base_url": sandbox.vendor_url("newrelic")},
        secrets={"license_key": NR_KEY},
    )
    # one finished hour to export (New Relic takes 48 h of backfill, so it is never too old here)
    hour = last_finished_hour(timezone.now()) - HOUR
    MonitoringCursor.objects.create(config=newrelic, last_exported_hour=hour - HOUR)
    make_rollup(organisation, hour, requests=40, errors=2)
    sandbox.fault("/newrelic", kind="status", status=400, times=1)  # refused: the item goes dead
    sync_monitoring(newrelic)
    # the hour's metrics went dead; the health snapshot queued behind them was delivered
    item = monitoring.retry_model.objects.get(state=RetryState.DEAD)
    assert monitoring.retry_model.objects.exclude(pk=item.pk).get().state == RetryState.SUCCEEDED

    make_staff("robin", "monitoring.view_monitoringretryitem", "monitoring.change_monitoringretryitem")
    browser.login("robin")
    browser.open(reverse("admin:monitoring_monitoringretryitem_changelist"))
    assert browser.cell(item.pk, "state") == "Dead"
    assert "400" in browser.cell(item.pk, "last_error_short")
    assert "replay_now" in browser.action_names()

    browser.run_action("replay_now", item.pk)

    assert browser.messages() == ["Replayed 1 item: succeeded 1"]
    # the queue opens on what is not delivered: the replayed item has left it, "All" still shows it
    assert not browser.find_all(f"#result_list a[href*='/{item.pk}/change/']")
    browser.open(reverse("admin:monitoring_monitoringretryitem_changelist") + "?state=all")
    assert browser.cell(item.pk, "state") == "Succeeded"
    item.refresh_from_db()
    assert item.state == RetryState.SUCCEEDED
    refused, _snapshot, replayed = sandbox.requests("/newrelic/metric/v1")
    assert (refused.fault, refused.status, replayed.fault, replayed.status) == ("status", 400, None, 202)
    assert replayed.headers["Api-Key"] == NR_KEY
    assert replayed.body == refused.body  # the stored payload, resent byte for byte
    entry = monitoring.audit_model.objects.get(action="replay")
    assert (entry.actor, entry.user.username, entry.target_id) == ("admin:robin", "robin", str(item.pk))


# -- 3. on-call acknowledgement ----------------------------------------------------------------------
@pytest.fixture
def on_call_group(transactional_db) -> Group:
    """The On-call group exactly as migration alerts 0003 makes it. A transactional test's flush
    (this module's, or an earlier module's) empties every table, migration rows included, so the
    group is made again from the migration's own name and permission list when it is gone."""
    migration = importlib.import_module("alerts.migrations.0003_on_call_group")
    group, _ = Group.objects.get_or_create(name=migration.GROUP)
    group.permissions.add(
        *Permission.objects.filter(content_type__app_label="alerts", codename__in=migration.PERMISSIONS)
    )
    assert group.name == ON_CALL_GROUP  # the name the admin checks
    return group


def test_an_on_call_member_acknowledges_an_alert_and_escalation_stops(
    browser, make_staff, on_call_group, sandbox, organisation, make_channels, deliver_all
):
    make_channels(organisation, base=sandbox.url, only=("pagerduty",))
    alert = raise_alert(organisation=organisation, title="Seating-plan AI timing out", severity="critical").alert
    deliver_all()  # PagerDuty is paged
    assert alert.next_escalation_at is not None

    make_staff("olivia", groups=[on_call_group])
    browser.login("olivia")
    browser.open(reverse("admin:alerts_alert_changelist"))
    assert browser.cell(alert.pk, "status") == "Triggered"
    assert {"acknowledge_alerts", "resolve_alerts"} <= set(browser.action_names())

    browser.run_action("acknowledge_alerts", alert.pk)

    # only PagerDuty is configured here: the message says so instead of promising Slack
    assert browser.messages() == [
        f"Alert {alert.ref} acknowledged. Slack not told: no Slack configuration. "
        "Email: nothing to tell (Email is not told of acknowledgements). "
        "SMS: nothing to tell (SMS is not told of acknowledgements). PagerDuty told."
    ]
    assert browser.cell(alert.pk, "status") == "Acknowledged"
    assert browser.cell(alert.pk, "acknowledged_by") == "admin:olivia"
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by, alert.acknowledged_via) == ("acknowledged", "admin:olivia", "admin")
    assert alert.acknowledged_at is not None and alert.next_escalation_at is None
    assert escalate_due(timezone.now() + timedelta(hours=2)) == 0  # long past any escalation delay
    alert.refresh_from_db()
    assert alert.escalation_level == 0
    entry = get_family("alerts").audit_model.objects.get(action="acknowledge")
    assert entry.user.username == "olivia"
    assert (entry.changes["status"], entry.changes["via"]) == (["triggered", "acknowledged"], "admin")

    deliver_all()  # PagerDuty hears the acknowledgement for the incident it opened
    events = [request.json() for request in sandbox.requests("/pagerduty/v2/enqueue")]
    assert [event["event_action"] for event in events] == ["trigger", "acknowledge"]
    assert events[1] == {
        "routing_key": PD_ROUTING_KEY,
        "event_action": "acknowledge",
        "dedup_key": events[0]["dedup_key"],
    }


def test_staff_outside_the_on_call_group_cannot_acknowledge(browser, make_staff, on_call_group, organisation):
    alert = raise_alert(organisation=organisation, title="Invoice AI slow", severity="high").alert
    escalation_due_at = alert.next_escalation_at
    make_staff("pat", "alerts.view_alert")
    browser.login("pat")
    changelist = reverse("admin:alerts_alert_changelist")
    browser.open(changelist)
    assert browser.cell(alert.pk, "status") == "Triggered"  # pat sees the alert...
    assert browser.find_all("select[name=action]") == []  # ...but is offered no action on it
    assert browser.find_all("input[name=_selected_action]") == []

    # posting the action anyway, with pat's own session and CSRF token, changes nothing
    token = browser.find("#logout-form input[name=csrfmiddlewaretoken]").get_attribute("value")
    browser.post_form(
        changelist,
        {"csrfmiddlewaretoken": token, "action": "acknowledge_alerts", "_selected_action": str(alert.pk), "index": "0"},
    )

    assert not browser.messages()
    assert browser.cell(alert.pk, "status") == "Triggered"
    alert.refresh_from_db()
    assert (alert.status, alert.acknowledged_by, alert.next_escalation_at) == ("triggered", "", escalation_due_at)
    assert not get_family("alerts").audit_model.objects.filter(action__startswith="acknowledge").exists()
    assert Alert.objects.filter(status=AlertStatus.ACKNOWLEDGED).count() == 0
