"""FreshBooks: the exact requests (docs/vendors/freshbooks.md) against recorded payloads, the three
VAT cases, no idempotency key so a search for the notes marker before posting again, the identity
endpoint for connecting, single-use refresh tokens."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.utils import timezone
from responses import matchers

from accounting import sandbox as ledgers
from accounting.exporter import export_months
from accounting.models import MonthlyExport
from accounting.providers.freshbooks import API, TOKEN_URL
from tests.contract import ProviderContract
from tests.kernel.credential_providers import expired_credential, fresh_credential
from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.credentials import IssuedToken
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.registry import get_family

from .conftest import CLIENT, NOW, fixture, freshbooks_settings, queue_frozen

pytestmark = pytest.mark.django_db

ACCOUNT = f"{API}/accounting/account/{ledgers.FRESHBOOKS_ACCOUNT}"
EXPENSES = f"{ACCOUNT}/expenses/expenses"
ME = f"{API}/auth/api/v1/users/me"
MAPPINGS = {"category_id": 2003174, "staff_id": 1, "tax_name": "VAT"}


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def the_business(rsps) -> None:
    rsps.get(f"{ACCOUNT}/expenses/categories", json=fixture("freshbooks", "categories"))
    rsps.get(f"{ACCOUNT}/users/staffs", json=fixture("freshbooks", "staffs"))
    rsps.get(f"{ACCOUNT}/taxes/taxes", json=fixture("freshbooks", "taxes"))
    rsps.get(ME, json=fixture("freshbooks", "users_me"))


def november(add_usage, organisation):
    at = datetime(2026, 11, 14, 10, tzinfo=UTC)
    add_usage(organisation, [(at + timedelta(minutes=i), "openai", "email_template", "8.33", gbp)
                             for i, gbp in enumerate(["6.576667", "6.576667", "6.576666"])])  # fmt: skip


def posts(rsps) -> list:
    return [call for call in rsps.calls if call.request.method == "POST" and call.request.url.startswith(EXPENSES)]


class TestFreshBooksContract(ProviderContract):
    family, provider = "accounting", "freshbooks"
    write_url, token_url = EXPENSES, TOKEN_URL

    def make(self, organisation, make_config):
        return make_config("accounting", organisation, "freshbooks", settings=freshbooks_settings(),
                           secrets=dict(CLIENT), credential=fresh_credential())  # fmt: skip

    def enqueue(self, config):
        return queue_frozen(config, MAPPINGS)[1]

    def mock_success(self, rsps):
        rsps.post(EXPENSES, json=fixture("freshbooks", "expense_created"))
        rsps.get(re.compile(re.escape(EXPENSES) + r"\?.*"), json=fixture("freshbooks", "expenses_empty"))

    def mock_health(self, rsps, ok):
        if ok:
            rsps.get(ME, json=fixture("freshbooks", "users_me"))
        else:
            rsps.get(ME, status=403, json={"error": "forbidden"})


def test_month_end_posts_one_expense_exactly_as_freshbooks_documents(rsps, ledger_config, add_usage, organisation):
    config = ledger_config("freshbooks")
    november(add_usage, organisation)
    the_business(rsps)
    rsps.post(EXPENSES, json=fixture("freshbooks", "expense_created"))

    assert export_months(config, now=NOW).delivered == 1

    (call,) = posts(rsps)
    export = MonthlyExport.objects.get()
    reference = f"WS-2611-{organisation.pk:06d}"
    assert call.request.headers["Authorization"] == "Bearer fresh-access"
    assert json.loads(call.request.body) == {"expense": {
        "amount": {"amount": "23.68", "code": "GBP"},
        "categoryid": 2003174,
        "staffid": 1,  # the staff member whose email is the connected identity's
        "date": "2026-11-30",
        "vendor": "WedSync AI Services",
        "notes": f"[{reference}] WedSync AI usage November 2026 ({reference})\n"
                 "- AI usage November 2026: OpenAI (3 requests): net £19.73, VAT £3.95, gross £23.68\n"
                 f"http://127.0.0.1:8000/admin/accounting/monthlyexport/{export.pk}/change/",
        "taxName1": "VAT",
        "taxPercent1": 20,
        "taxAmount1": {"amount": "3.95", "code": "GBP"},
    }}  # fmt: skip
    assert (export.vendor_entity_type, export.vendor_entity_id, str(export.amount_sent_gbp)) == ("Expense", "9001",
                                                                                                 "23.68")  # fmt: skip


@pytest.mark.parametrize(
    "settings, amount, taxed, note",
    [
        ({"vat_registered": True, "supply": "wedsync"}, "23.68", True, ""),
        ({"vat_registered": True, "supply": "overseas_provider"}, "19.73", False, "records no reverse charge"),
        ({"vat_registered": False, "supply": "wedsync"}, "23.68", False, ""),
    ],
    ids=["standard", "reverse-charge", "not-registered"],
)
def test_the_three_vat_cases(rsps, ledger_config, add_usage, organisation, settings, amount, taxed, note):
    config = ledger_config("freshbooks", **settings)
    november(add_usage, organisation)
    the_business(rsps)
    rsps.post(EXPENSES, json=fixture("freshbooks", "expense_created"))
    export_months(config, now=NOW)
    expense = json.loads(posts(rsps)[0].request.body)["expense"]
    assert expense["amount"] == {"amount": amount, "code": "GBP"}
    assert ("taxAmount1" in expense) is taxed and ("taxName1" in expense) is taxed
    assert note in expense["notes"]
    if settings["supply"] == "overseas_provider":
        assert expense["vendor"] == "OpenAI" and "reverse charge: account for VAT of £3.95" in expense["notes"]


def test_no_idempotency_key_so_a_retry_searches_for_the_marker_and_does_not_post_twice(rsps, ledger_config):
    config = ledger_config("freshbooks")
    export, item = queue_frozen(config, MAPPINGS)
    rsps.post(EXPENSES, body=ConnectionResetError("answer lost"))
    created = fixture("freshbooks", "expense_created")["response"]["result"]["expense"]
    listing = {"response": {"result": {"expenses": [
        {**created, "expenseid": 8800, "id": 8800, "notes": "[WS-2611-999999] someone else's"},
        {**created, "notes": f"[{export.reference}] WedSync AI usage November 2026"},
    ], "page": 1, "pages": 1, "per_page": 100, "total": 2}}}  # fmt: skip
    search = rsps.get(EXPENSES, json=listing, match=[matchers.query_param_matcher(
        {"search[date_min]": "2026-11-30", "search[date_max]": "2026-11-30", "search[categoryid]": "2003174",
         "page": "1", "per_page": "100"})])  # fmt: skip

    outbox.deliver_item(get_family("accounting"), item)
    outbox.replay([item])

    assert search.call_count == 1 and len(posts(rsps)) == 1
    export.refresh_from_db()
    assert export.vendor_entity_id == "9001" and "found in the ledger" in export.state_reason


def test_a_retry_that_finds_nothing_posts_once_more(rsps, ledger_config):
    config = ledger_config("freshbooks")
    _, item = queue_frozen(config, MAPPINGS)
    rsps.post(EXPENSES, status=503, body="unavailable")
    rsps.post(EXPENSES, json=fixture("freshbooks", "expense_created"))
    rsps.get(re.compile(re.escape(EXPENSES) + r"\?.*"), json=fixture("freshbooks", "expenses_empty"))
    outbox.deliver_item(get_family("accounting"), item)
    outbox.replay([item])
    item.refresh_from_db()
    assert item.state == RetryState.SUCCEEDED and len(posts(rsps)) == 2


def test_a_refused_expense_names_the_field(rsps, ledger_config):
    config = ledger_config("freshbooks")
    _, item = queue_frozen(config, MAPPINGS)
    rsps.post(EXPENSES, status=422, json=fixture("freshbooks", "error_unprocessable"))
    outcome = outbox.deliver_item(get_family("accounting"), item)
    assert outcome.state == RetryState.DEAD and "Expense category not found" in outcome.error


def test_connecting_reads_the_businesses_from_the_identity_endpoint(rsps, ledger_config):
    config = ledger_config("freshbooks")
    rsps.get(ME, json=fixture("freshbooks", "users_me"))
    (account,) = config.get_provider().connected_account(IssuedToken("fresh-access"), {})
    assert (account.id, account.name, account.settings) == ("aBcD1", "Petal & Stem Florals", {"account_id": "aBcD1"})


def test_refresh_tokens_are_single_use_sent_in_the_form_body_and_the_next_one_is_kept(rsps, ledger_config):
    config = ledger_config("freshbooks", credential=expired_credential(refresh="rt-single-use"))
    token = fixture("freshbooks", "token")
    rsps.post(TOKEN_URL, json=token)
    config.get_provider().credential_manager.current()
    request = rsps.calls[0].request
    assert request.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert "Authorization" not in request.headers  # client_secret_post: the credentials are in the body
    assert parse_qs(request.body) == {
        "grant_type": ["refresh_token"], "refresh_token": ["rt-single-use"],
        "client_id": [CLIENT["client_id"]], "client_secret": [CLIENT["client_secret"]],
    }  # fmt: skip
    config.refresh_from_db()
    assert config.credential["refresh_token"] == token["refresh_token"]
    assert urlsplit(request.url).path == "/auth/oauth/token"
    assert config.credential_expires_at > timezone.now() + timedelta(hours=11)
