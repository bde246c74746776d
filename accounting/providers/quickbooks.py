"""QuickBooks Online: a Bill (or a Purchase) per month in the organisation's company
(docs/vendors/quickbooks.md).

- OAuth 2.0 authorization code (no PKCE), client authenticated with HTTP Basic at
  oauth.platform.intuit.com; the redirect names the company (`realmId`), whose name comes from
  `companyinfo`. QuickBooks may keep the refresh token or rotate it: the kernel stores whatever
  comes back, before use.
- `POST /v3/company/{realmId}/bill?minorversion=75&requestid=…`: `requestid` is derived from the
  export and its payload and is the same on every retry, so QuickBooks answers a repeat with the
  original response instead of a second bill. Because nobody documents how long it remembers,
  a retry after an earlier attempt also looks for the document number first.
- One `AccountBasedExpenseLineDetail` line per AI provider with the expense account and the VAT
  code; `GlobalTaxCalculation: TaxExcluded` (net amounts) with `TxnTaxDetail.TotalTax` set to the
  lines' VAT so QuickBooks records exactly our per-line figure; `NotApplicable` and no code when the
  organisation is not VAT registered (the gross is the expense). `DocNumber` ≤ 21 characters,
  `PrivateNote` the long WedSync reference. `Id` and `SyncToken` are stored.
- A `Fault` can come inside an HTTP 200: always checked. Limits: 500 requests a minute and 10 at
  once per company, enforced client-side across workers.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal

from django.conf import settings
from rest_framework import serializers

from wedsync_integrations.integrations.credentials import ConnectedAccount, OAuth2AuthorizationCode
from wedsync_integrations.integrations.errors import IntegrationError, PermanentError
from wedsync_integrations.integrations.ratelimit import RateLimit
from wedsync_integrations.integrations.registry import HealthResult

from ..family import FAMILY
from ..models import MonthlyExport, Treatment
from .base import (
    AccountingProvider,
    AccountingSecrets,
    AccountingSettings,
    Choice,
    MappingMissing,
    VendorDocument,
    decimal_or_none,
    document_field,
    json_number,
)

logger = logging.getLogger("wedsync.accounting.quickbooks")

API = "https://quickbooks.api.intuit.com"
AUTHORIZE_URL = "https://appcenter.intuit.com/connect/oauth2"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
SCOPES = ("com.intuit.quickbooks.accounting",)
DOCUMENTS = {"bill": "Bill (accounts payable, the default)", "purchase": "Purchase (paid by card)"}
ENTITIES = {"bill": "Bill", "purchase": "Purchase"}
QBO_ID = r"^\d{1,20}$"
NOT_FOUND = "610"  # object not found (deleted, or inactive)
DUPLICATE_DOC_NUMBER = "6140"
# the standard and reverse-charge codes QuickBooks UK creates (a company may rename them)
STANDARD_CODE_NAME = "20.0% S"
REVERSE_CHARGE_MARK = "RC"
SERVICES_MARK = "SG"


class QuickBooksSettings(AccountingSettings):
    document = document_field(DOCUMENTS, "bill")
    realm_id = serializers.RegexField(QBO_ID, required=False, help_text="the company (realmId), set by Connect")
    vendor_id = serializers.RegexField(QBO_ID, required=False, help_text="the supplier (Vendor)")
    expense_account_id = serializers.RegexField(QBO_ID, required=False, help_text="the expense Account")
    ap_account_id = serializers.RegexField(QBO_ID, required=False, help_text="the Accounts Payable account (bills)")
    tax_code_id = serializers.RegexField(QBO_ID, required=False, help_text="the VAT code (override)")
    payment_account_id = serializers.RegexField(
        QBO_ID, required=False, help_text="purchases: the credit-card or bank account that paid"
    )


def _quote(value: str) -> str:
    """A string literal for QuickBooks' query language."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _fault(data: dict) -> tuple[set[str], str] | None:
    """(codes, messages) of a Fault in a QuickBooks answer (it can come with HTTP 200), or None."""
    fault = data.get("Fault") if isinstance(data, dict) else None
    if not fault:
        return None
    errors = fault.get("Error") or []
    codes = {str(error.get("code", "")) for error in errors}
    messages = "; ".join(f"{error.get('Message', '')}: {error.get('Detail', '')}".strip(": ") for error in errors)
    return codes, messages or str(fault.get("type", "Fault"))


