"""FreshBooks: an expense per month in the organisation's FreshBooks business
(docs/vendors/freshbooks.md).

- OAuth 2.0 authorization code at auth.freshbooks.com, token at api.freshbooks.com with the
  client id and secret in the (form) body, as FreshBooks' own SDK and "Get authenticated"
  guide send them. Refresh tokens are single use: each refresh returns the next one, which the
  kernel commits before the access token is used. `GET /auth/api/v1/users/me` lists the businesses
  the consent covers (`account_id` addresses the accounting endpoints); staff choose if several.
- `POST /accounting/account/{account_id}/expenses/expenses`: one expense for the document, its
  amount the gross (FreshBooks expenses are tax-inclusive) with `taxName1/taxPercent1/taxAmount1`
  when standard-rated; the per-provider lines go in the notes. Reverse charge: the net, no tax,
  and a note for the accountant (FreshBooks has no reverse-charge concept). Not registered: the
  gross, no tax.
- FreshBooks has no idempotency key. The notes carry a marker ("[WS-2611-000042]"); a retry after
  an earlier attempt first searches that day's expenses in the category for the marker, and
  only posts if none is found.
- FreshBooks publishes no rate limits: its 429s back off with Retry-After like any vendor's.
"""

from __future__ import annotations

import logging
from decimal import Decimal

from django.conf import settings
from rest_framework import serializers

from wedsync_integrations.integrations.credentials import ConnectedAccount, OAuth2AuthorizationCode
from wedsync_integrations.integrations.errors import PermanentError
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
    pick_by_name,
)

logger = logging.getLogger("wedsync.accounting.freshbooks")

API = "https://api.freshbooks.com"
AUTHORIZE_URL = "https://auth.freshbooks.com/oauth/authorize"
TOKEN_URL = "https://api.freshbooks.com/auth/oauth/token"
SCOPES = ("user:profile:read", "user:expenses:read", "user:expenses:write", "user:taxes:read")
DOCUMENTS = {"expense": "Expense"}
ME = "/auth/api/v1/users/me"
MAX_PAGES = 20
DEFAULT_TAX_NAME = "VAT"  # FreshBooks' expense tax fields are free text


class FreshBooksSettings(AccountingSettings):
    document = document_field(DOCUMENTS, "expense")
    account_id = serializers.RegexField(
        r"^[A-Za-z0-9]{1,32}$", required=False, help_text="the business's account_id, set by Connect"
    )
    category_id = serializers.IntegerField(required=False, min_value=1, help_text="the expense category")
    staff_id = serializers.IntegerField(required=False, min_value=1, help_text="the staff member the expense is for")


def _money(amount: Decimal) -> dict:
    return {"amount": str(amount), "code": "GBP"}


def expense_amount(document) -> Decimal:
    """FreshBooks expenses are tax-inclusive: the gross, except under the reverse charge (the net
    is what is paid; the notional VAT is the accountant's)."""
    totals = document.totals
    return totals.net if document.treatment == Treatment.REVERSE_CHARGE else totals.gross


