"""Issue 13, item 4: a ledger configuration's page offers the ledger's own records (accounts, tax
rates or codes, suppliers, categories, staff) as drop-downs of its typed settings form, read with
the configuration's credentials; when the ledger cannot be read the setting stays a text box with
a note saying why, never a 500. The read is cached briefly, and saving a choice stores it."""

from __future__ import annotations

import re

import pytest
import responses
from django.urls import reverse
from responses import matchers

from accounting import sandbox as ledgers
from accounting.family import FAMILY
from accounting.providers.freshbooks import API as FRESHBOOKS_API
from accounting.providers.xero import API as XERO_API

from .conftest import fixture
from .test_admin import COMPANY, operator, staff, the_ledger  # noqa: F401  (fixtures and helpers shared)

pytestmark = pytest.mark.django_db
FRESHBOOKS_ACCOUNT = f"{FRESHBOOKS_API}/accounting/account/{ledgers.FRESHBOOKS_ACCOUNT}"


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def the_xero_org(rsps) -> dict:
    """Xero's lists, and its health check (the page runs it too); returns the list calls."""
    active = {"where": 'ContactStatus=="ACTIVE"', "summaryOnly": "true"}
    rsps.get(f"{XERO_API}/Organisation", json=fixture("xero", "organisation"))
    return {
        "contacts": rsps.get(f"{XERO_API}/Contacts", json=fixture("xero", "contacts"),
                             match=[matchers.query_param_matcher(active)]),
        "accounts": rsps.get(f"{XERO_API}/Accounts", json=fixture("xero", "accounts")),
        "tax_rates": rsps.get(f"{XERO_API}/TaxRates", json=fixture("xero", "tax_rates")),
    }  # fmt: skip


def options(page: str, setting: str) -> dict[str, str]:
    """value -> label of the drop-down of `setting` on the page."""
    select = re.search(rf'<select name="setting__{setting}"[^>]*>(.*?)</select>', page, re.S)
    assert select, f"no drop-down for {setting}"
    return dict(re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select.group(1)))


def change_url(config) -> str:
    return reverse("admin:accounting_accountingconfig_change", args=[config.pk])


def test_xero_accounts_and_tax_rates_are_offered_from_the_org(operator, ledger_config, rsps):  # noqa: F811
    config = ledger_config("xero")
    the_xero_org(rsps)

    page = operator.get(change_url(config)).content.decode()

    assert options(page, "expense_account_code") == {"": "— not set —", "463": "Software and Technology",
                                                     "400": "Advertising"}  # fmt: skip  (archived 461 is not offered)
    assert options(page, "bank_account_code") == {"": "— not set —", "090": "Business Bank Account"}
    taxes = options(page, "tax_type")
    assert taxes["INPUT2"] == "20% (VAT on Expenses) (20.0%)" and "OUTPUT2" not in taxes  # income rates are not
    assert "WedSync AI Services" in options(page, "contact_id").values()
    assert "Listed by Xero at " in page


def test_quickbooks_accounts_and_tax_codes_are_offered_and_a_choice_is_saved(operator, ledger_config, rsps):  # noqa: F811
    config = ledger_config("quickbooks")
    the_ledger(rsps)
    rsps.get(f"{COMPANY}/companyinfo/{ledgers.QBO_REALM}", json=fixture("quickbooks", "companyinfo"))
    page = operator.get(change_url(config)).content.decode()
    assert options(page, "tax_code_id")["8"] == "20.0% RC SG (purchases 20%)"
    assert options(page, "expense_account_id")["78"] == "Software and Technology"

    form = {"organisation": config.organisation_id, "enabled": "on", "settings_for": "quickbooks",
            **{f"setting__{name}": value for name, value in config.settings.items()},
            "setting__vat_registered": "true", "setting__tax_code_id": "8",
            "setting__expense_account_id": "78"}  # fmt: skip
    response = operator.post(change_url(config), form)

    assert response.status_code == 302, response.content.decode()[:3000]
    config.refresh_from_db()
    assert (config.settings["tax_code_id"], config.settings["expense_account_id"]) == ("8", "78")
    assert config.settings["vat_registered"] is True  # typed by the serializer, not the string posted


def test_freshbooks_categories_and_staff_are_offered(operator, ledger_config, rsps):  # noqa: F811
    config = ledger_config("freshbooks")
    rsps.get(f"{FRESHBOOKS_ACCOUNT}/expenses/categories", json=fixture("freshbooks", "categories"))
    rsps.get(f"{FRESHBOOKS_ACCOUNT}/users/staffs", json=fixture("freshbooks", "staffs"))
    rsps.get("https://api.freshbooks.com/auth/api/v1/users/me", json=fixture("freshbooks", "users_me"))

    page = operator.get(change_url(config)).content.decode()

    assert "Software and Technology" in options(page, "category_id").values()
    assert any("@" in label for label in options(page, "staff_id").values())


def test_a_ledger_that_cannot_be_read_leaves_a_text_box_with_the_reason(operator, ledger_config, rsps):  # noqa: F811
    config = ledger_config("xero", expense_account_code="463")
    rsps.get(f"{XERO_API}/Organisation", json=fixture("xero", "organisation"))
    rsps.get(f"{XERO_API}/Contacts", status=503)  # Xero is down
    rsps.get(f"{XERO_API}/Accounts", status=503)

    response = operator.get(change_url(config))

    page = response.content.decode()
    assert response.status_code == 200
    box = re.search(r'<input type="text" name="setting__expense_account_code"[^>]*>', page)
    assert box and 'value="463"' in box.group(0)  # the stored code, typed in as before
    assert "Could not read the choices from Xero (" in page and "type the value." in page
    assert '<select name="setting__expense_account_code"' not in page


def test_the_ledgers_lists_are_read_once_then_cached_until_refresh_is_asked(operator, ledger_config, rsps):  # noqa: F811
    config = ledger_config("xero")
    calls = the_xero_org(rsps)

    operator.get(change_url(config))
    operator.get(change_url(config))
    assert calls["accounts"].call_count == 1

    operator.get(change_url(config) + "?refresh_choices=1")
    assert calls["accounts"].call_count == 2


def test_a_stored_record_the_ledger_no_longer_holds_stays_chosen_and_says_so(operator, ledger_config, rsps):  # noqa: F811
    config = ledger_config("xero", expense_account_code="461")  # archived since it was chosen
    the_xero_org(rsps)
    page = operator.get(change_url(config)).content.decode()
    assert options(page, "expense_account_code")["461"] == "461 (not in Xero any more)"
    assert re.search(r'<option value="461" selected>', page)


def test_view_only_staff_see_the_settings_without_a_vendor_read(client, ledger_config, rsps):
    config = ledger_config("xero", expense_account_code="463")
    rsps.get(f"{XERO_API}/Organisation", json=fixture("xero", "organisation"))
    accounts = rsps.get(f"{XERO_API}/Accounts", json=fixture("xero", "accounts"))
    client.force_login(staff("vic", "view_accountingconfig"))
    page = client.get(change_url(config)).content.decode()
    assert "463" in page and 'name="setting__' not in page
    assert accounts.call_count == 0
    assert FAMILY.config_model.objects.get(pk=config.pk).settings["expense_account_code"] == "463"
