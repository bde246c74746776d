"""Xero: an ACCPAY bill (or a SPEND bank transaction) per month in the organisation's Xero org
(docs/vendors/xero.md).

- OAuth 2.0 authorization code with PKCE, client authenticated with HTTP Basic at
  identity.xero.com. Every refresh rotates the refresh token (the old one stays usable for 30
  minutes); the kernel commits each new one before use. The consent may cover several orgs:
  `GET /connections` lists them and staff choose one; its `tenantId` goes in `xero-tenant-id`.
- `PUT /Invoices?summarizeErrors=false` (or `/BankTransactions`), `Idempotency-Key` derived from
  the export and its payload (the same on every retry). Xero remembers a key for about six minutes,
  so a retry later than ACCOUNTING_XERO_IDEMPOTENCY_WINDOW_SECONDS after an earlier attempt first
  looks the document up by contact and number. HTTP 200 is not success: each element's
  `StatusAttributeString` is checked.
- `Type: ACCPAY`, `Contact` by `ContactID` only (other fields would edit the contact),
  `LineAmountTypes` `Exclusive` (net lines, Xero adds the VAT per line, half-up, as we do) or `NoTax`
  when the organisation is not VAT registered, `InvoiceNumber` = our reference, `Url` back to the
  export in admin, `Status: AUTHORISED` (a draft is not on the VAT return).
- Limits per tenant: 60 requests a minute and 5 at once (and 10,000 a minute for the app),
  enforced client-side across workers; a 429 waits its Retry-After for that tenant only.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from rest_framework import serializers

from wedsync_integrations.integrations.credentials import ConnectedAccount, OAuth2AuthorizationCode
from wedsync_integrations.integrations.errors import PermanentError
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

logger = logging.getLogger("wedsync.accounting.xero")

API = "https://api.xero.com/api.xro/2.0"
API_SUFFIX = "/api.xro/2.0"
AUTHORIZE_URL = "https://login.xero.com/identity/connect/authorize"
TOKEN_URL = "https://identity.xero.com/connect/token"
SCOPES = (
    "offline_access",
    "accounting.settings.read",
    "accounting.contacts.read",
    "accounting.invoices",
    "accounting.banktransactions",
    "accounting.reports.read",
)
DOCUMENTS = {"bill": "Bill (ACCPAY invoice, the default)", "spend": "Spend money (SPEND bank transaction)"}
COLLECTIONS = {"bill": "Invoices", "spend": "BankTransactions"}
IDS = {"bill": "InvoiceID", "spend": "BankTransactionID"}
GONE = {"DELETED", "VOIDED"}
UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# the system tax types of a UK org, preferred when the ledger has them active for expenses
SYSTEM_TAX_TYPES = {Treatment.STANDARD: "INPUT2", Treatment.REVERSE_CHARGE: "REVERSECHARGES", Treatment.NO_VAT: "NONE"}
INCOME_SECTIONS = {"income", "trading income", "revenue"}


class XeroSettings(AccountingSettings):
    document = document_field(DOCUMENTS, "bill")
    tenant_id = serializers.RegexField(UUID, required=False, help_text="the Xero org (tenantId), set by Connect")
    contact_id = serializers.RegexField(UUID, required=False, help_text="the supplier (ContactID)")
    expense_account_code = serializers.CharField(required=False, max_length=10, help_text="the expense account code")
    tax_type = serializers.RegexField(r"^[A-Z0-9]{1,32}$", required=False, help_text="the TaxType (override)")
    bank_account_code = serializers.CharField(
        required=False, max_length=10, help_text="spend money: the bank account's code"
    )


class XeroPayload:
    """The Invoices / BankTransactions body for one document (no I/O)."""

    def __init__(self, document, mappings: dict, kind: str):
        self.document, self.mappings, self.kind = document, mappings, kind

    def body(self) -> dict:
        doc, maps = self.document, self.mappings
        element = {
            "Type": "ACCPAY" if self.kind == "bill" else "SPEND",
            "Contact": {"ContactID": maps["contact_id"]},  # the id only: other fields would edit the contact
            "Date": doc.date.isoformat(),
            "LineAmountTypes": "NoTax" if doc.treatment == Treatment.NO_VAT else "Exclusive",
            "CurrencyCode": "GBP",
            "Status": "AUTHORISED",  # a DRAFT posts nothing and is not on the VAT return
            "Url": doc.url,
            "LineItems": [self.line(line) for line in doc.lines],
        }
        if self.kind == "bill":
            element.update(InvoiceNumber=doc.reference, DueDate=doc.due_date.isoformat())
        else:
            element.update(Reference=doc.reference, BankAccount={"Code": maps["bank_account_code"]})
        return {COLLECTIONS[self.kind]: [element]}

    def line(self, line) -> dict:
        # Quantity 1 and the line total as UnitAmount: Xero works the tax out per line on
        # Quantity × UnitAmount, half-up, exactly as vat.py does; no TaxAmount is posted
        return {
            "Description": line.description[:4000],
            "Quantity": 1,
            "UnitAmount": json_number(line.amount),
            "AccountCode": self.mappings["expense_account_code"],
            "TaxType": self.mappings["tax_type"],
        }


@FAMILY.register
class Xero(AccountingProvider):
    name = "xero"
    label = "Xero"
    settings_serializer = XeroSettings
    secrets_serializer = AccountingSecrets
    default_base_url = API
    documents = DOCUMENTS
    default_document = "bill"
    document_needs = {"spend": ("bank_account_code", "spend money needs the bank account it is paid from")}
    tenant_setting = "tenant_id"
    live_choice_fields = ("contact_id", "expense_account_code", "bank_account_code", "tax_type")  # ledger_choices()
    credentials = OAuth2AuthorizationCode(
        authorize_url=AUTHORIZE_URL, token_url=TOKEN_URL, scopes=SCOPES, pkce=True, auth_method="client_secret_basic"
    )

    def rate_limits(self) -> tuple[RateLimit, ...]:
        return (
            RateLimit(
                f"xero:tenant:{self.tenant()}",
                per_minute=settings.ACCOUNTING_XERO_REQUESTS_PER_MINUTE,
                concurrent=settings.ACCOUNTING_XERO_CONCURRENT,
            ),
            RateLimit("xero:app", per_minute=settings.ACCOUNTING_XERO_APP_REQUESTS_PER_MINUTE),
        )

    def idempotency_window(self) -> timedelta:
        return timedelta(seconds=settings.ACCOUNTING_XERO_IDEMPOTENCY_WINDOW_SECONDS)

    # -- calls ------------------------------------------------------------------------------------------------------
    def _headers(self, **extra) -> dict:
        return {"xero-tenant-id": self.tenant(), "Accept": "application/json", **extra}

    def _get(self, path: str, params: dict | None = None) -> dict:
        return self.client().request("GET", path, params=params or {}, headers=self._headers()).json()

    def connections_url(self) -> str:
        """GET /connections lives beside the accounting API, not under it."""
        base = self.base_url().rstrip("/")
        return base.removesuffix(API_SUFFIX) + "/connections"

    # -- connecting and health -----------------------------------------------------------------------------------------
    def connected_account(self, token, callback) -> list[ConnectedAccount]:
        url = self.connections_url()
        response = self.client(base_url=url, guarded=self.uses_configured_url()).request(
            "GET", "", headers={"Accept": "application/json"}
        )
        return [
            ConnectedAccount(c["tenantId"], c.get("tenantName") or c["tenantId"], {"tenant_id": c["tenantId"]})
            for c in response.json()
            if c.get("tenantType", "ORGANISATION") == "ORGANISATION" and c.get("tenantId")
        ]

    def check_health(self) -> HealthResult:
        organisations = self._get("/Organisation").get("Organisations") or [{}]
        return HealthResult(ok=True, message=f"connected to {organisations[0].get('Name', 'the Xero org')}",
                            http_status=200)  # fmt: skip

    # -- the ledger's records ------------------------------------------------------------------------------------------
    def tax_rates(self) -> list[dict]:
        """Tax rates the org lets us put on expense lines (active ones only)."""
        rates = self._get("/TaxRates").get("TaxRates", [])
        return [r for r in rates if r.get("CanApplyToExpenses") and r.get("Status") == "ACTIVE"]

    def ledger_choices(self) -> dict[str, list[Choice]]:
        contacts = self._get("/Contacts", {"where": 'ContactStatus=="ACTIVE"', "summaryOnly": "true"}).get(
            "Contacts", []
        )
        accounts = [a for a in self._get("/Accounts").get("Accounts", []) if a.get("Status") == "ACTIVE"]
        return {
            "contact_id": [(c["ContactID"], c.get("Name", "")) for c in contacts],
            "expense_account_code": [
                (a["Code"], a.get("Name", "")) for a in accounts if a.get("Class") == "EXPENSE" and a.get("Code")
            ],
            "bank_account_code": [
                (a["Code"], a.get("Name", "")) for a in accounts if a.get("Type") == "BANK" and a.get("Code")
            ],  # fmt: skip
            "tax_type": [
                (r["TaxType"], f"{r.get('Name', '')} ({r.get('EffectiveRate', '?')}%)") for r in self.tax_rates()
            ],
        }

    def ledger_mappings(self, treatment: Treatment) -> dict:
        choices = self.cached_ledger_choices(refresh=True)
        supplier = settings.ACCOUNTING_SUPPLIER_NAME if self.supply() == "wedsync" else ""
        maps = {
            "contact_id": self.chosen_or_matched("contact_id", choices["contact_id"], supplier, "supplier (Contact)"),
            "expense_account_code": self.chosen_or_matched(
                "expense_account_code",
                choices["expense_account_code"],
                settings.ACCOUNTING_EXPENSE_CATEGORY,
                "expense account",
            ),  # fmt: skip
            "tax_type": self._tax_type(treatment, choices["tax_type"]),
        }
        if self.document_kind() == "spend":
            maps["bank_account_code"] = self.settings["bank_account_code"]
        return maps

    def _tax_type(self, treatment: Treatment, choices: list[Choice]) -> str:
        if self.settings.get("tax_type"):
            return self.chosen_or_matched("tax_type", choices, "", "tax rate")
        rates = self.tax_rates()
        percent = settings.ACCOUNTING_STANDARD_VAT_PERCENT
        if treatment == Treatment.STANDARD:
            candidates = [r for r in rates if _rate(r) == percent and r.get("ReportTaxType") == "INPUT"
                          and "capital" not in r.get("Name", "").lower()]  # fmt: skip
        elif treatment == Treatment.REVERSE_CHARGE:
            candidates = [r for r in rates if "reverse charge" in r.get("Name", "").lower()
                          and "domestic" not in r.get("Name", "").lower()]  # fmt: skip
        else:
            candidates = [r for r in rates if _rate(r) == 0 and "no vat" in r.get("Name", "").lower()]
        system = SYSTEM_TAX_TYPES[treatment]
        preferred = [r for r in rates if r.get("TaxType") == system]
        chosen = preferred or candidates
        if len(chosen) != 1:
            names = ", ".join(f"{r.get('Name')} ({r.get('TaxType')})" for r in candidates) or "none"
            raise MappingMissing(
                f"Xero: cannot tell which tax rate to use for {Treatment(treatment).label} (candidates: {names}); "
                "choose one under 'Ledger mappings'"
            )
        return chosen[0]["TaxType"]

    # -- documents -----------------------------------------------------------------------------------------------------
    def build_payload(self, document, mappings: dict) -> dict:
        return XeroPayload(document, mappings, self.document_kind()).body()

    def lookup_hints(self, document, mappings: dict) -> dict:
        return {"kind": self.document_kind(), "contact_id": mappings["contact_id"], "number": document.reference}

    def create(self, payload: dict) -> VendorDocument:
        kind = payload["lookup"]["kind"]
        response = self.client().request(
            "PUT", f"/{COLLECTIONS[kind]}", params={"summarizeErrors": "false"}, json=payload["body"],
            headers=self._headers(**{"Idempotency-Key": payload["idempotency_key"]}),
        )  # fmt: skip
        (element,) = response.json().get(COLLECTIONS[kind]) or [{}]
        status = element.get("StatusAttributeString", "")
        if status not in ("OK", "WARNING"):
            # HTTP 200 is not success: the element says whether it was created
            problems = "; ".join(e.get("Message", "") for e in element.get("ValidationErrors") or []) or status
            raise PermanentError(self.redact(f"Xero refused the {kind}: {problems or 'no status in the answer'}"))
        if status == "WARNING":
            logger.warning("accounting.xero_warning org=%s: %s", self.organisation.slug,
                           "; ".join(w.get("Message", "") for w in element.get("Warnings") or []))  # fmt: skip
        return self._document(kind, element)

    def find(self, payload: dict) -> VendorDocument | None:
        kind, hints = payload["lookup"]["kind"], payload["lookup"]
        number_field = "InvoiceNumber" if kind == "bill" else "Reference"
        where = f'Contact.ContactID==Guid("{hints["contact_id"]}") AND {number_field}=="{hints["number"]}"'
        found = [d for d in self._get(f"/{COLLECTIONS[kind]}", {"where": where}).get(COLLECTIONS[kind], [])
                 if d.get("Status") not in GONE]  # fmt: skip
        return self._document(kind, found[0]) if found else None

    def read_back(self, export: MonthlyExport) -> VendorDocument:
        kind = "bill" if export.vendor_entity_type == "Invoice" else "spend"
        (element,) = self._get(f"/{COLLECTIONS[kind]}/{export.vendor_entity_id}").get(COLLECTIONS[kind]) or [{}]
        return self._document(kind, element)

    def _document(self, kind: str, element: dict) -> VendorDocument:
        entity_id = element.get(IDS[kind])
        if not entity_id:
            raise PermanentError(f"Xero answered without the {IDS[kind]}")
        status = str(element.get("Status", ""))
        return VendorDocument(
            entity_type="Invoice" if kind == "bill" else "BankTransaction",
            entity_id=str(entity_id),
            status=status,
            amount=decimal_or_none(element.get("SubTotal")),
            tax=decimal_or_none(element.get("TotalTax")),
            total=decimal_or_none(element.get("Total")),
            gone=status in GONE,
        )

    # -- VAT threshold watch -------------------------------------------------------------------------------------------
    def taxable_turnover(self, first, last) -> Decimal | None:
        params = {"fromDate": first.isoformat(), "toDate": last.isoformat()}
        reports = self._get("/Reports/ProfitAndLoss", params).get("Reports") or [{}]
        total = Decimal(0)
        for section in reports[0].get("Rows", []):
            if section.get("RowType") != "Section" or section.get("Title", "").strip().lower() not in INCOME_SECTIONS:
                continue
            for row in section.get("Rows", []):
                if row.get("RowType") == "SummaryRow":
                    total += Decimal(str(row["Cells"][-1].get("Value") or "0"))
        return total


def _rate(rate: dict) -> Decimal:
    return Decimal(str(rate.get("EffectiveRate", rate.get("DisplayTaxRate", "0"))))
