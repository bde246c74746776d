"""The accounting admin as an operations console: ledger mappings chosen from what the ledger holds
now, each month's report and the document as it will be sent (a preview that writes nothing) or as
it was sent, "export now", "replay", "check at the vendor", and who may do which."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import responses
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from freezegun import freeze_time
from responses import matchers

from accounting import sandbox as ledgers
from accounting.family import FAMILY
from accounting.models import ExportState, MonthlyExport
from accounting.providers.quickbooks import API
from wedsync_integrations.integrations.models import RetryState

from .conftest import NOW, fixture, queue_frozen

pytestmark = pytest.mark.django_db
COMPANY = f"{API}/v3/company/{ledgers.QBO_REALM}"
NOV = datetime(2026, 11, 14, 10, tzinfo=UTC)


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


LEDGER = (
    ("select * from Account where Active = true maxresults 1000", "query_account"),
    ("select * from Vendor where Active = true maxresults 1000", "query_vendor"),
    ("select * from TaxRate maxresults 1000", "query_taxrate"),
    ("select * from TaxCode where Active = true maxresults 1000", "query_taxcode"),
)


def the_ledger(rsps) -> None:
    for statement, name in LEDGER:
        rsps.get(f"{COMPANY}/query", json=fixture("quickbooks", name),
                 match=[matchers.query_param_matcher({"query": statement, "minorversion": "75"})])  # fmt: skip


def staff(username: str, *codenames: str) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="accounting", codename__in=codenames))
    return user


@pytest.fixture
def viewer(db):
    client = Client()
    client.force_login(staff("vera", "view_accountingconfig", "view_monthlyexport"))
    return client


@pytest.fixture
def operator(client):
    client.force_login(staff("otto", "view_accountingconfig", "change_accountingconfig", "view_monthlyexport"))
    return client


def test_the_change_page_links_the_months_and_the_mappings_beside_connect(operator, ledger_config, rsps):
    config = ledger_config("quickbooks")
    rsps.get(f"{COMPANY}/companyinfo/{ledgers.QBO_REALM}", json=fixture("quickbooks", "companyinfo"))
    page = operator.get(reverse("admin:accounting_accountingconfig_change", args=[config.pk])).content.decode()
    assert "Months: reports and documents" in page and "Ledger mappings" in page and "Connect to QuickBooks" in page
    assert "connected to Cotswold Lens Photography Ltd" in page  # the live health check


def test_ledger_mappings_offer_the_ledgers_live_records_and_save_the_choice(operator, ledger_config, rsps):
    config = ledger_config("quickbooks")
    the_ledger(rsps)
    url = reverse("admin:accounting_accountingconfig_mappings", args=[config.pk])
    page = operator.get(url).content.decode()
    assert "WedSync AI Services" in page and "Software and Technology" in page
    assert "20.0% RC SG (purchases 20%)" in page and "— not chosen: match by name when exporting —" in page

    response = operator.post(url, {"vendor_id": "57", "expense_account_id": "78", "ap_account_id": "",
                                   "payment_account_id": "", "tax_code_id": "8"})  # fmt: skip

    assert response.status_code == 302
    config.refresh_from_db()
    assert (config.settings["vendor_id"], config.settings["tax_code_id"]) == ("57", "8")
    entry = FAMILY.audit_model.objects.get(action="ledger_mappings")
    assert entry.actor == "admin:otto" and entry.changes == {"settings": ["expense_account_id", "tax_code_id",
                                                                          "vendor_id"]}  # fmt: skip


def test_a_record_not_in_the_ledger_is_refused(operator, ledger_config, rsps):
    config = ledger_config("quickbooks")
    the_ledger(rsps)
    url = reverse("admin:accounting_accountingconfig_mappings", args=[config.pk])
    page = operator.post(url, {"vendor_id": "999"}).content.decode()
    assert "Select a valid choice" in page
    config.refresh_from_db()
    assert "vendor_id" not in config.settings


def test_view_only_staff_see_the_mappings_but_cannot_change_them(viewer, ledger_config, rsps):
    config = ledger_config("quickbooks")
    the_ledger(rsps)
    url = reverse("admin:accounting_accountingconfig_mappings", args=[config.pk])
    assert "Save mappings" not in viewer.get(url).content.decode()
    assert viewer.post(url, {"vendor_id": "57"}).status_code == 403


@freeze_time(NOW)
def test_the_month_page_shows_the_report_and_the_document_as_it_will_be_sent_writing_nothing(
    operator, ledger_config, add_usage, organisation, rsps
):
    config = ledger_config("quickbooks")
    add_usage(organisation, [(NOV, "openai", "email_template", "8.33", "6.576667"),
                             (NOV, "anthropic", "contract_generation", "1.05", "0.830000")])  # fmt: skip
    the_ledger(rsps)
    page = operator.get(reverse("admin:accounting_accountingconfig_month", args=[config.pk, "2026-11"]))
    html = page.content.decode()
    assert "Cost report: November 2026" in html and "£7.406667" in html
    assert f"WS-2611-{organisation.pk:06d}" in html and "Ready to export" in html
    assert "AI usage November 2026: OpenAI (1 requests)" in html and "£6.58" in html and "£1.32" in html
    assert "&quot;GlobalTaxCalculation&quot;: &quot;TaxExcluded&quot;" in html  # the payload itself
    assert not MonthlyExport.objects.exists() and not FAMILY.retry_model.objects.exists()
    assert not [call for call in rsps.calls if call.request.method == "POST"]


@freeze_time(NOW)
def test_export_now_sends_a_closed_month_and_refuses_an_open_one(operator, ledger_config, add_usage, organisation,
                                                                 rsps):  # fmt: skip
    config = ledger_config("quickbooks")
    add_usage(organisation, [(NOV, "openai", "email_template", "8.33", "6.576667")])
    the_ledger(rsps)
    rsps.post(f"{COMPANY}/bill", json=fixture("quickbooks", "bill_created"))
    december = reverse("admin:accounting_accountingconfig_month", args=[config.pk, "2026-12"])
    response = operator.post(december, {"action": "export"}, follow=True)
    assert "December 2026 is not closed yet" in response.content.decode()
    november = reverse("admin:accounting_accountingconfig_month", args=[config.pk, "2026-11"])
    response = operator.post(november, {"action": "export"}, follow=True)
    assert "November 2026: export; queued 1, delivered 1, failed 0." in response.content.decode()
    assert MonthlyExport.objects.get().state == ExportState.SENT
    assert FAMILY.audit_model.objects.filter(action="export_now", actor="admin:otto").exists()


def test_replay_sends_a_failed_document_again(operator, ledger_config, rsps):
    config = ledger_config("quickbooks")
    export, item = queue_frozen(config, {"vendor_id": "56", "expense_account_id": "78", "tax_code_id": "2"})
    FAMILY.retry_model.objects.filter(pk=item.pk).update(state=RetryState.DEAD)
    MonthlyExport.objects.filter(pk=export.pk).update(state=ExportState.FAILED)
    rsps.post(f"{COMPANY}/bill", json=fixture("quickbooks", "bill_created"))
    rsps.get(f"{COMPANY}/query", json=fixture("quickbooks", "query_empty"))
    url = reverse("admin:accounting_accountingconfig_month", args=[config.pk, "2026-11"])
    response = operator.post(url, {"action": "replay"}, follow=True)
    assert "Replayed 1 document(s): succeeded 1" in response.content.decode()
    export.refresh_from_db()
    assert export.state == ExportState.SENT and export.vendor_entity_id == "145"


def test_the_export_page_shows_what_was_sent_and_offers_the_actions_only_to_who_may(viewer, operator, ledger_config,
                                                                                     rsps):  # fmt: skip
    config = ledger_config("quickbooks")
    export, _ = queue_frozen(config, {"vendor_id": "56", "expense_account_id": "78", "tax_code_id": "2"})
    change = reverse("admin:accounting_monthlyexport_change", args=[export.pk])
    html = operator.get(change).content.decode()
    assert "Document as sent to the vendor" in html and "&quot;DocNumber&quot;" in html and "£19.73" in html
    changelist = reverse("admin:accounting_monthlyexport_changelist")
    actions = operator.get(changelist).context["action_form"].fields["action"].choices
    assert {"replay", "check_at_vendor"} <= {name for name, _ in actions}
    assert viewer.get(changelist).context["action_form"] is None  # view-only staff are offered no action


def test_check_at_the_vendor_reads_the_document_back(operator, ledger_config, rsps):
    config = ledger_config("quickbooks")
    export, _ = queue_frozen(config, {"vendor_id": "56", "expense_account_id": "78", "tax_code_id": "2"})
    MonthlyExport.objects.filter(pk=export.pk).update(vendor_entity_type="Bill", vendor_entity_id="145",
                                                      state=ExportState.SENT)  # fmt: skip
    rsps.get(f"{COMPANY}/bill/145", json=fixture("quickbooks", "bill_created"))
    response = operator.post(reverse("admin:accounting_monthlyexport_changelist"),
                             {"action": "check_at_vendor", "_selected_action": [export.pk]}, follow=True)  # fmt: skip
    assert f"{export.reference}: Confirmed by the vendor" in response.content.decode()


def test_the_months_page_lists_every_month_from_the_first(viewer, ledger_config):
    config = ledger_config("quickbooks", first_month="2026-09")
    with freeze_time(NOW + timedelta(days=1)):
        html = viewer.get(reverse("admin:accounting_accountingconfig_months", args=[config.pk])).content.decode()
    for month in ("September 2026", "October 2026", "November 2026", "December 2026"):
        assert month in html
    assert "3 Jan 2027" in html  # December closes then
