"""QuickBooks Online, Xero and FreshBooks as the sandbox plays them (the demo and the end-to-end
tests connect and export without the internet). Each vendor has its authorization server
(wedsync_integrations.sandbox.oauth) and a small in-memory ledger behind the API endpoints the
providers use, answering in the vendors' documented shapes (docs/vendors/*.md):

    /quickbooks   consent /connect/oauth2 (realmId on the redirect), token /oauth2/v1/tokens/bearer
                  (Basic; keeps its refresh token), /v3/company/{realm}/companyinfo|query|bill|purchase|
                  reports/ProfitAndLoss; `requestid` replays the first answer; a Fault rides in the body;
                  500 requests a minute per company, then 429 with Retry-After
    /xero         consent /identity/connect/authorize (PKCE), token /identity/connect/token (Basic; rotates,
                  the old one good for 30 minutes), /connections (two orgs: staff choose), /api.xro/2.0/
                  Organisation|TaxRates|Accounts|Contacts|Invoices|BankTransactions|Reports/ProfitAndLoss;
                  `Idempotency-Key` replays the first answer (a different body with it is refused);
                  `summarizeErrors=false` answers 200 with each element's own status (partial failure);
                  60 requests a minute per tenant, then 429 with Retry-After and X-Rate-Limit-Problem
    /freshbooks   consent /oauth/authorize, token /auth/oauth/token (form body; single-use refresh tokens),
                  /auth/api/v1/users/me, /accounting/account/{id}/expenses/categories|expenses|users/staffs|
                  taxes/taxes; no idempotency: posting twice makes two expenses, as FreshBooks does

Control (not vendor API): GET /<vendor>/__ledger lists every document created (the demo shows last
month's here); POST /<vendor>/__ledger {"tenant": id, "income": "…", "per_minute": n, "void": id,
"amount": {"id": …, "value": "…"}} sets a profit-and-loss figure, a rate limit, voids or edits a
document, as a user of the ledger would.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import threading
import time
import uuid
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import unquote

from wedsync_integrations.sandbox.oauth import AuthorizationServer
from wedsync_integrations.sandbox.routes import Reply, on_reset, route

# -- what the ledgers hold (tests and the demo refer to these) ------------------------------------------------
QBO_REALM = "9130355000000001"
QBO_COMPANY = "Cotswold Lens Photography Ltd"
QBO_VENDOR_WEDSYNC, QBO_VENDOR_OPENAI = "56", "57"
QBO_EXPENSE_ACCOUNT, QBO_AP_ACCOUNT, QBO_CARD_ACCOUNT = "78", "33", "41"
QBO_STANDARD_CODE, QBO_REVERSE_CODE, QBO_NO_VAT_CODE = "2", "8", "9"

XERO_TENANT = "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"
XERO_TENANT_NAME = "The Willow Barn Ltd"
XERO_OTHER_TENANT = "4a6b1f0e-0d5e-4c3f-9a4e-7e1f2d3c4b5a"
XERO_OTHER_TENANT_NAME = "Demo Company (UK)"
XERO_CONTACT_WEDSYNC = "9f2bd6a4-1c1e-4b1a-8d3f-5a0c6e7b8d90"
XERO_CONTACT_OPENAI = "2e8c7f1b-3a4d-4e5f-9b6a-0c1d2e3f4a5b"
XERO_EXPENSE_CODE, XERO_BANK_CODE = "463", "090"

FRESHBOOKS_ACCOUNT = "aBcD1"
FRESHBOOKS_BUSINESS = "Petal & Stem Florals"
FRESHBOOKS_EMAIL = "owner@petalandstem.example"
FRESHBOOKS_CATEGORY, FRESHBOOKS_STAFF = 2003174, 1

PENNY = Decimal("0.01")
_lock = threading.RLock()


def _half_up(value: Decimal) -> Decimal:
    return value.quantize(PENNY, rounding=ROUND_HALF_UP)


def _json(request) -> dict:
    return json.loads(request.text() or "{}", parse_float=Decimal)


def _money(value) -> str:
    return str(Decimal(str(value)).quantize(PENNY))


class _MinuteLimit:
    """Requests per minute per tenant, as the vendor counts them (a fixed window is enough here)."""

    def __init__(self, per_minute: int):
        self.default = per_minute
        self.reset()

    def reset(self) -> None:
        self.per_minute = dict()
        self.counts: dict = defaultdict(int)

    def hit(self, tenant: str) -> float:
        """0 if the request may go, else the seconds until the next window."""
        window = int(time.time() // 60)
        self.counts[(tenant, window)] += 1
        if self.counts[(tenant, window)] > self.per_minute.get(tenant, self.default):
            return 60 - time.time() % 60
        return 0.0


def _plain(value):
    """What a fake ledger shows: Decimals as JSON numbers (as the vendors answer), no private keys."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if not k.startswith("__")}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    return value


def _ledger_control(state: dict, limits: _MinuteLimit, request, documents: dict) -> Reply:
    if request.method == "GET":
        with _lock:
            return Reply(200, json={"documents": _plain(list(documents.values()))})
    data = _json(request)
    with _lock:
        tenant = str(data.get("tenant", ""))
        if "income" in data:
            state.setdefault("income", {})[tenant] = str(data["income"])
        if "per_minute" in data:
            limits.per_minute[tenant] = int(data["per_minute"])
        if data.get("void") is not None:
            documents[str(data["void"])]["__void"] = True
        if data.get("amount"):
            documents[str(data["amount"]["id"])]["__amount"] = str(data["amount"]["value"])
    return Reply(200, json={"ok": True})