def fault_codes(exc: IntegrationError) -> set[str]:
    """The Fault codes in a refused answer's body (a 400, or a Fault inside a 200)."""
    try:
        fault = _fault(json.loads(exc.response_body or "{}"))
    except ValueError:
        return set()
    return fault[0] if fault else set()


class QuickBooksPayload:
    """The Bill or Purchase body for one document (no I/O)."""

    def __init__(self, document, mappings: dict, kind: str):
        self.document, self.mappings, self.kind = document, mappings, kind

    def body(self) -> dict:
        doc, maps = self.document, self.mappings
        taxed = doc.treatment != Treatment.NO_VAT
        body = {
            "TxnDate": doc.date.isoformat(),
            "DocNumber": doc.reference,
            "PrivateNote": doc.memo[:4000],
            "CurrencyRef": {"value": "GBP"},
            "GlobalTaxCalculation": "TaxExcluded" if taxed else "NotApplicable",
            "Line": [self.line(line) for line in doc.lines],
        }
        if self.kind == "bill":
            body["VendorRef"] = {"value": maps["vendor_id"]}
            body["DueDate"] = doc.due_date.isoformat()
            if maps.get("ap_account_id"):
                body["APAccountRef"] = {"value": maps["ap_account_id"]}
        else:
            body["PaymentType"] = "CreditCard"
            body["AccountRef"] = {"value": maps["payment_account_id"]}
            body["EntityRef"] = {"value": maps["vendor_id"], "type": "Vendor"}
        if doc.treatment == Treatment.STANDARD:
            # our per-line half-up VAT, not QuickBooks' own sum (which could differ by a penny)
            body["TxnTaxDetail"] = {"TotalTax": json_number(doc.totals.vat)}
        return body

    def line(self, line) -> dict:
        detail = {"AccountRef": {"value": self.mappings["expense_account_id"]}}
        if self.mappings.get("tax_code_id"):
            detail["TaxCodeRef"] = {"value": self.mappings["tax_code_id"]}
        return {
            "DetailType": "AccountBasedExpenseLineDetail",
            "Amount": json_number(line.amount),
            "Description": line.description[:4000],
            "AccountBasedExpenseLineDetail": detail,
        }


