"""Connecting a ledger from the admin in headless Chromium, against the sandbox's authorization
servers: a staff member presses "Connect to QuickBooks/Xero/FreshBooks" on the configuration's
page, allows access on the vendor's consent page (and picks the Xero org when the consent covers
several), and is back on the page reading "connected to <ledger name>". Then the month's AI costs
are exported with that connection from the months page, and again on a later run once the access
token has expired: the rotated refresh token the first renewal stored is the one spent."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs

import pytest
from django.urls import reverse
from django.utils import timezone

from accounting import sandbox as ledgers
from accounting.models import MonthlyExport
from accounting.months import Month
from tests.accounting.conftest import CLIENT, add_usage, control, sandbox_settings  # noqa: F401  (fixture)
from wedsync_integrations.integrations.models import CredentialStatus

from .conftest import missing_browser

MISSING_BROWSER = missing_browser()
pytestmark = [
    pytest.mark.skipif(MISSING_BROWSER is not None, reason=MISSING_BROWSER or ""),
    pytest.mark.django_db(transaction=True),  # the live server answers from another thread
]

LEDGERS = {
    "quickbooks": ("QuickBooks", ledgers.QBO_COMPANY, {"realm_id": ledgers.QBO_REALM}),
    "xero": ("Xero", ledgers.XERO_TENANT_NAME, {"tenant_id": ledgers.XERO_TENANT}),
    "freshbooks": ("FreshBooks", ledgers.FRESHBOOKS_BUSINESS, {"account_id": ledgers.FRESHBOOKS_ACCOUNT}),
}


@pytest.fixture
def accountant(make_staff, live_server, settings):
    settings.PUBLIC_BASE_URL = live_server.url  # the redirect URI registered with the vendor
    return make_staff("alex", "accounting.view_accountingconfig", "accounting.change_accountingconfig")


def unconnected(vendor, sandbox, make_config, organisation):
    """A configuration as staff create it before connecting: the app's client id and secret only."""
    settings = sandbox_settings(sandbox, vendor)
    settings.pop({"quickbooks": "realm_id", "xero": "tenant_id", "freshbooks": "account_id"}[vendor])
    return make_config("accounting", organisation, vendor, settings=settings, secrets=dict(CLIENT))


def connect(browser, config, label: str, ledger_name: str) -> None:
    """What the staff member does: the button, the vendor's "Allow", the org if asked."""
    browser.open(reverse("admin:accounting_accountingconfig_change", args=[config.pk]))
    assert browser.text("#connect-button") == f"Connect to {label}"
    browser.submit(browser.find("#connect-button"))
    assert f"{label}" in browser.text("h1") and "(sandbox)" in browser.text("h1")  # the vendor's consent page
    browser.submit(browser.find("#allow"))
    if browser.find_all("input[name=account]"):  # the consent covered several ledgers: staff choose
        browser.driver.find_element("xpath", f"//label[contains(., '{ledger_name}')]/input").click()
        browser.submit(browser.find("input[type=submit]"))


@pytest.mark.parametrize("vendor", ["quickbooks", "xero", "freshbooks"])
def test_staff_connect_a_ledger_by_clicking_through_the_vendors_consent(browser, accountant, sandbox, make_config,
                                                                        organisation, vendor):  # fmt: skip
    label, ledger_name, tenant = LEDGERS[vendor]
    config = unconnected(vendor, sandbox, make_config, organisation)
    browser.login("alex")

    connect(browser, config, label, ledger_name)

    assert browser.messages() == [f"Connected to {ledger_name}."]
    assert f"connected to {ledger_name}" in browser.text(".field-connection")
    assert browser.text("#connect-button") == f"Reconnect to {label}"
    config.refresh_from_db()
    assert config.credential_status == CredentialStatus.CONNECTED and config.connected_by == "admin:alex"
    assert {key: config.settings[key] for key in tenant} == tenant
    for secret in (config.credential["access_token"], config.credential["refresh_token"], CLIENT["client_secret"]):
        assert secret not in browser.source  # a token is never rendered


def _a_closed_month(now) -> Month:
    month = Month.of(now).previous()
    return month if month.is_closed(now) else month.previous()


def test_connected_in_the_browser_exported_and_the_next_run_spends_the_rotated_token(
    browser,
    accountant,
    sandbox,
    make_config,
    organisation,
    add_usage,  # noqa: F811
):
    config = unconnected("xero", sandbox, make_config, organisation)
    month = _a_closed_month(timezone.now())
    config.settings["first_month"] = month.label
    config.save()
    at = month.start + timedelta(days=9, hours=10)
    add_usage(organisation, [(at, "openai", "email_template", "8.33", "6.576667"),
                             (at, "anthropic", "contract_generation", "1.05", "0.830000")])  # fmt: skip
    browser.login("alex")
    connect(browser, config, "Xero", ledgers.XERO_TENANT_NAME)
    page = reverse("admin:accounting_accountingconfig_month", args=[config.pk, month.label])

    browser.open(page)
    assert "Ready to export" in browser.text("#plan-outcome")
    browser.submit(browser.find("#export-now"))

    assert browser.messages() == [f"{month.title}: export; queued 1, delivered 1, failed 0."]
    (bill,) = control(sandbox, "GET", "/xero/__ledger")["documents"]
    assert (bill["InvoiceNumber"], bill["Total"]) == (MonthlyExport.objects.get().reference, 8.9)  # £7.41 + £1.49
    config.refresh_from_db()
    rotated = config.credential["refresh_token"]

    # a later run, the access token expired meanwhile: late usage goes out as an adjustment
    control(sandbox, "POST", "/xero/__oauth", {"expire_access_tokens": True})
    add_usage(organisation, [(at + timedelta(days=1), "openai", "email_template", "1", "1.000000")])
    browser.open(page)
    browser.submit(browser.find("#export-now"))

    assert browser.messages() == [f"{month.title}: export; queued 1, delivered 1, failed 0."]
    assert MonthlyExport.objects.get(sequence=1).net_gbp == 1
    config.refresh_from_db()
    rotated_again = config.credential["refresh_token"]
    assert rotated_again != rotated  # Xero rotated it; it was committed before the call

    # and once more: the run after spends the token the previous renewal stored
    control(sandbox, "POST", "/xero/__oauth", {"expire_access_tokens": True})
    add_usage(organisation, [(at + timedelta(days=2), "openai", "email_template", "1", "2.000000")])
    browser.open(page)
    browser.submit(browser.find("#export-now"))
    assert browser.messages() == [f"{month.title}: export; queued 1, delivered 1, failed 0."]

    renewals = [parse_qs(r.text()) for r in sandbox.requests("/xero/identity/connect/token")]
    assert [grant["grant_type"] for grant in renewals] == [["authorization_code"], ["refresh_token"], ["refresh_token"]]
    assert [grant["refresh_token"] for grant in renewals[1:]] == [[rotated], [rotated_again]]
    assert not control(sandbox, "GET", "/xero/__oauth")["counts"].get("reuse_refused")
    assert len(control(sandbox, "GET", "/xero/__ledger")["documents"]) == 3  # the month and two adjustments