# == QuickBooks Online =============================================================================================
QUICKBOOKS_AUTH = AuthorizationServer(
    "/quickbooks", authorize_path="/connect/oauth2", token_path="/oauth2/v1/tokens/bearer", access_lifetime=3600,
    rotates=False, client_auth="basic", name="QuickBooks Online", redirect_extras=lambda query: {"realmId": QBO_REALM},
).install()  # fmt: skip

_qbo: dict = {}
_qbo_limits = _MinuteLimit(500)
QBO_TAX_RATES = [
    {"Id": "1", "Name": "20.0% S (purchases)", "RateValue": 20, "Active": True},
    {"Id": "3", "Name": "20.0% RC SG (purchases)", "RateValue": 20, "Active": True},
    {"Id": "4", "Name": "No VAT", "RateValue": 0, "Active": True},
    {"Id": "5", "Name": "5.0% R (purchases)", "RateValue": 5, "Active": True},
]
QBO_TAX_CODES = [
    {"Id": QBO_STANDARD_CODE, "Name": "20.0% S", "Active": True, "Taxable": True,
     "PurchaseTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "1"}, "TaxTypeApplicable": "TaxOnAmount"}]}},
    {"Id": QBO_REVERSE_CODE, "Name": "20.0% RC SG", "Active": True, "Taxable": True,
     "PurchaseTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "3"}, "TaxTypeApplicable": "TaxOnAmount"}]}},
    {"Id": QBO_NO_VAT_CODE, "Name": "No VAT", "Active": True, "Taxable": False,
     "PurchaseTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "4"}}]}},
    {"Id": "3", "Name": "5.0% R", "Active": True, "Taxable": True,
     "PurchaseTaxRateList": {"TaxRateDetail": [{"TaxRateRef": {"value": "5"}}]}},
]  # fmt: skip
QBO_ACCOUNTS = [
    {"Id": QBO_EXPENSE_ACCOUNT, "Name": "Software and Technology", "AccountType": "Expense", "Active": True},
    {"Id": "79", "Name": "Advertising", "AccountType": "Expense", "Active": True},
    {"Id": QBO_AP_ACCOUNT, "Name": "Accounts Payable (Creditors)", "AccountType": "Accounts Payable", "Active": True},
    {"Id": QBO_CARD_ACCOUNT, "Name": "Business Credit Card", "AccountType": "Credit Card", "Active": True},
    {"Id": "35", "Name": "Current Account", "AccountType": "Bank", "Active": True},
]
QBO_VENDORS = [
    {"Id": QBO_VENDOR_WEDSYNC, "DisplayName": "WedSync AI Services", "Active": True},
    {"Id": QBO_VENDOR_OPENAI, "DisplayName": "OpenAI", "Active": True},
    {"Id": "58", "DisplayName": "Anthropic", "Active": True},
]
QBO_KINDS = {"bill": "Bill", "purchase": "Purchase"}


@on_reset
def _forget_quickbooks() -> None:
    with _lock:
        _qbo.clear()
        _qbo.update(documents={}, requestids={}, income={}, next_id=145)
        _qbo_limits.reset()


_forget_quickbooks()


def _qbo_fault(status: int, code: str, message: str, detail: str = "", kind: str = "ValidationFault") -> Reply:
    error = {"Message": message, "Detail": detail or message, "code": code, "element": ""}
    return Reply(status, json={"Fault": {"Error": [error], "type": kind}, "time": _now()})


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000-08:00", time.gmtime())


def _qbo_gate(request) -> Reply | None:
    """Authentication, the company and the per-company rate limit (the vendor's order)."""
    if not QUICKBOOKS_AUTH.authorised(request):
        return _qbo_fault(401, "3200", "message=AuthenticationFailed", kind="AUTHENTICATION")
    if request.match["realm"] != QBO_REALM:
        return _qbo_fault(403, "120", "Authorization failure: no access to this company", kind="AuthorizationFault")
    wait = _qbo_limits.hit(QBO_REALM)
    if wait:
        reply = _qbo_fault(429, "003001", "ThrottleExceeded", "the request limit for this company was reached")
        reply.headers["Retry-After"] = str(int(wait) + 1)
        return reply
    return None


@route("GET", r"/quickbooks/v3/company/(?P<realm>\d+)/companyinfo/(?P<id>\d+)")
def quickbooks_company(request):
    refused = _qbo_gate(request)
    if refused:
        return refused
    return Reply(200, json={"CompanyInfo": {"Id": "1", "CompanyName": QBO_COMPANY, "Country": "GB"}, "time": _now()})


_SELECT = re.compile(r"^select \* from (\w+)(?: where (.+?))?(?: maxresults (\d+))?$", re.IGNORECASE)
_CONDITION = re.compile(r"^(\w+) = (?:'((?:[^'\\]|\\.)*)'|(true|false))$", re.IGNORECASE)


@route("GET", r"/quickbooks/v3/company/(?P<realm>\d+)/query")
def quickbooks_query(request):
    refused = _qbo_gate(request)
    if refused:
        return refused
    statement = (request.query.get("query") or [""])[0].strip()
    found = _SELECT.match(statement)
    if not found:
        return _qbo_fault(400, "4000", "Error parsing query", statement)
    entity, where = found.group(1), found.group(2)
    tables = {"TaxCode": QBO_TAX_CODES, "TaxRate": QBO_TAX_RATES, "Account": QBO_ACCOUNTS, "Vendor": QBO_VENDORS}
    with _lock:
        rows = tables.get(entity) or [d for d in _qbo["documents"].values() if d["__entity"] == entity]
        rows = [_qbo_view(row) for row in rows]
    for condition in re.split(r"\s+and\s+", where or "", flags=re.IGNORECASE) if where else []:
        term = _CONDITION.match(condition.strip())
        if not term:
            return _qbo_fault(400, "4000", "Error parsing query", condition)
        name, text, flag = term.groups()
        wanted = (flag.lower() == "true") if flag else re.sub(r"\\(.)", r"\1", text)
        rows = [row for row in rows if row.get(name) == wanted]
    body = {"QueryResponse": {entity: rows, "startPosition": 1, "maxResults": len(rows)} if rows else {},
            "time": _now()}  # fmt: skip
    return Reply(200, json=body)


def _qbo_view(row: dict) -> dict:
    """A stored document as QuickBooks shows it now (after a user's edit, if any)."""
    if "__entity" not in row:
        return row
    view = copy.deepcopy(_plain(row))
    if row.get("__amount"):
        view["Line"][0]["Amount"] = float(row["__amount"])
        tax = Decimal(str(view.get("TxnTaxDetail", {}).get("TotalTax", 0)))
        view["TotalAmt"] = float(Decimal(row["__amount"]) + tax)
    return view


@route("POST", r"/quickbooks/v3/company/(?P<realm>\d+)/(?P<kind>bill|purchase)")
def quickbooks_create(request):
    refused = _qbo_gate(request)
    if refused:
        return refused
    requestid = (request.query.get("requestid") or [""])[0]
    with _lock:
        if requestid and requestid in _qbo["requestids"]:
            status, body = _qbo["requestids"][requestid]  # a repeat gets the original answer, nothing new
            return Reply(status, json=body)
        reply = _qbo_create(request.match["kind"], _json(request), request.query)
        if requestid:
            _qbo["requestids"][requestid] = (reply.status, reply.json)
        return reply


def _qbo_create(kind: str, doc: dict, query: dict) -> Reply:
    entity = QBO_KINDS[kind]
    vendors = {v["Id"] for v in QBO_VENDORS}
    accounts = {a["Id"]: a for a in QBO_ACCOUNTS}
    codes = {c["Id"]: c for c in QBO_TAX_CODES}
    rates = {r["Id"]: Decimal(str(r["RateValue"])) for r in QBO_TAX_RATES}
    vendor = (doc.get("VendorRef") or doc.get("EntityRef") or {}).get("value")
    if vendor not in vendors:
        return _qbo_fault(400, "610", "Object Not Found", f"Something you're trying to use has been made inactive "
                          f"or deleted: Vendor {vendor}")  # fmt: skip
    number = str(doc.get("DocNumber", ""))
    if len(number) > 21:
        return _qbo_fault(400, "6000", "A business validation error has occurred", "DocNumber is over 21 characters")
    taken = any(d["DocNumber"] == number and d["__entity"] == entity for d in _qbo["documents"].values())
    if number and taken and "allowduplicatedocnum" not in (query.get("include") or [""])[0]:
        return _qbo_fault(400, "6140", "Duplicate Document Number Error",
                          f"Duplicate Document Number Error : You must specify a different number. This number "
                          f"has already been used. DocNumber={number}")  # fmt: skip
    taxed = doc.get("GlobalTaxCalculation") != "NotApplicable"
    lines, tax = [], Decimal("0.00")
    for number_, line in enumerate(doc.get("Line") or [], start=1):
        detail = line.get("AccountBasedExpenseLineDetail") or {}
        account = accounts.get((detail.get("AccountRef") or {}).get("value"))
        if line.get("DetailType") != "AccountBasedExpenseLineDetail" or account is None:
            missing = "Required parameter Line.AccountBasedExpenseLineDetail.AccountRef is missing"
            return _qbo_fault(400, "2020", "Required param missing, need to supply the required value", missing)
        code = codes.get((detail.get("TaxCodeRef") or {}).get("value"))
        if taxed and code is None:
            return _qbo_fault(400, "6000", "A business validation error has occurred",
                              "Make sure all your transactions have a VAT rate before you save.")  # fmt: skip
        amount = Decimal(str(line.get("Amount", 0)))
        if taxed and "RC" not in code["Name"].split():
            rate_ids = [d["TaxRateRef"]["value"] for d in code["PurchaseTaxRateList"]["TaxRateDetail"]]
            tax += _half_up(amount * rates[rate_ids[0]] / 100)
        lines.append({**line, "Id": str(number_), "LineNum": number_, "Amount": float(amount)})
    if doc.get("TxnTaxDetail", {}).get("TotalTax") is not None:
        tax = Decimal(str(doc["TxnTaxDetail"]["TotalTax"]))  # the caller's figure overrides QuickBooks' sum
    net = sum((Decimal(str(line["Amount"])) for line in lines), Decimal("0.00"))
    entity_id = str(_qbo["next_id"])
    _qbo["next_id"] += 1
    stored = {**doc, "Id": entity_id, "SyncToken": "0", "Line": lines, "TotalAmt": float(net + tax),
              "TxnTaxDetail": {"TotalTax": float(tax)}, "MetaData": {"CreateTime": _now()},
              "__entity": entity, "__realm": QBO_REALM}  # fmt: skip
    _qbo["documents"][entity_id] = stored
    return Reply(200, json={entity: _qbo_view(stored), "time": _now()})


@route("GET", r"/quickbooks/v3/company/(?P<realm>\d+)/(?P<kind>bill|purchase)/(?P<id>\d+)")
def quickbooks_read(request):
    refused = _qbo_gate(request)
    if refused:
        return refused
    with _lock:
        stored = _qbo["documents"].get(request.match["id"])
        if stored is None or stored.get("__void") or stored["__entity"] != QBO_KINDS[request.match["kind"]]:
            return _qbo_fault(400, "610", "Object Not Found", "Object Not Found : Something you're trying to use has "
                              "been made inactive or deleted")  # fmt: skip
        return Reply(200, json={stored["__entity"]: _qbo_view(stored), "time": _now()})


@route("GET", r"/quickbooks/v3/company/(?P<realm>\d+)/reports/ProfitAndLoss")
def quickbooks_profit_and_loss(request):
    refused = _qbo_gate(request)
    if refused:
        return refused
    with _lock:
        income = _qbo["income"].get(QBO_REALM, "25000.00")
    start, end = (request.query.get("start_date") or [""])[0], (request.query.get("end_date") or [""])[0]
    return Reply(200, json={
        "Header": {"ReportName": "ProfitAndLoss", "StartPeriod": start, "EndPeriod": end, "Currency": "GBP"},
        "Columns": {"Column": [{"ColTitle": "", "ColType": "Account"}, {"ColTitle": "Total", "ColType": "Money"}]},
        "Rows": {"Row": [
            {"Header": {"ColData": [{"value": "Income"}, {"value": ""}]},
             "Rows": {"Row": [{"ColData": [{"value": "Sales", "id": "1"}, {"value": income}], "type": "Data"}]},
             "Summary": {"ColData": [{"value": "Total Income"}, {"value": income}]}, "type": "Section",
             "group": "Income"},
            {"Summary": {"ColData": [{"value": "Gross Profit"}, {"value": income}]}, "type": "Section",
             "group": "GrossProfit"},
        ]},
    })  # fmt: skip


@route("GET", "/quickbooks/__ledger")
@route("POST", "/quickbooks/__ledger")
def quickbooks_ledger(request):
    return _ledger_control(_qbo, _qbo_limits, request, _qbo["documents"])


# == Xero ====================================================================================================
XERO_AUTH = AuthorizationServer(
    "/xero", authorize_path="/identity/connect/authorize", token_path="/identity/connect/token", access_lifetime=1800,
    rotates=True, reuse_grace=1800, client_auth="basic", name="Xero",
).install()  # fmt: skip

_xero: dict = {}
_xero_limits = _MinuteLimit(60)
XERO_TENANTS = {XERO_TENANT: XERO_TENANT_NAME, XERO_OTHER_TENANT: XERO_OTHER_TENANT_NAME}
XERO_TAX_RATES = [
    {"Name": "20% (VAT on Expenses)", "TaxType": "INPUT2", "ReportTaxType": "INPUT", "CanApplyToExpenses": True,
     "CanApplyToRevenue": False, "DisplayTaxRate": 20.0, "EffectiveRate": 20.0, "Status": "ACTIVE"},
    {"Name": "20% (VAT on Income)", "TaxType": "OUTPUT2", "ReportTaxType": "OUTPUT", "CanApplyToExpenses": False,
     "CanApplyToRevenue": True, "DisplayTaxRate": 20.0, "EffectiveRate": 20.0, "Status": "ACTIVE"},
    {"Name": "20% (VAT on Capital Purchases)", "TaxType": "CAPEXINPUT2", "ReportTaxType": "INPUT",
     "CanApplyToExpenses": True, "CanApplyToRevenue": False, "DisplayTaxRate": 20.0, "EffectiveRate": 20.0,
     "Status": "ACTIVE"},
    {"Name": "Reverse Charge Expenses (20%)", "TaxType": "REVERSECHARGES", "ReportTaxType": "REVERSECHARGES",
     "CanApplyToExpenses": True, "CanApplyToRevenue": False, "DisplayTaxRate": 20.0, "EffectiveRate": 20.0,
     "Status": "ACTIVE"},
    {"Name": "No VAT", "TaxType": "NONE", "ReportTaxType": "NONE", "CanApplyToExpenses": True,
     "CanApplyToRevenue": True, "DisplayTaxRate": 0.0, "EffectiveRate": 0.0, "Status": "ACTIVE"},
    {"Name": "Zero Rated Expenses", "TaxType": "ZERORATEDINPUT", "ReportTaxType": "INPUT", "CanApplyToExpenses": True,
     "CanApplyToRevenue": False, "DisplayTaxRate": 0.0, "EffectiveRate": 0.0, "Status": "ACTIVE"},
]  # fmt: skip
XERO_ACCOUNTS = [
    {"AccountID": "0d1b5e7a-0001-4e5c-8f00-000000000463", "Code": XERO_EXPENSE_CODE, "Name": "Software and Technology",
     "Type": "OVERHEADS", "Class": "EXPENSE", "Status": "ACTIVE", "TaxType": "INPUT2"},
    {"AccountID": "0d1b5e7a-0001-4e5c-8f00-000000000400", "Code": "400", "Name": "Advertising", "Type": "OVERHEADS",
     "Class": "EXPENSE", "Status": "ACTIVE", "TaxType": "INPUT2"},
    {"AccountID": "0d1b5e7a-0001-4e5c-8f00-000000000090", "Code": XERO_BANK_CODE, "Name": "Business Bank Account",
     "Type": "BANK", "Class": "ASSET", "Status": "ACTIVE"},
    {"AccountID": "0d1b5e7a-0001-4e5c-8f00-000000000200", "Code": "200", "Name": "Sales", "Type": "REVENUE",
     "Class": "REVENUE", "Status": "ACTIVE", "TaxType": "OUTPUT2"},
]  # fmt: skip
XERO_CONTACTS = [
    {"ContactID": XERO_CONTACT_WEDSYNC, "Name": "WedSync AI Services", "ContactStatus": "ACTIVE", "IsSupplier": True},
    {"ContactID": XERO_CONTACT_OPENAI, "Name": "OpenAI, L.L.C.", "ContactStatus": "ACTIVE", "IsSupplier": True},
    {"ContactID": "7b0e5d2c-9f8a-4b3c-8d1e-6f5a4b3c2d1e", "Name": "Old Supplier", "ContactStatus": "ARCHIVED"},
]
XERO_COLLECTIONS = {"Invoices": ("InvoiceID", "ACCPAY"), "BankTransactions": ("BankTransactionID", "SPEND")}
IDEMPOTENCY_SECONDS = 360


@on_reset
def _forget_xero() -> None:
    with _lock:
        _xero.clear()
        _xero.update(documents={}, keys={}, income={})
        _xero_limits.reset()


_forget_xero()


def _xero_error(status: int, message: str, kind: str = "ValidationException", **extra) -> Reply:
    number = 10 if status == 400 else status
    return Reply(status, json={"ErrorNumber": number, "Type": kind, "Message": message, **extra})


def _xero_gate(request) -> tuple[str, Reply | None]:
    if not XERO_AUTH.authorised(request):
        return "", Reply(401, json={"Type": None, "Title": "Unauthorized", "Status": 401,
                                    "Detail": "AuthenticationUnsuccessful"})  # fmt: skip
    tenant = request.headers.get("xero-tenant-id", "")
    if tenant not in XERO_TENANTS:
        return "", Reply(403, json={"Type": None, "Title": "Forbidden", "Status": 403,
                                    "Detail": "AuthorizationUnsuccessful"})  # fmt: skip
    wait = _xero_limits.hit(tenant)
    if wait:
        headers = {"Retry-After": str(int(wait) + 1), "X-Rate-Limit-Problem": "minute"}
        return tenant, Reply(429, body="", headers=headers)
    return tenant, None


def _xero_reply(tenant: str, body: dict) -> Reply:
    used = _xero_limits.counts.get((tenant, int(time.time() // 60)), 0)
    remaining = max(0, _xero_limits.per_minute.get(tenant, _xero_limits.default) - used)
    return Reply(200, json=_plain(body), headers={"X-MinLimit-Remaining": str(remaining)})


@route("GET", "/xero/connections")
def xero_connections(request):
    if not XERO_AUTH.authorised(request):
        return Reply(401, json={"Title": "Unauthorized", "Status": 401})
    event = str(uuid.UUID(hashlib.md5(request.headers.get("Authorization", "").encode()).hexdigest()))  # noqa: S324
    return [
        {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, tenant)), "authEventId": event, "tenantId": tenant,
         "tenantType": "ORGANISATION", "tenantName": name, "createdDateUtc": "2026-01-05T10:00:00.0000000",
         "updatedDateUtc": "2026-01-05T10:00:00.0000000"}
        for tenant, name in XERO_TENANTS.items()
    ]  # fmt: skip


@route("GET", r"/xero/api\.xro/2\.0/Organisation")
def xero_organisation(request):
    tenant, refused = _xero_gate(request)
    if refused:
        return refused
    organisation = {"Name": XERO_TENANTS[tenant], "CountryCode": "GB", "BaseCurrency": "GBP",
                    "OrganisationType": "COMPANY"}  # fmt: skip
    return _xero_reply(tenant, {"Organisations": [organisation]})


_WHERE_TERM = re.compile(r'^\s*([\w.]+)\s*==\s*(?:Guid\("([^"]*)"\)|"([^"]*)")\s*$', re.IGNORECASE)


def _where(rows: list[dict], expression: str) -> list[dict] | None:
    """Xero's `where` for the equality terms the providers send (joined by AND); None if not understood."""
    for term in re.split(r"\s+AND\s+|&&", expression):
        found = _WHERE_TERM.match(term)
        if not found:
            return None
        path, guid, text = found.groups()
        wanted = guid if guid is not None else text

        def value(row, path=path):
            for part in path.split("."):
                row = row.get(part) if isinstance(row, dict) else None
            return row

        rows = [row for row in rows if str(value(row)) == wanted]
    return rows


@route("GET", r"/xero/api\.xro/2\.0/(?P<what>TaxRates|Accounts|Contacts)")
def xero_records(request):
    tenant, refused = _xero_gate(request)
    if refused:
        return refused
    rows = {"TaxRates": XERO_TAX_RATES, "Accounts": XERO_ACCOUNTS, "Contacts": XERO_CONTACTS}[request.match["what"]]
    where = (request.query.get("where") or [""])[0]
    if where:
        rows = _where(rows, unquote(where))
        if rows is None:
            return _xero_error(400, f"Unsupported where clause: {where}")
    return _xero_reply(tenant, {request.match["what"]: rows})


@route("GET", r"/xero/api\.xro/2\.0/(?P<what>Invoices|BankTransactions)")
def xero_documents(request):
    tenant, refused = _xero_gate(request)
    if refused:
        return refused
    what = request.match["what"]
    with _lock:
        rows = [_xero_view(d) for d in _xero["documents"].values()
                if d["__collection"] == what and d["__tenant"] == tenant]  # fmt: skip
    where = (request.query.get("where") or [""])[0]
    if where:
        rows = _where(rows, unquote(where))
        if rows is None:
            return _xero_error(400, f"Unsupported where clause: {where}")
    return _xero_reply(tenant, {what: rows})


@route("GET", r"/xero/api\.xro/2\.0/(?P<what>Invoices|BankTransactions)/(?P<id>[0-9a-f-]{36})")
def xero_document(request):
    tenant, refused = _xero_gate(request)
    if refused:
        return refused
    with _lock:
        stored = _xero["documents"].get(request.match["id"])
        if stored is None or stored["__tenant"] != tenant:
            return Reply(404, json={"Title": "Resource Not Found", "Status": 404})
        return _xero_reply(tenant, {request.match["what"]: [_xero_view(stored)]})


def _xero_view(stored: dict) -> dict:
    view = copy.deepcopy(stored)
    if stored.get("__void"):
        view["Status"] = "VOIDED" if stored["__collection"] == "Invoices" else "DELETED"
    if stored.get("__amount"):
        view["SubTotal"] = Decimal(stored["__amount"])
        view["Total"] = view["SubTotal"] + Decimal(str(view["TotalTax"]))
    return view


@route("PUT", r"/xero/api\.xro/2\.0/(?P<what>Invoices|BankTransactions)")
def xero_create(request):
    tenant, refused = _xero_gate(request)
    if refused:
        return refused
    what = request.match["what"]
    key = request.headers.get("Idempotency-Key", "")
    if len(key) > 128:
        return _xero_error(400, "Idempotency-Key must be at most 128 characters")
    fingerprint = hashlib.sha256(request.body).hexdigest()
    with _lock:
        if key and key in _xero["keys"]:
            seen_at, seen_fingerprint, reply = _xero["keys"][key]
            if time.time() - seen_at <= IDEMPOTENCY_SECONDS:
                if seen_fingerprint != fingerprint:
                    return _xero_error(400, "Idempotency key has already been used with a different request")
                return reply  # the first answer again: nothing created twice
        reply = _xero_create(tenant, what, _json(request), request.query)
        if key:
            _xero["keys"][key] = (time.time(), fingerprint, reply)
        return reply


def _xero_create(tenant: str, what: str, body: dict, query: dict) -> Reply:
    id_field, kind = XERO_COLLECTIONS[what]
    summarize = (query.get("summarizeErrors") or ["true"])[0].lower() != "false"
    results, failed = [], False
    for element in body.get(what) or []:
        errors = _xero_validate(kind, element)
        if errors:
            failed = True
            results.append({**element, "StatusAttributeString": "ERROR",
                            "ValidationErrors": [{"Message": message} for message in errors]})  # fmt: skip
            continue
        results.append(_xero_store(tenant, what, id_field, element))
    if failed and summarize:
        elements = [{**r, "ValidationErrors": r.get("ValidationErrors", [])} for r in results]
        return _xero_error(400, "A validation exception occurred", Elements=_plain(elements))
    return _xero_reply(tenant, {"Id": str(uuid.uuid4()), "Status": "OK", "ProviderName": "WedSync Integrations",
                                what: results})  # fmt: skip


def _xero_validate(kind: str, element: dict) -> list[str]:
    errors = []
    if element.get("Type") != kind:
        errors.append(f"Type must be {kind}")
    contact = (element.get("Contact") or {}).get("ContactID")
    active = {c["ContactID"] for c in XERO_CONTACTS if c["ContactStatus"] == "ACTIVE"}
    if contact not in active:
        errors.append("The contact specified is not valid or has been archived")
    if set(element.get("Contact") or {}) - {"ContactID"}:
        errors.append("(sandbox) extra Contact fields would edit or create the contact")
    accounts = {a["Code"] for a in XERO_ACCOUNTS if a["Status"] == "ACTIVE"}
    taxes = {r["TaxType"]: r for r in XERO_TAX_RATES if r["Status"] == "ACTIVE"}
    for line in element.get("LineItems") or []:
        if line.get("AccountCode") not in accounts:
            errors.append(f"Account code '{line.get('AccountCode')}' is not a valid code for this document.")
        tax = taxes.get(line.get("TaxType"))
        if tax is None or not tax["CanApplyToExpenses"]:
            errors.append(f"The TaxType code '{line.get('TaxType')}' cannot be used with account code "
                          f"'{line.get('AccountCode')}'.")  # fmt: skip
    if not element.get("LineItems"):
        errors.append("A document must have at least one line item")
    if kind == "SPEND" and (element.get("BankAccount") or {}).get("Code") not in {
        a["Code"] for a in XERO_ACCOUNTS if a["Type"] == "BANK"
    }:
        errors.append("The bank account specified is not valid")
    return errors


def _xero_store(tenant: str, what: str, id_field: str, element: dict) -> dict:
    taxes = {r["TaxType"]: r for r in XERO_TAX_RATES}
    no_tax = element.get("LineAmountTypes") == "NoTax"
    lines, subtotal, total_tax = [], Decimal("0.00"), Decimal("0.00")
    for line in element["LineItems"]:
        amount = _half_up(Decimal(str(line.get("Quantity", 1))) * Decimal(str(line["UnitAmount"])))
        rate = Decimal(str(taxes[line["TaxType"]]["EffectiveRate"]))
        # per line, half-up (Xero's "Rounding in Xero"); a reverse charge is self-accounted, not payable
        tax = Decimal("0.00") if no_tax or line["TaxType"] == "REVERSECHARGES" else _half_up(amount * rate / 100)
        lines.append({**line, "LineItemID": str(uuid.uuid4()), "LineAmount": amount, "TaxAmount": tax})
        subtotal += amount
        total_tax += tax
    stored = {**element, id_field: str(uuid.uuid4()), "LineItems": lines, "SubTotal": subtotal,
              "TotalTax": total_tax, "Total": subtotal + total_tax, "StatusAttributeString": "OK",
              "__collection": what, "__tenant": tenant}  # fmt: skip
    _xero["documents"][stored[id_field]] = stored
    return _xero_view(stored)


@route("GET", r"/xero/api\.xro/2\.0/Reports/ProfitAndLoss")
def xero_profit_and_loss(request):
    tenant, refused = _xero_gate(request)
    if refused:
        return refused
    with _lock:
        income = _xero["income"].get(tenant, "30000.00")
    start, end = (request.query.get("fromDate") or [""])[0], (request.query.get("toDate") or [""])[0]
    return _xero_reply(tenant, {"Reports": [{
        "ReportID": "ProfitAndLoss", "ReportName": "Profit and Loss", "ReportType": "ProfitAndLoss",
        "ReportTitles": ["Profit & Loss", XERO_TENANTS[tenant], f"{start} to {end}"],
        "Rows": [
            {"RowType": "Header", "Cells": [{"Value": ""}, {"Value": end}]},
            {"RowType": "Section", "Title": "Trading Income", "Rows": [
                {"RowType": "Row", "Cells": [{"Value": "Sales"}, {"Value": income}]},
                {"RowType": "SummaryRow", "Cells": [{"Value": "Total Trading Income"}, {"Value": income}]}]},
            {"RowType": "Section", "Title": "Gross Profit", "Rows": [
                {"RowType": "Row", "Cells": [{"Value": "Gross Profit"}, {"Value": income}]}]},
        ],
    }]})  # fmt: skip


@route("GET", "/xero/__ledger")
@route("POST", "/xero/__ledger")
def xero_ledger(request):
    return _ledger_control(_xero, _xero_limits, request, _xero["documents"])


# == FreshBooks ================================================================================================
FRESHBOOKS_AUTH = AuthorizationServer(
    "/freshbooks", authorize_path="/oauth/authorize", token_path="/auth/oauth/token", access_lifetime=43200,
    rotates=True, reuse_grace=0, client_auth="post", name="FreshBooks",
).install()  # fmt: skip

_freshbooks: dict = {}
_freshbooks_limits = _MinuteLimit(10_000)  # FreshBooks publishes no limit; tests may set one
FRESHBOOKS_CATEGORIES = [
    {"categoryid": FRESHBOOKS_CATEGORY, "category": "Software and Technology", "parentid": None, "vis_state": 0},
    {"categoryid": 2003175, "category": "Advertising", "parentid": None, "vis_state": 0},
    {"categoryid": 2003176, "category": "Old category", "parentid": None, "vis_state": 1},
]
FRESHBOOKS_STAFF_MEMBERS = [
    {"id": FRESHBOOKS_STAFF, "fname": "Poppy", "lname": "Stem", "email": FRESHBOOKS_EMAIL, "vis_state": 0},
    {"id": 2, "fname": "Ivy", "lname": "Petal", "email": "ivy@petalandstem.example", "vis_state": 0},
]
FRESHBOOKS_TAXES = [{"taxid": 7, "name": "VAT", "amount": "20", "number": "GB123456782"}]


@on_reset
def _forget_freshbooks() -> None:
    with _lock:
        _freshbooks.clear()
        _freshbooks.update(documents={}, next_id=9001)
        _freshbooks_limits.reset()


_forget_freshbooks()


def _fb_errors(status: int, *errors: tuple[str, str]) -> Reply:
    return Reply(status, json={"response": {"errors": [{"errno": 2001, "field": f, "message": m, "object": "expense",
                                                        "value": ""} for f, m in errors]}})  # fmt: skip


def _fb_gate(request) -> Reply | None:
    if not FRESHBOOKS_AUTH.authorised(request):
        return Reply(401, json={"error": "unauthenticated", "error_description": "This action requires authentication"})
    if "account" in request.match and request.match["account"] != FRESHBOOKS_ACCOUNT:
        refusal = {"errno": 1003, "message": "The server could not verify that you are authorized to access the URL"}
        return Reply(403, json={"response": {"errors": [refusal]}})
    wait = _freshbooks_limits.hit(FRESHBOOKS_ACCOUNT)
    if wait:
        return Reply(429, json={"message": "Too Many Requests"}, headers={"Retry-After": str(int(wait) + 1)})
    return None


def _fb_list(key: str, rows: list[dict]) -> Reply:
    return Reply(200, json={"response": {"result": {key: rows, "page": 1, "pages": 1, "per_page": 100,
                                                    "total": len(rows)}}})  # fmt: skip


@route("GET", "/freshbooks/auth/api/v1/users/me")
def freshbooks_me(request):
    refused = _fb_gate(request)
    if refused:
        return refused
    return {"response": {"id": 789, "identity_id": 789, "first_name": "Poppy", "last_name": "Stem",
                         "email": FRESHBOOKS_EMAIL, "business_memberships": [
                             {"id": 1, "role": "owner", "business": {"id": 456, "business_uuid": str(uuid.uuid5(
                                 uuid.NAMESPACE_DNS, FRESHBOOKS_ACCOUNT)), "name": FRESHBOOKS_BUSINESS,
                                 "account_id": FRESHBOOKS_ACCOUNT}}]}}  # fmt: skip


@route("GET", r"/freshbooks/accounting/account/(?P<account>\w+)/expenses/categories")
def freshbooks_categories(request):
    return _fb_gate(request) or _fb_list("categories", FRESHBOOKS_CATEGORIES)


@route("GET", r"/freshbooks/accounting/account/(?P<account>\w+)/users/staffs")
def freshbooks_staff(request):
    return _fb_gate(request) or _fb_list("staff", FRESHBOOKS_STAFF_MEMBERS)


@route("GET", r"/freshbooks/accounting/account/(?P<account>\w+)/taxes/taxes")
def freshbooks_taxes(request):
    return _fb_gate(request) or _fb_list("taxes", FRESHBOOKS_TAXES)


def _fb_view(stored: dict) -> dict:
    view = copy.deepcopy(_plain(stored))
    if stored.get("__void"):
        view["vis_state"] = 1
    if stored.get("__amount"):
        view["amount"] = {**view["amount"], "amount": stored["__amount"]}
    return view


@route("GET", r"/freshbooks/accounting/account/(?P<account>\w+)/expenses/expenses")
def freshbooks_expenses(request):
    refused = _fb_gate(request)
    if refused:
        return refused

    def arg(name):
        return (request.query.get(name) or [None])[0]

    with _lock:
        rows = [_fb_view(d) for d in _freshbooks["documents"].values()]
    if arg("search[date_min]"):
        rows = [r for r in rows if r["date"] >= arg("search[date_min]")]
    if arg("search[date_max]"):
        rows = [r for r in rows if r["date"] <= arg("search[date_max]")]
    if arg("search[categoryid]"):
        rows = [r for r in rows if str(r["categoryid"]) == arg("search[categoryid]")]
    return _fb_list("expenses", rows)


@route("GET", r"/freshbooks/accounting/account/(?P<account>\w+)/expenses/expenses/(?P<id>\d+)")
def freshbooks_expense(request):
    refused = _fb_gate(request)
    if refused:
        return refused
    with _lock:
        stored = _freshbooks["documents"].get(request.match["id"])
    if stored is None:
        missing = {"errno": 1012, "field": "expenseid", "message": "Expense not found.", "object": "expense"}
        return Reply(404, json={"response": {"errors": [missing]}})
    return {"response": {"result": {"expense": _fb_view(stored)}}}


@route("POST", r"/freshbooks/accounting/account/(?P<account>\w+)/expenses/expenses")
def freshbooks_create(request):
    refused = _fb_gate(request)
    if refused:
        return refused
    expense = _json(request).get("expense") or {}
    problems = []
    if expense.get("categoryid") not in {c["categoryid"] for c in FRESHBOOKS_CATEGORIES if not c["vis_state"]}:
        problems.append(("categoryid", "Expense category not found."))
    if expense.get("staffid") not in {s["id"] for s in FRESHBOOKS_STAFF_MEMBERS}:
        problems.append(("staffid", "Staff not found."))
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(expense.get("date", ""))):
        problems.append(("date", "date is required (YYYY-MM-DD)"))
    amount = (expense.get("amount") or {}).get("amount")
    if amount is None:
        problems.append(("amount", "amount is required"))
    if problems:
        return _fb_errors(422, *problems)
    with _lock:
        entity_id = _freshbooks["next_id"]
        _freshbooks["next_id"] += 1
        stored = {**expense, "expenseid": entity_id, "id": entity_id, "accountid": FRESHBOOKS_ACCOUNT, "vis_state": 0,
                  "amount": {"amount": _money(amount), "code": expense["amount"].get("code", "GBP")},
                  "updated": time.strftime("%Y-%m-%d %H:%M:%S")}  # fmt: skip
        _freshbooks["documents"][str(entity_id)] = stored
    return {"response": {"result": {"expense": _fb_view(stored)}}}


@route("GET", "/freshbooks/__ledger")
@route("POST", "/freshbooks/__ledger")
def freshbooks_ledger(request):
    return _ledger_control(_freshbooks, _freshbooks_limits, request, _freshbooks["documents"])