@FAMILY.register
class QuickBooks(AccountingProvider):
    name = "quickbooks"
    label = "QuickBooks"
    settings_serializer = QuickBooksSettings
    secrets_serializer = AccountingSecrets
    default_base_url = API
    documents = DOCUMENTS
    default_document = "bill"
    document_needs = {"purchase": ("payment_account_id", "a purchase needs the card or bank account that paid")}
    tenant_setting = "realm_id"
    # what ledger_choices() lists
    live_choice_fields = ("vendor_id", "expense_account_id", "ap_account_id", "payment_account_id", "tax_code_id")
    credentials = OAuth2AuthorizationCode(
        authorize_url=AUTHORIZE_URL, token_url=TOKEN_URL, scopes=SCOPES, pkce=False, auth_method="client_secret_basic"
    )

    def rate_limits(self) -> tuple[RateLimit, ...]:
        return (
            RateLimit(
                f"quickbooks:realm:{self.tenant()}",
                per_minute=settings.ACCOUNTING_QUICKBOOKS_REQUESTS_PER_MINUTE,
                concurrent=settings.ACCOUNTING_QUICKBOOKS_CONCURRENT,
            ),
        )

    # -- calls ------------------------------------------------------------------------------------------------------
    def _company(self, realm: str | None = None) -> str:
        return f"/v3/company/{realm or self.tenant()}"

    def _get(self, path: str, params: dict | None = None, *, realm: str | None = None) -> dict:
        params = {**(params or {}), "minorversion": settings.ACCOUNTING_QUICKBOOKS_MINOR_VERSION}
        response = self.client().request(
            "GET", self._company(realm) + path, params=params, headers={"Accept": "application/json"}
        )
        return self._checked(response)

    def _checked(self, response) -> dict:
        # Intuit support asks for intuit_tid when something goes wrong: keep it in the log
        logger.info("quickbooks.response intuit_tid=%s status=%s", response.headers.get("intuit_tid", "-"),
                    response.status_code)  # fmt: skip
        data = response.json()
        fault = _fault(data)
        if fault:
            codes, messages = fault
            raise PermanentError(
                self.redact(f"QuickBooks refused it ({', '.join(sorted(codes))}): {messages}"),
                status=response.status_code, response_body=self.redact(response.text),
            )  # fmt: skip
        return data

    def query(self, statement: str) -> dict:
        return self._get("/query", {"query": statement}).get("QueryResponse", {})

    def company_name(self, realm: str | None = None) -> str:
        realm = realm or self.tenant()
        info = self._get(f"/companyinfo/{realm}", realm=realm).get("CompanyInfo", {})
        return info.get("CompanyName") or info.get("LegalName") or f"QuickBooks company {realm}"

    # -- connecting and health --------------------------------------------------------------------------------------
    def connected_account(self, token, callback) -> ConnectedAccount:
        realm = callback.get("realmId", "")
        if not realm.isdigit():
            raise IntegrationError("QuickBooks sent no company (realmId) back with the consent")
        return ConnectedAccount(realm, self.company_name(realm), {"realm_id": realm})

    def check_health(self) -> HealthResult:
        return HealthResult(ok=True, message=f"connected to {self.company_name()}", http_status=200)

    # -- the ledger's records -----------------------------------------------------------------------------------------
    def tax_codes(self) -> list[dict]:
        """Active tax codes with their purchase rates (percent), read from the company."""
        rates = {
            str(rate["Id"]): Decimal(str(rate.get("RateValue", "0")))
            for rate in self.query("select * from TaxRate maxresults 1000").get("TaxRate", [])
        }
        codes = []
        for code in self.query("select * from TaxCode where Active = true maxresults 1000").get("TaxCode", []):
            details = (code.get("PurchaseTaxRateList") or {}).get("TaxRateDetail") or []
            purchase = [rates.get(str(d.get("TaxRateRef", {}).get("value")), Decimal(0)) for d in details]
            codes.append({"id": str(code["Id"]), "name": code.get("Name", ""), "purchase_rates": purchase})
        return codes

    def ledger_choices(self) -> dict[str, list[Choice]]:
        accounts = self.query("select * from Account where Active = true maxresults 1000").get("Account", [])
        vendors = self.query("select * from Vendor where Active = true maxresults 1000").get("Vendor", [])

        def of_type(*types):
            return [(str(a["Id"]), a.get("Name", "")) for a in accounts if a.get("AccountType") in types]

        return {
            "vendor_id": [(str(v["Id"]), v.get("DisplayName", "")) for v in vendors],
            "expense_account_id": of_type("Expense", "Other Expense", "Cost of Goods Sold"),
            "ap_account_id": of_type("Accounts Payable"),
            "payment_account_id": of_type("Credit Card", "Bank"),
            "tax_code_id": [
                (c["id"], f"{c['name']} (purchases {', '.join(f'{r:g}%' for r in c['purchase_rates']) or 'none'})")
                for c in self.tax_codes()
            ],
        }

    def ledger_mappings(self, treatment: Treatment) -> dict:
        choices = self.cached_ledger_choices(refresh=True)
        supplier = settings.ACCOUNTING_SUPPLIER_NAME if self.supply() == "wedsync" else ""
        maps = {
            "vendor_id": self.chosen_or_matched("vendor_id", choices["vendor_id"], supplier, "supplier (Vendor)"),
            "expense_account_id": self.chosen_or_matched(
                "expense_account_id",
                choices["expense_account_id"],
                settings.ACCOUNTING_EXPENSE_CATEGORY,
                "expense account",
            ),  # fmt: skip
            "ap_account_id": self.settings.get("ap_account_id") or _only(choices["ap_account_id"]),
            "tax_code_id": self._tax_code(treatment, choices["tax_code_id"]),
        }
        if self.document_kind() == "purchase":
            maps["payment_account_id"] = self.settings["payment_account_id"]
        return maps

    def _tax_code(self, treatment: Treatment, choices: list[Choice]) -> str | None:
        if treatment == Treatment.NO_VAT:
            return None
        if self.settings.get("tax_code_id"):
            return self.chosen_or_matched("tax_code_id", choices, "", "VAT code")
        percent = settings.ACCOUNTING_STANDARD_VAT_PERCENT
        at_rate = [code for code in self.tax_codes() if percent in code["purchase_rates"]]
        if treatment == Treatment.STANDARD:
            candidates = [c for c in at_rate if REVERSE_CHARGE_MARK not in c["name"].split()]
            preferred = [c for c in candidates if c["name"] == STANDARD_CODE_NAME]
        else:
            candidates = [c for c in at_rate if REVERSE_CHARGE_MARK in c["name"].split()]
            preferred = [c for c in candidates if SERVICES_MARK in c["name"].split()]
        chosen = preferred if len(preferred) == 1 else candidates
        if len(chosen) != 1:
            what = "standard-rated (20 %)" if treatment == Treatment.STANDARD else "reverse-charge (20 %)"
            names = ", ".join(c["name"] for c in candidates) or "none"
            raise MappingMissing(
                f"QuickBooks: cannot tell which {what} purchase VAT code to use (candidates: {names}); choose "
                "one under 'Ledger mappings'"
            )
        return chosen[0]["id"]

    # -- documents -----------------------------------------------------------------------------------------------------
    def build_payload(self, document, mappings: dict) -> dict:
        return QuickBooksPayload(document, mappings, self.document_kind()).body()

    def lookup_hints(self, document, mappings: dict) -> dict:
        return {"kind": self.document_kind(), "doc_number": document.reference}

    def create(self, payload: dict) -> VendorDocument:
        kind = payload["lookup"]["kind"]
        params = {"minorversion": settings.ACCOUNTING_QUICKBOOKS_MINOR_VERSION, "requestid": payload["idempotency_key"]}
        try:
            response = self.client().request(
                "POST", f"{self._company()}/{kind}", params=params, json=payload["body"],
                headers={"Accept": "application/json"},
            )  # fmt: skip
            data = self._checked(response)
        except PermanentError as exc:
            if DUPLICATE_DOC_NUMBER in fault_codes(exc):
                found = self.find(payload)  # our document number is taken: is it ours, from an earlier attempt?
                if found is not None:
                    return found
            raise
        return self._document(kind, data.get(ENTITIES[kind]) or {})

    def find(self, payload: dict) -> VendorDocument | None:
        kind, number = payload["lookup"]["kind"], payload["lookup"]["doc_number"]
        # QuickBooks' own query language over its API (not SQL): the number is quoted and escaped
        statement = f"select * from {ENTITIES[kind]} where DocNumber = {_quote(number)}"  # noqa: S608
        found = self.query(statement).get(ENTITIES[kind])
        return self._document(kind, found[0]) if found else None

    def read_back(self, export: MonthlyExport) -> VendorDocument:
        kind = "bill" if export.vendor_entity_type == "Bill" else "purchase"
        try:
            data = self._get(f"/{kind}/{export.vendor_entity_id}")
        except PermanentError as exc:
            if NOT_FOUND in fault_codes(exc):
                return VendorDocument(export.vendor_entity_type, export.vendor_entity_id, status="Deleted", gone=True)
            raise
        return self._document(kind, data.get(ENTITIES[kind]) or {})

    def _document(self, kind: str, entity: dict) -> VendorDocument:
        if not entity.get("Id"):
            raise PermanentError(f"QuickBooks answered without the {ENTITIES[kind]}'s Id")
        lines = [line for line in entity.get("Line", []) if line.get("DetailType") == "AccountBasedExpenseLineDetail"]
        amount = sum((Decimal(str(line.get("Amount", 0))) for line in lines), Decimal("0.00"))
        tax = decimal_or_none((entity.get("TxnTaxDetail") or {}).get("TotalTax"))
        voided = "voided" in str(entity.get("PrivateNote", "")).lower() and not amount
        return VendorDocument(
            entity_type=ENTITIES[kind],
            entity_id=str(entity["Id"]),
            sync_token=str(entity.get("SyncToken", "")),
            status="Voided" if voided else "Posted",
            amount=amount,
            tax=tax,
            total=decimal_or_none(entity.get("TotalAmt")),
            gone=voided,
        )

    # -- VAT threshold watch -------------------------------------------------------------------------------------------
    def taxable_turnover(self, first, last) -> Decimal | None:
        report = self._get("/reports/ProfitAndLoss", {"start_date": first.isoformat(), "end_date": last.isoformat()})
        for row in (report.get("Rows") or {}).get("Row", []):
            if row.get("group") == "Income":
                cells = (row.get("Summary") or {}).get("ColData") or []
                return Decimal(str(cells[-1].get("value") or "0")) if cells else Decimal(0)
        return Decimal(0)  # no income section: no income in the period


def _only(choices: list[Choice]) -> str | None:
    """The single record of a kind (QuickBooks implies the only AP account), else None."""
    return choices[0][0] if len(choices) == 1 else None