def _percent(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


class FreshBooksPayload:
    """The expense body for one document (no I/O)."""

    def __init__(self, document, mappings: dict):
        self.document, self.mappings = document, mappings

    def body(self) -> dict:
        doc, maps, totals = self.document, self.mappings, self.document.totals
        expense = {
            "amount": _money(expense_amount(doc)),
            "categoryid": maps["category_id"],
            "staffid": maps["staff_id"],
            "date": doc.date.isoformat(),
            "vendor": doc.supplier_name,
            "notes": self.notes(),
        }
        if doc.treatment == Treatment.STANDARD:
            expense.update(
                taxName1=maps["tax_name"],
                taxPercent1=_percent(settings.ACCOUNTING_STANDARD_VAT_PERCENT),
                taxAmount1=_money(totals.vat),  # the sum of the lines' VAT, each half-up
            )
        return {"expense": expense}

    def notes(self) -> str:
        doc = self.document
        lines = [f"{doc.marker} {doc.memo}"]
        lines += [f"- {line.description}: net £{line.net}, VAT £{line.vat}, gross £{line.gross}" for line in doc.lines]
        if doc.treatment == Treatment.REVERSE_CHARGE:
            lines.append("FreshBooks records no reverse charge: your accountant enters the notional VAT on the return.")
        if doc.url:
            lines.append(doc.url)
        return "\n".join(lines)


@FAMILY.register
class FreshBooks(AccountingProvider):
    name = "freshbooks"
    label = "FreshBooks"
    settings_serializer = FreshBooksSettings
    secrets_serializer = AccountingSecrets
    default_base_url = API
    documents = DOCUMENTS
    default_document = "expense"
    tenant_setting = "account_id"
    live_choice_fields = ("category_id", "staff_id")  # ledger_choices()
    credentials = OAuth2AuthorizationCode(
        authorize_url=AUTHORIZE_URL, token_url=TOKEN_URL, scopes=SCOPES, pkce=False, auth_method="client_secret_post"
    )

    # -- calls ------------------------------------------------------------------------------------------------------
    def _accounting(self, path: str) -> str:
        return f"/accounting/account/{self.tenant()}{path}"

    def _result(self, response) -> dict:
        body = response.json().get("response") or {}
        if body.get("errors"):
            problems = "; ".join(f"{e.get('field', '')}: {e.get('message', '')}".strip(": ") for e in body["errors"])
            raise PermanentError(self.redact(f"FreshBooks refused it: {problems}"), status=response.status_code)
        return body.get("result") or body

    def _list(self, path: str, key: str, params: dict | None = None) -> list[dict]:
        """Every page of an accounting list endpoint."""
        items, page = [], 1
        while page <= MAX_PAGES:
            response = self.client().request("GET", self._accounting(path), params={**(params or {}), "page": page,
                                                                                  "per_page": 100})  # fmt: skip
            result = self._result(response)
            items += result.get(key, [])
            if page >= int(result.get("pages") or 1):
                break
            page += 1
        return items

    def identity(self) -> dict:
        if "_identity" not in self.__dict__:
            response = self.client().request("GET", ME, headers={"Accept": "application/json"})
            self.__dict__["_identity"] = response.json().get("response") or {}
        return self.__dict__["_identity"]

    # -- connecting and health -----------------------------------------------------------------------------------------
    def connected_account(self, token, callback) -> list[ConnectedAccount]:
        memberships = self.identity().get("business_memberships") or []
        return [
            ConnectedAccount(b["account_id"], b.get("name") or b["account_id"], {"account_id": b["account_id"]})
            for b in (m.get("business") or {} for m in memberships)
            if b.get("account_id")
        ]

    def check_health(self) -> HealthResult:
        identity = self.identity()
        names = [m.get("business", {}).get("name", "") for m in identity.get("business_memberships") or []
                 if m.get("business", {}).get("account_id") == self.settings.get("account_id")]  # fmt: skip
        where = names[0] if names else f"account {self.settings.get('account_id', '?')}"
        return HealthResult(ok=True, message=f"connected to {where} as {identity.get('email', '?')}", http_status=200)

    # -- the ledger's records ------------------------------------------------------------------------------------------
    def ledger_choices(self) -> dict[str, list[Choice]]:
        categories = self._list("/expenses/categories", "categories")
        staff = self._list("/users/staffs", "staff")
        return {
            "category_id": [
                (str(c["categoryid"]), c.get("category", "")) for c in categories if not c.get("vis_state")
            ],
            "staff_id": [
                (str(s["id"]), f"{s.get('fname', '')} {s.get('lname', '')} <{s.get('email', '')}>".strip())
                for s in staff
                if not s.get("vis_state")
            ],  # fmt: skip
        }

    def ledger_mappings(self, treatment: Treatment) -> dict:
        choices = self.cached_ledger_choices(refresh=True)
        category = self.chosen_or_matched(
            "category_id", choices["category_id"], settings.ACCOUNTING_EXPENSE_CATEGORY, "expense category"
        )
        maps = {"category_id": int(category), "staff_id": int(self._staff(choices["staff_id"]))}
        if treatment == Treatment.STANDARD:
            maps["tax_name"] = self._tax_name()
        return maps

    def _staff(self, choices: list[Choice]) -> str:
        if self.settings.get("staff_id"):
            return self.chosen_or_matched("staff_id", choices, "", "staff member")
        email = str(self.identity().get("email", "")).casefold()
        mine = [value for value, label in choices if email and label.casefold().endswith(f"<{email}>")]
        if len(mine) == 1:
            return mine[0]
        if len(choices) == 1:
            return choices[0][0]
        raise MappingMissing("FreshBooks: no staff member chosen for the expenses, and the business has several; "
                             "choose one under 'Ledger mappings'")  # fmt: skip

    def _tax_name(self) -> str:
        """The business's own name for the 20 % tax, if it has one."""
        percent = settings.ACCOUNTING_STANDARD_VAT_PERCENT
        taxes = [(t.get("name", ""), t.get("name", "")) for t in self._list("/taxes/taxes", "taxes")
                 if decimal_or_none(t.get("amount")) == percent]  # fmt: skip
        return pick_by_name(taxes, DEFAULT_TAX_NAME) or (taxes[0][0] if len(taxes) == 1 else DEFAULT_TAX_NAME)

    # -- documents -----------------------------------------------------------------------------------------------------
    def build_payload(self, document, mappings: dict) -> dict:
        return FreshBooksPayload(document, mappings).body()

    def amount_sent(self, document) -> Decimal:
        return expense_amount(document)

    def lookup_hints(self, document, mappings: dict) -> dict:
        return {"date": document.date.isoformat(), "category_id": mappings["category_id"], "marker": document.marker}

    def create(self, payload: dict) -> VendorDocument:
        response = self.client().request(
            "POST", self._accounting("/expenses/expenses"), json=payload["body"], headers={"Accept": "application/json"}
        )
        return self._document(self._result(response).get("expense") or {})

    def find(self, payload: dict) -> VendorDocument | None:
        hints = payload["lookup"]
        params = {"search[date_min]": hints["date"], "search[date_max]": hints["date"],
                  "search[categoryid]": hints["category_id"]}  # fmt: skip
        for expense in self._list("/expenses/expenses", "expenses", params):
            if hints["marker"] in str(expense.get("notes", "")) and not expense.get("vis_state"):
                return self._document(expense)
        return None

    def read_back(self, export: MonthlyExport) -> VendorDocument:
        response = self.client().request("GET", self._accounting(f"/expenses/expenses/{export.vendor_entity_id}"))
        return self._document(self._result(response).get("expense") or {})

    def _document(self, expense: dict) -> VendorDocument:
        entity_id = expense.get("expenseid") or expense.get("id")
        if not entity_id:
            raise PermanentError("FreshBooks answered without the expense's id")
        deleted = bool(expense.get("vis_state"))
        return VendorDocument(
            entity_type="Expense",
            entity_id=str(entity_id),
            status="deleted" if deleted else "active",
            amount=decimal_or_none((expense.get("amount") or {}).get("amount")),
            tax=decimal_or_none((expense.get("taxAmount1") or {}).get("amount")),
            total=decimal_or_none((expense.get("amount") or {}).get("amount")),
            gone=deleted,
        )
