"""QuickBooks Online: the exact requests (docs/vendors/quickbooks.md) against recorded payloads, the
three VAT cases, retries that never post twice, ledger mappings read from the company, connecting."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.utils import timezone
from responses import matchers

from accounting import sandbox as ledgers
from accounting.exporter import export_months
from accounting.models import ExportState, MonthlyExport
from accounting.providers.quickbooks import API, TOKEN_URL
from tests.contract import ProviderContract
from tests.kernel.credential_providers import expired_credential
from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.credentials import IssuedToken
from wedsync_integrations.integrations.models import ConfigStatus, RetryState
from wedsync_integrations.integrations.registry import get_family

from .conftest import CLIENT, NOW, fixture, qbo_settings, queue_frozen

pytestmark = pytest.mark.django_db

COMPANY = f"{API}/v3/company/{ledgers.QBO_REALM}"
BILL = re.compile(re.escape(f"{COMPANY}/bill") + r"(\?.*)?$")
QUERY = f"{COMPANY}/query"
MAPPINGS = {"vendor_id": "56", "expense_account_id": "78", "ap_account_id": "33", "tax_code_id": "2"}
D = Decimal


def query(rsps, statement: str, body: dict) -> None:
    rsps.get(QUERY, json=body, match=[matchers.query_param_matcher({"query": statement, "minorversion": "75"})])


def the_ledger(rsps, *, vendors=None, codes=None) -> None:
    """The company's records as its query endpoint returns them (recorded payloads)."""
    query(rsps, "select * from Account where Active = true maxresults 1000", fixture("quickbooks", "query_account"))
    vendors = vendors or fixture("quickbooks", "query_vendor")
    query(rsps, "select * from Vendor where Active = true maxresults 1000", vendors)
    query(rsps, "select * from TaxRate maxresults 1000", fixture("quickbooks", "query_taxrate"))
    codes = codes or fixture("quickbooks", "query_taxcode")
    query(rsps, "select * from TaxCode where Active = true maxresults 1000", codes)


def november(add_usage, organisation, provider="openai"):
    """Three requests in November 2026 costing £19.73 together (6.576667 + 6.576667 + 6.576666)."""
    at = datetime(2026, 11, 14, 10, tzinfo=UTC)
    costs = ["6.576667", "6.576667", "6.576666"]
    add_usage(organisation, [(at + timedelta(minutes=i), provider, "email_template", "8.33", gbp)
                             for i, gbp in enumerate(costs)])  # fmt: skip


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def posted(rsps) -> list:
    return [call for call in rsps.calls if call.request.method == "POST" and "/bill" in call.request.url]


# -- the kernel's contract ---------------------------------------------------------------------------------------
class TestQuickBooksContract(ProviderContract):
    family, provider = "accounting", "quickbooks"
    write_url, token_url = BILL, TOKEN_URL

    def make(self, organisation, make_config):
        from tests.kernel.credential_providers import fresh_credential

        return make_config("accounting", organisation, "quickbooks", settings=qbo_settings(), secrets=dict(CLIENT),
                           credential=fresh_credential())  # fmt: skip

    def enqueue(self, config):
        return queue_frozen(config, MAPPINGS)[1]

    def mock_success(self, rsps):
        rsps.post(BILL, json=fixture("quickbooks", "bill_created"))
        rsps.get(QUERY, json=fixture("quickbooks", "query_empty"))  # a retry looks for the number first

    def mock_health(self, rsps, ok):
        url = f"{COMPANY}/companyinfo/{ledgers.QBO_REALM}"
        if ok:
            rsps.get(url, json=fixture("quickbooks", "companyinfo"))
        else:
            rsps.get(url, status=403, json={"Fault": {"Error": [{"Message": "AuthorizationFailure", "code": "120"}],
                                                      "type": "AuthorizationFault"}})  # fmt: skip


