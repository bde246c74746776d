"""Issue 13's staff path in a real browser (headless Chromium), from the login form:

1. A stopped configuration (a Datadog export whose address setting points at a regional host that
   refuses the key, with exports held): found on the operations dashboard where staff land, opened,
   the setting fixed in the typed form, saved, resumed; the worker's drain sends the held exports,
   the status reads healthy and the dashboard has nothing left to fix.
2. The add page shows only the chosen vendor's secret boxes, and choosing another vendor swaps them.
3. The kernel's list pages fit a 1366 px screen with long, realistic values: no horizontal scroll
   of the page nor of the result table, long text clipped with the whole of it on hover.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils import timezone
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

from monitoring.exporter import last_finished_hour
from monitoring.models import MonitoringCursor
from monitoring.providers.datadog import Datadog
from monitoring.sync import sync_monitoring
from tests.monitoring.conftest import DD_KEY
from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.errors import PermanentError
from wedsync_integrations.integrations.registry import families, get_family
from wedsync_integrations.integrations.states import ConfigStatus, RetryState
from wedsync_integrations.integrations.tasks import drain_family

from .conftest import PASSWORD, missing_browser

MISSING_BROWSER = missing_browser()
pytestmark = [
    pytest.mark.skipif(MISSING_BROWSER is not None, reason=MISSING_BROWSER or ""),
    pytest.mark.django_db(transaction=True),  # the live server answers from another thread
]

HOUR = timedelta(hours=1)
SCREEN_WIDTH = 1366


# -- 1. stopped → fixed → resumed → drained -------------------------------------------------------------
@pytest.fixture
def stopped_datadog(sandbox, make_config, organisation, make_rollup, monkeypatch):
    """A Datadog export pointed at an address that answers 403 (as Datadog does for a key of
    another site): the first export stopped the configuration and the hours are held."""
    sandbox.fault("/datadog-eu", kind="status", status=403, times=0)  # every request, until the test ends
    config = make_config(
        "monitoring", organisation, "datadog", settings={"base_url": f"{sandbox.url}/datadog-eu"},
        secrets={"api_key": DD_KEY},
    )  # fmt: skip
    # Datadog takes points up to an hour old: in the last minutes of an hour no finished hour is
    # young enough, at the export nor at the resumed delivery. This test is about the staff path,
    # not Datadog's window (tests/monitoring holds that), so the window is widened here.
    monkeypatch.setattr(Datadog, "max_point_age", timedelta(hours=3))
    hour = last_finished_hour(timezone.now())
    MonitoringCursor.objects.create(config=config, last_exported_hour=hour - HOUR)
    make_rollup(organisation, hour, requests=40, errors=2)
    sync_monitoring(config)
    config.refresh_from_db()
    assert config.status == ConfigStatus.STOPPED, config.status_reason
    return config


def test_staff_fix_a_stopped_configuration_in_the_typed_form_resume_it_and_the_queue_drains(
    browser, make_staff, sandbox, stopped_datadog, eager_celery
):
    monitoring = get_family("monitoring")
    held = monitoring.retry_model.objects.filter(state=RetryState.PENDING)
    held_count = held.count()
    assert held_count >= 1 and not sandbox.requests("/datadog/")
    make_staff("casey", "monitoring.view_monitoringconfig", "monitoring.change_monitoringconfig")
    browser.login("casey")

    # the dashboard, where staff land: the stopped configuration leads what needs a person
    browser.open("/")
    assert browser.driver.current_url.endswith("/admin/console/")
    row = browser.find(f"#integration-monitoring-{stopped_datadog.pk}")
    status = row.find_element(By.CSS_SELECTOR, "td.tone-action").text
    assert status.startswith("Stopped: ") and status.endswith("— fix and resume") and "403" in status
    assert "retry" not in status.lower()
    assert browser.text("#count-integrations") == "1 integration to fix"

    # its page, from the dashboard
    browser.submit(row.find_element(By.LINK_TEXT, "Monitoring · datadog"))
    assert browser.find_all("#resume-button")
    address = browser.find("input[name=setting__base_url]")
    assert address.get_attribute("type") == "url"
    assert address.get_attribute("value") == f"{sandbox.url}/datadog-eu"
    assert browser.find("input[name=setting__site]").get_attribute("placeholder") == "US1"  # its default

    # fix the setting in the typed form, save
    address.clear()
    address.send_keys(sandbox.vendor_url("datadog"))
    browser.submit(browser.find("input[name=_continue]"))
    assert any("was changed successfully" in message for message in browser.messages())
    assert browser.text(".field-status_now .readonly").startswith("Stopped: ")  # saving alone resumes nothing
    stopped_datadog.refresh_from_db()
    assert stopped_datadog.settings == {"base_url": sandbox.vendor_url("datadog")}

    # resume; the worker's drain sends what was held
    browser.submit(browser.find("#resume-button"))
    assert "Resumed 1 configuration(s); held items are due now." in browser.messages()
    drain_family("monitoring")

    assert held.count() == 0
    assert monitoring.retry_model.objects.filter(state=RetryState.SUCCEEDED).count() >= held_count
    assert len(sandbox.requests("/datadog/api/v2/series")) >= 1
    browser.open(reverse("admin:monitoring_monitoringconfig_change", args=[stopped_datadog.pk]))
    assert browser.text(".field-status_now .readonly") == "Active"
    assert not browser.find_all("#resume-button")
    browser.open(reverse("admin:monitoring_monitoringconfig_changelist"))
    assert browser.cell(stopped_datadog.pk, "status_column") == "Active"
    assert browser.cell(stopped_datadog.pk, "queue_depth") == "0"
    browser.open("/admin/console/")
    assert browser.text("#count-integrations") == "0 integrations to fix"
    assert not browser.find_all(f"#integration-monitoring-{stopped_datadog.pk}")
    entry = monitoring.audit_model.objects.get(action="resume")
    assert (entry.actor, entry.target_id) == ("admin:casey", str(stopped_datadog.pk))


# -- 2. only the chosen vendor's secrets -------------------------------------------------------------------
def secret_boxes(browser) -> list[str]:
    return sorted(box.get_attribute("name") for box in browser.find_all("input[name^=secret__]"))


def test_the_add_page_shows_only_the_chosen_vendors_secret_boxes(browser, make_staff, organisation):
    make_staff("casey", "monitoring.view_monitoringconfig", "monitoring.add_monitoringconfig")
    browser.login("casey")
    browser.open(reverse("admin:monitoring_monitoringconfig_add"))
    assert secret_boxes(browser) == []
    assert not browser.find("#choose-provider").is_displayed()  # the script chooses on change

    Select(browser.find("#id_organisation")).select_by_value(str(organisation.pk))
    page = browser.find("html")
    Select(browser.find("#id_provider")).select_by_value("datadog")
    browser._await_next_page(page)
    assert secret_boxes(browser) == ["secret__api_key"]
    assert browser.messages() == ["Now showing the settings and secrets of Datadog: fill them in, then save."]
    assert not browser.find_all(".errornote")  # nothing is wrong, nothing was saved
    assert Select(browser.find("#id_organisation")).first_selected_option.get_attribute("value") == str(organisation.pk)

    page = browser.find("html")
    Select(browser.find("#id_provider")).select_by_value("prometheus")
    browser._await_next_page(page)
    assert secret_boxes(browser) == ["secret__bearer_token", "secret__pushgateway_password"]
    assert not get_family("monitoring").config_model.objects.exists()  # choosing saved nothing


# -- 3. lists at 1366 px ------------------------------------------------------------------------------------
LONG_NAME = "The Old Rectory at Little Snoring — Wedding Photography & Film Partnership Ltd"
LONG_ERROR = (
    "HTTP 403 Forbidden: {\"errors\":[\"API key is invalid for this site: the key belongs to the EU1 region but the "
    "request went to api.datadoghq.com; check the site setting and the key's organisation\"]} (correlation "
    "9f2c1e7a4b3d4c8e9a0b1c2d3e4f5a6b)"
)


def overflow(browser) -> dict:
    """How far the page and the result table reach beyond what the window shows (0: nothing hidden)."""
    return browser.driver.execute_script(
        """
        const page = document.scrollingElement, results = document.querySelector("#changelist .results");
        return {page: page.scrollWidth - page.clientWidth,
                table: results ? results.scrollWidth - results.clientWidth : 0,
                rows: document.querySelectorAll("#result_list tbody tr").length,
                width: window.innerWidth};
        """
    )


@pytest.fixture
def long_values(make_config, make_organisation, fake_provider):
    """Every family's configuration list, a retry queue and a sync log with long, realistic text."""
    organisation = make_organisation(name=LONG_NAME)
    for family in families():
        config = make_config(family.name, organisation, sorted(family.providers)[0])
        config.stop(LONG_ERROR)
    config = make_config("monitoring", organisation, "fake")
    fake_provider.script = [PermanentError(LONG_ERROR, status=403)]
    outbox.enqueue(config, operation="series", payload={})
    outbox.drain_pair("monitoring", organisation.pk, "fake")


