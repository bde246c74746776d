"""The nightly reconciliation (accounting/reconcile.py) and the VAT registration threshold watch
(accounting/threshold.py): documents read back and compared, staff told of a difference, a
voided or deleted document, or an export unconfirmed after a day; turnover read from the ledger."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import responses

from accounting import sandbox as ledgers
from accounting.models import ExportState, MonthlyExport
from accounting.providers.quickbooks import API as QBO_API
from accounting.providers.xero import API as XERO_API
from accounting.reconcile import reconcile_all
from accounting.threshold import watch_all
from wedsync_integrations.integrations.models import ConfigStatus

from .conftest import NOW, fixture, queue_frozen

pytestmark = pytest.mark.django_db
COMPANY = f"{QBO_API}/v3/company/{ledgers.QBO_REALM}"
QBO_MAPPINGS = {"vendor_id": "56", "expense_account_id": "78", "ap_account_id": "33", "tax_code_id": "2"}
D = Decimal


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def sent_bill(ledger_config, **fields):
    config = ledger_config("quickbooks")
    export, _ = queue_frozen(config, QBO_MAPPINGS)
    fields = {"vendor_entity_type": "Bill", "vendor_entity_id": "145", "state": ExportState.SENT, **fields}
    MonthlyExport.objects.filter(pk=export.pk).update(**fields)
    export.refresh_from_db()
    return export


def test_a_bill_that_matches_is_confirmed(rsps, ledger_config, notices):
    export = sent_bill(ledger_config)
    rsps.get(f"{COMPANY}/bill/145", json=fixture("quickbooks", "bill_created"))
    assert reconcile_all(now=NOW)["confirmed"] == 1
    export.refresh_from_db()
    assert export.state == ExportState.CONFIRMED and export.vendor_state["total"] == "23.68"
    assert f"accounting:unconfirmed:{export.pk}" in notices.cleared


def test_a_different_total_in_the_ledger_is_a_mismatch_and_staff_are_told(rsps, ledger_config, notices):
    export = sent_bill(ledger_config)
    bill = fixture("quickbooks", "bill_created")
    bill["Bill"]["Line"][0]["Amount"] = 97.30  # someone edited it in QuickBooks
    rsps.get(f"{COMPANY}/bill/145", json=bill)
    reconcile_all(now=NOW)
    export.refresh_from_db()
    assert export.state == ExportState.MISMATCH
    assert "its lines total £97.30 where £19.73 was sent" in export.state_reason
    (notice,) = notices
    assert notice.key == f"accounting:mismatch:{export.pk}" and notice.severity == "high"


def test_a_deleted_bill_is_voided_and_staff_are_told(rsps, ledger_config, notices):
    export = sent_bill(ledger_config)
    rsps.get(f"{COMPANY}/bill/145", status=400, json=fixture("quickbooks", "fault_not_found"))
    assert reconcile_all(now=NOW)["voided"] == 1
    export.refresh_from_db()
    assert export.state == ExportState.VOIDED
    assert [n.key for n in notices] == [f"accounting:voided:{export.pk}"]


def test_an_export_unconfirmed_after_a_day_tells_staff(rsps, ledger_config, notices):
    export = sent_bill(ledger_config, vendor_entity_id="", state=ExportState.QUEUED)
    MonthlyExport.objects.filter(pk=export.pk).update(created_at=NOW - timedelta(hours=25))
    counts = reconcile_all(now=NOW)
    assert counts["unconfirmed"] == 1
    (notice,) = notices
    assert notice.key == f"accounting:unconfirmed:{export.pk}"
    assert "not confirmed by quickbooks after 25 h" in notice.title


def test_a_ledger_that_cannot_be_read_never_stops_the_others(rsps, ledger_config, make_config, make_organisation):
    export = sent_bill(ledger_config)
    rsps.get(f"{COMPANY}/bill/145", status=503, body="down")
    from tests.kernel.credential_providers import fresh_credential

    from .conftest import CLIENT, xero_settings

    xero = make_config("accounting", make_organisation(), "xero", settings=xero_settings(), secrets=dict(CLIENT),
                       credential=fresh_credential())  # fmt: skip
    theirs, _ = queue_frozen(xero, {"contact_id": ledgers.XERO_CONTACT_WEDSYNC, "expense_account_code": "463",
                                    "tax_type": "INPUT2"})  # fmt: skip
    invoice = "243216c5-369e-4056-ac67-05388f86dc81"
    MonthlyExport.objects.filter(pk=theirs.pk).update(vendor_entity_type="Invoice", state=ExportState.SENT,
                                                      vendor_entity_id=invoice)  # fmt: skip
    rsps.get(f"{XERO_API}/Invoices/243216c5-369e-4056-ac67-05388f86dc81", json=fixture("xero", "invoices_created"))
    counts = reconcile_all(now=NOW)
    assert (counts["unreadable"], counts["confirmed"]) == (1, 1)
    export.refresh_from_db()
    assert export.state == ExportState.SENT  # unchanged: it will be read again tomorrow


# -- VAT registration threshold ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "income, severity",
    [("71000.00", None), ("72000.00", "medium"), ("90000.00", "high")],
    ids=["below-80-percent", "at-80-percent", "at-the-threshold"],
)
def test_an_unregistered_organisation_is_warned_at_80_and_100_percent_of_90000(rsps, ledger_config, notices, income,
                                                                               severity):  # fmt: skip
    ledger_config("xero", vat_registered=False)
    report = fixture("xero", "profit_and_loss")
    trading = report["Reports"][0]["Rows"][1]["Rows"][-1]["Cells"][1]
    trading["Value"] = income
    rsps.get(f"{XERO_API}/Reports/ProfitAndLoss", json=report)
    assert watch_all(now=NOW) == 1
    raised, cleared = notices, notices.cleared
    if severity is None:
        assert not raised and cleared == ["accounting:vat-threshold"]
    else:
        (notice,) = raised
        assert notice.key == "accounting:vat-threshold" and notice.severity == severity
        assert f"£{D(income):,}" in notice.description and "£90,000 threshold" in notice.description


def test_reverse_charged_overseas_ai_services_count_towards_the_turnover(rsps, ledger_config, notices):
    config = ledger_config("xero", vat_registered=False, supply="overseas_provider",
                           contact_id=ledgers.XERO_CONTACT_OPENAI)  # fmt: skip
    export, _ = queue_frozen(config, {"contact_id": ledgers.XERO_CONTACT_OPENAI, "expense_account_code": "463",
                                      "tax_type": "NONE"})  # fmt: skip
    MonthlyExport.objects.filter(pk=export.pk).update(net_gbp=D("2000.00"))
    report = fixture("xero", "profit_and_loss")
    report["Reports"][0]["Rows"][1]["Rows"][-1]["Cells"][1]["Value"] = "70000.00"  # 77.8 % alone
    rsps.get(f"{XERO_API}/Reports/ProfitAndLoss", json=report)
    watch_all(now=NOW)
    (notice,) = notices
    assert notice.details["overseas_services"] == "2000.00" and notice.details["percent"] == "80.00"


def test_a_registered_organisation_is_not_watched(rsps, ledger_config, notices):
    ledger_config("quickbooks", vat_registered=True)
    assert watch_all(now=NOW) == 0 and not rsps.calls
    assert notices.cleared == ["accounting:vat-threshold"]


def test_a_stopped_configuration_is_not_read(rsps, ledger_config):
    config = ledger_config("xero", vat_registered=False)
    config.stop("reconnect needed")
    assert config.status == ConfigStatus.STOPPED
    assert watch_all(now=NOW) == 0 and not rsps.calls