# -- the request, exactly --------------------------------------------------------------------------------------------
def test_month_end_posts_one_bill_exactly_as_quickbooks_documents(rsps, ledger_config, add_usage, organisation):
    config = ledger_config("quickbooks")
    november(add_usage, organisation)
    the_ledger(rsps)
    rsps.post(BILL, json=fixture("quickbooks", "bill_created"))

    result = export_months(config, now=NOW)

    assert (result.queued, result.delivered, result.failed) == (1, 1, 0)
    (call,) = posted(rsps)
    url = urlsplit(call.request.url)
    assert url.path == f"/v3/company/{ledgers.QBO_REALM}/bill"
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    export = MonthlyExport.objects.get()
    assert params == {"minorversion": "75", "requestid": export.document["idempotency_key"]}
    assert re.fullmatch(rf"wsi-quickbooks-{export.pk}-[0-9a-f]{{16}}", params["requestid"])
    assert len(params["requestid"]) <= 50
    assert call.request.headers["Authorization"] == "Bearer fresh-access"
    assert call.request.headers["Accept"] == "application/json"
    assert json.loads(call.request.body) == {
        "VendorRef": {"value": "56"},
        "APAccountRef": {"value": "33"},
        "TxnDate": "2026-11-30",
        "DueDate": "2026-12-14",
        "DocNumber": f"WS-2611-{organisation.pk:06d}",
        "PrivateNote": f"WedSync AI usage November 2026 (WS-2611-{organisation.pk:06d})",
        "CurrencyRef": {"value": "GBP"},
        "GlobalTaxCalculation": "TaxExcluded",
        "TxnTaxDetail": {"TotalTax": 3.95},
        "Line": [{
            "DetailType": "AccountBasedExpenseLineDetail", "Amount": 19.73,
            "Description": "AI usage November 2026: OpenAI (3 requests)",
            "AccountBasedExpenseLineDetail": {"AccountRef": {"value": "78"}, "TaxCodeRef": {"value": "2"}},
        }],
    }  # fmt: skip
    assert len(export.reference) <= 21
    assert (export.state, export.vendor_entity_type, export.vendor_entity_id, export.vendor_sync_token) == (
        ExportState.SENT,
        "Bill",
        "145",
        "0",
    )
    item = get_family("accounting").retry_model.objects.get()
    assert item.result["entity_id"] == "145" and item.result["entity_type"] == "Bill"


@pytest.mark.parametrize(
    "settings, code, calculation, amount, tax",
    [
        ({"vat_registered": True, "supply": "wedsync"}, "2", "TaxExcluded", 19.73, {"TotalTax": 3.95}),
        ({"vat_registered": True, "supply": "overseas_provider", "vendor_id": "57"}, "8", "TaxExcluded", 19.73, None),
        ({"vat_registered": False, "supply": "wedsync"}, None, "NotApplicable", 23.68, None),
    ],
    ids=["standard", "reverse-charge", "not-registered"],
)
def test_the_three_vat_cases_carry_the_right_code_and_amounts(rsps, ledger_config, add_usage, organisation, settings,
                                                              code, calculation, amount, tax):  # fmt: skip
    config = ledger_config("quickbooks", **settings)
    november(add_usage, organisation)
    the_ledger(rsps)
    rsps.post(BILL, json=fixture("quickbooks", "bill_created"))
    export_months(config, now=NOW)
    body = json.loads(posted(rsps)[0].request.body)
    (line,) = body["Line"]
    assert body["GlobalTaxCalculation"] == calculation and line["Amount"] == amount
    assert line["AccountBasedExpenseLineDetail"].get("TaxCodeRef") == ({"value": code} if code else None)
    assert body.get("TxnTaxDetail") == tax
    assert body["VendorRef"] == {"value": settings.get("vendor_id", "56")}
    if settings["supply"] == "overseas_provider":
        assert "reverse charge: account for VAT of £3.95 in Box 1 and Box 4" in body["PrivateNote"]


def test_the_standard_code_is_matched_by_rate_when_the_company_renamed_it(rsps, ledger_config):
    config = ledger_config("quickbooks")
    codes = fixture("quickbooks", "query_taxcode")
    codes["QueryResponse"]["TaxCode"][0]["Name"] = "Standard 20%"
    the_ledger(rsps, codes=codes)
    assert config.get_provider().ledger_mappings(config.get_provider().treatment())["tax_code_id"] == "2"


def test_no_supplier_chosen_and_none_by_that_name_stops_the_configuration_and_keeps_the_document(
    rsps, ledger_config, add_usage, organisation
):
    config = ledger_config("quickbooks")
    november(add_usage, organisation)
    the_ledger(rsps, vendors=fixture("quickbooks", "query_empty"))

    result = export_months(config, now=NOW)

    config.refresh_from_db()
    assert result.failed == 1 and config.status == ConfigStatus.STOPPED
    assert "no supplier (Vendor) chosen" in config.status_reason and "Ledger mappings" in config.status_reason
    item = get_family("accounting").retry_model.objects.get()
    assert item.state == RetryState.PENDING and not posted(rsps)  # kept for "resume", nothing sent


# -- retries never post twice ---------------------------------------------------------------------------------------
def test_a_retry_after_a_500_sends_the_same_requestid_and_creates_one_bill(rsps, ledger_config):
    config = ledger_config("quickbooks")
    export, item = queue_frozen(config, MAPPINGS)
    rsps.post(BILL, status=500, json={"Fault": {"Error": [{"Message": "Internal error", "code": "500"}]}})
    rsps.post(BILL, json=fixture("quickbooks", "bill_created"))
    lookup = rsps.get(QUERY, json=fixture("quickbooks", "query_empty"), match=[matchers.query_param_matcher(
        {"query": f"select * from Bill where DocNumber = '{export.reference}'", "minorversion": "75"})])  # fmt: skip

    family = get_family("accounting")
    assert outbox.deliver_item(family, item).state == RetryState.PENDING
    outbox.replay([item])

    first, second = posted(rsps)
    assert parse_qs(urlsplit(first.request.url).query)["requestid"] == parse_qs(urlsplit(second.request.url).query)[
        "requestid"]  # fmt: skip
    assert first.request.body == second.request.body
    assert lookup.call_count == 1  # looked for the number before sending again
    item.refresh_from_db()
    export.refresh_from_db()
    assert item.state == RetryState.SUCCEEDED and export.vendor_entity_id == "145"