def test_the_kernels_lists_fit_1366_px_with_long_values_clipped_and_whole_on_hover(
    browser, chromium, long_values
):
    chromium.set_window_size(SCREEN_WIDTH, 900)
    User.objects.create_superuser("root", "root@wedsync.example", PASSWORD)
    browser.login("root")
    pages = [reverse(f"admin:{f.app_label}_{f.config_model._meta.model_name}_changelist") for f in families()]
    monitoring = get_family("monitoring")
    pages += [
        reverse(f"admin:monitoring_{monitoring.retry_model._meta.model_name}_changelist"),
        reverse(f"admin:monitoring_{monitoring.sync_log_model._meta.model_name}_changelist"),
    ]
    try:
        for path in pages:
            browser.open(path)
            measured = overflow(browser)
            assert measured["width"] <= SCREEN_WIDTH and measured["rows"] >= 1, (path, measured)
            if (measured["page"], measured["table"]) != (0, 0):
                chromium.save_screenshot(f"/tmp/wsi-{path.strip('/').replace('/', '-')}.png")
            assert (measured["page"], measured["table"]) == (0, 0), (path, measured)
            clipped = browser.driver.execute_script(
                """return [...document.querySelectorAll("#result_list .wsi-clip")].map(
                       item => [item.title, item.textContent, item.scrollWidth > item.clientWidth]);"""
            )
            # the long error is there, cut to one line, and whole on hover; so is every clipped text
            assert any(LONG_ERROR in title and cut for title, _, cut in clipped), (path, clipped)
            assert all(title == text for title, text, _ in clipped), path
    finally:
        chromium.set_window_size(1400, 1000)  # the module's other tests keep the conftest's size