def test_a_retry_finding_the_bill_already_there_does_not_post_it_again(rsps, ledger_config):
    config = ledger_config("quickbooks")
    export, item = queue_frozen(config, MAPPINGS)
    rsps.post(BILL, body=ConnectionResetError("the answer was lost"))
    existing = {"QueryResponse": {"Bill": [fixture("quickbooks", "bill_created")["Bill"]], "startPosition": 1}}
    rsps.get(QUERY, json=existing)

    family = get_family("accounting")
    outbox.deliver_item(family, item)
    outbox.replay([item])

    assert len(posted(rsps)) == 1
    export.refresh_from_db()
    assert export.vendor_entity_id == "145" and "found in the ledger" in export.state_reason


def test_a_taken_document_number_is_recognised_as_our_own_bill(rsps, ledger_config):
    config = ledger_config("quickbooks")
    export, item = queue_frozen(config, MAPPINGS)
    rsps.post(BILL, status=400, json=fixture("quickbooks", "fault_duplicate_docnumber"))
    rsps.get(QUERY, json={"QueryResponse": {"Bill": [fixture("quickbooks", "bill_created")["Bill"]]}})
    assert outbox.deliver_item(get_family("accounting"), item).state == RetryState.SUCCEEDED
    export.refresh_from_db()
    assert export.vendor_entity_id == "145"


def test_a_fault_inside_an_http_200_is_a_failure_not_a_success(rsps, ledger_config):
    config = ledger_config("quickbooks")
    _, item = queue_frozen(config, MAPPINGS)
    rsps.post(BILL, status=200, json=fixture("quickbooks", "fault_validation"))
    outcome = outbox.deliver_item(get_family("accounting"), item)
    assert outcome.state == RetryState.DEAD
    assert "QuickBooks refused it (6000)" in outcome.error and "VAT rate" in outcome.error


# -- connecting and tokens -------------------------------------------------------------------------------------------
def test_connecting_names_the_company_from_the_realm_on_the_redirect(rsps, ledger_config):
    config = ledger_config("quickbooks", realm_id=None)
    config.settings.pop("realm_id")
    config.save()
    rsps.get(f"{API}/v3/company/4620816365169237100/companyinfo/4620816365169237100",
             json=fixture("quickbooks", "companyinfo"))  # fmt: skip
    provider = config.get_provider()
    account = provider.connected_account(IssuedToken("fresh-access"), {"realmId": "4620816365169237100"})
    assert (account.id, account.name, account.settings) == (
        "4620816365169237100",
        "Cotswold Lens Photography Ltd",
        {"realm_id": "4620816365169237100"},
    )


def test_a_token_quickbooks_rotates_is_stored_and_used_on_the_next_renewal(rsps, ledger_config):
    config = ledger_config("quickbooks", credential=expired_credential(refresh="rt-before"))
    token = fixture("quickbooks", "token")
    rsps.post(TOKEN_URL, json=token)
    config.get_provider().credential_manager.current()
    config.refresh_from_db()
    assert config.credential["refresh_token"] == token["refresh_token"]
    sent = parse_qs(rsps.calls[0].request.body)
    assert sent == {"grant_type": ["refresh_token"], "refresh_token": ["rt-before"]}
    assert rsps.calls[0].request.headers["Authorization"].startswith("Basic ")  # client_secret_basic
    config.credential = {**config.credential, "expires_at": (timezone.now() - timedelta(minutes=5)).isoformat()}
    config.save()
    rsps.post(TOKEN_URL, json={**token, "access_token": "second"})
    config.get_provider().credential_manager.current()
    assert parse_qs(rsps.calls[1].request.body)["refresh_token"] == [token["refresh_token"]]


def test_the_profit_and_loss_income_is_the_taxable_turnover(rsps, ledger_config):
    config = ledger_config("quickbooks")
    period = {"start_date": "2025-12-01", "end_date": "2026-11-30", "minorversion": "75"}
    rsps.get(f"{COMPANY}/reports/ProfitAndLoss", json=fixture("quickbooks", "profit_and_loss"),
             match=[matchers.query_param_matcher(period)])  # fmt: skip
    first, last = date(2025, 12, 1), date(2026, 11, 30)
    assert config.get_provider().taxable_turnover(first, last) == D("74000.00")
