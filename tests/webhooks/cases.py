"""One valid, correctly signed request per source, built from the vendors' documented formats,
and how to tamper with it. Used by the parametrised endpoint tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from . import vendors

PUBLIC = "https://hooks.wedsync.example"
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PD_SECRET = "pd-subscription-secret-0001"
TWILIO_TOKEN = "0123456789abcdef0123456789abcdef"
SHARED_TOKEN = "dd-shared-token-AAAAAAAAAAAAAAAAAAAA"
TAVE_TOKEN = "tave-url-token-0123456789abcdefghijklmnop"
WHSEC = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
QBO_VERIFIER = "qbo-verifier-token-0001"
XERO_KEY = "xero-webhook-key-0001"
FB_VERIFIER = "freshbooks-verifier-0001"


@dataclass
class Req:
    body: bytes
    headers: dict
    content_type: str = "application/json"
    query: str = ""


ACCEPTED = b'{"status": "accepted", "received": 1, "duplicates": 0}'
EMPTY_TWIML = b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


@dataclass
class Case:
    source: str
    secret: str
    build: Callable[[str, int], Req]  # (org slug, n) -> a valid request for event n
    tamper: Callable[[Req], Req]  # -> the same request with signed content or credential changed
    unsign: Callable[[Req], Req]  # -> the request without its signature / token
    event_type: str
    stale: Callable[[str, int], Req] | None = None  # a request signed too long ago (timestamp schemes)
    settings: dict = field(default_factory=dict)
    reply: tuple[int, bytes] = (200, ACCEPTED)  # what the vendor's contract says we answer

    def __str__(self):
        return self.source


def _drop(*names):
    return lambda r: replace(r, headers={k: v for k, v in r.headers.items() if k not in names})


def _swap_body(old: bytes, new: bytes):
    def tamper(r: Req) -> Req:
        assert old in r.body
        return replace(r, body=r.body.replace(old, new, 1))

    return tamper


# -- slack ---------------------------------------------------------------------------------------------
def _slack_body(n: int) -> bytes:
    payload = {
        "type": "block_actions",
        "token": "deprecated-verification-token",
        "user": {"id": "U2CERLKJA", "username": "roadrunner", "team_id": "T1DC2JH3J"},
        "team": {"id": "T1DC2JH3J", "domain": "wedsync"},
        "container": {"type": "message", "message_ts": f"1781350000.{n:06d}", "channel_id": "C1"},
        "trigger_id": f"398738663015.47445629121.{n:032x}",
        "response_url": "https://hooks.slack.com/actions/T1/1/abc",
        "actions": [{"type": "button", "action_id": "alert_ack", "block_id": "al_42:actions", "value": "al_42",
                     "action_ts": f"1781350010.{n:06d}"}],
    }  # fmt: skip
    return vendors.form({"payload": json.dumps(payload)})


def _slack(slug, n, ts=None):
    body = _slack_body(n)
    return Req(body, vendors.slack_headers(SLACK_SECRET, body, ts), "application/x-www-form-urlencoded")


# -- pagerduty ----------------------------------------------------------------------------------------
def _pagerduty(slug, n):
    body = vendors.as_json(
        {"event": {"id": f"01PDEVENT{n:05d}", "event_type": "incident.acknowledged", "resource_type": "incident",
                   "occurred_at": "2026-06-13T14:05:00.000Z", "agent": None,
                   "data": {"id": "PDEMO01", "type": "incident", "status": "acknowledged",
                            "incident_key": "wedsync:acme:al_42"}}}
    )  # fmt: skip
    return Req(body, vendors.pagerduty_headers(PD_SECRET, body, webhook_id=f"wh-{n}"))


# -- twilio ------------------------------------------------------------------------------------------------
def _twilio(slug, n):
    params = {
        "MessageSid": f"SM{n:032x}",
        "MessageStatus": "delivered",
        "AccountSid": "AC" + "a" * 32,
        "From": "+447700900001",
        "To": "+447700900123",
        "ApiVersion": "2010-04-01",
        "SmsSid": f"SM{n:032x}",
        "SmsStatus": "delivered",
    }
    url = f"{PUBLIC}{vendors.API}/twilio/{slug}/"
    headers = {"X-Twilio-Signature": vendors.twilio_signature(TWILIO_TOKEN, url, params)}
    return Req(vendors.form(params), headers, "application/x-www-form-urlencoded")


# -- datadog / newrelic (shared secret header) ------------------------------------------------------------
def _datadog(slug, n):
    body = vendors.as_json({"id": str(7_000_000 + n), "alert_id": "123", "alert_transition": "Triggered",
                            "title": "[Triggered] AI latency high", "priority": "P1"})  # fmt: skip
    return Req(body, {"Authorization": f"Bearer {SHARED_TOKEN}"})


def _newrelic(slug, n):
    body = vendors.as_json({"issueId": f"issue-{n}", "state": "ACTIVATED", "updatedAt": 1781350000000 + n,
                            "title": "AI error rate", "priority": "CRITICAL"})  # fmt: skip
    return Req(body, {"Authorization": f"Bearer {SHARED_TOKEN}"})


def _wrong_token(r: Req) -> Req:
    return replace(r, headers={**r.headers, "Authorization": "Bearer " + SHARED_TOKEN[:-1] + "B"})


# -- tave (URL token) ----------------------------------------------------------------------------------------
def _tave(slug, n):
    return Req(
        vendors.as_json({"targetId": f"01h35ccwymj5ctckp8px{n:06d}"}),
        {},
        query=f"token={TAVE_TOKEN}&event=contact.created",
    )


def _tave_wrong(r: Req) -> Req:
    return replace(r, query=r.query.replace(TAVE_TOKEN, TAVE_TOKEN[:-1] + "X"))


def _tave_unsigned(r: Req) -> Req:
    return replace(r, query="event=contact.created")


# -- Standard Webhooks sources --------------------------------------------------------------------------------
def _standard(event_type):
    def build(slug, n, ts=None):
        body = vendors.as_json({"type": event_type, "timestamp": "2026-06-13T14:00:00Z", "data": {"id": f"c_{n}"}})
        return Req(body, vendors.standard_headers(WHSEC, f"msg_{slug}_{n}", body, ts))

    return build


# -- accounting ------------------------------------------------------------------------------------------------
def _quickbooks(slug, n):
    body = vendors.as_json([{"specversion": "1.0", "id": f"evt-{n}", "source": "intuit.qbo",
                             "type": "qbo.bill.created.v1", "time": "2026-06-01T10:00:00Z",
                             "intuitentityid": str(140 + n), "intuitaccountid": "9130355", "data": {}}])  # fmt: skip
    return Req(body, {"intuit-signature": vendors.b64_body_hmac(QBO_VERIFIER, body)})


def _xero(slug, n):
    body = vendors.as_json({"events": [{"resourceUrl": f"https://api.xero.com/api.xro/2.0/Invoices/{n}",
                                        "resourceId": f"0e9f2f0a-0000-4000-8000-{n:012d}",
                                        "eventDateUtc": "2026-06-01T10:00:00.000", "eventType": "CREATE",
                                        "eventCategory": "INVOICE", "tenantType": "ORGANISATION",
                                        "tenantId": "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f"}],
                            "firstEventSequence": n, "lastEventSequence": n, "entropy": "S0M3ENTR0PY"})  # fmt: skip
    return Req(body, {"x-xero-signature": vendors.b64_body_hmac(XERO_KEY, body)})


def _freshbooks(slug, n):
    form = f"name=expense.create&object_id={1000 + n}&account_id=aBcD1&business_id=456&identity_id=789&user_id=1"
    return Req(
        form.encode(),
        {"X-FreshBooks-Hmac-SHA256": vendors.freshbooks_signature(FB_VERIFIER, form)},
        "application/x-www-form-urlencoded",
    )


CASES = [
    Case("slack", SLACK_SECRET, _slack, _swap_body(b"alert_ack", b"alert_res"), _drop("X-Slack-Signature"),
         "block_actions", stale=lambda slug, n: _slack(slug, n, ts=vendors.now() - 301), reply=(200, b"")),
    Case("pagerduty", PD_SECRET, _pagerduty, _swap_body(b"acknowledged", b"acknowledgex"),
         _drop("X-PagerDuty-Signature"), "incident.acknowledged", reply=(202, b"")),
    Case("twilio", TWILIO_TOKEN, _twilio, _swap_body(b"MessageStatus=delivered", b"MessageStatus=failed"),
         _drop("X-Twilio-Signature"), "message.status", reply=(200, EMPTY_TWIML)),
    Case("datadog", SHARED_TOKEN, _datadog, _wrong_token, _drop("Authorization"), "alert"),
    Case("newrelic", SHARED_TOKEN, _newrelic, _wrong_token, _drop("Authorization"), "alert"),
    Case("tave", TAVE_TOKEN, _tave, _tave_wrong, _tave_unsigned, "contact.created"),
    Case("honeybook", WHSEC, _standard("client.created"), _swap_body(b"client.created", b"client.deleted"),
         _drop("webhook-signature"), "client.created",
         stale=lambda slug, n: _standard("client.created")(slug, n, ts=vendors.now() - 301)),
    Case("generic", WHSEC, _standard("crm.client.created"), _swap_body(b'"c_', b'"d_'), _drop("webhook-signature"),
         "crm.client.created", stale=lambda slug, n: _standard("crm.client.created")(slug, n, ts=vendors.now() + 301)),
    Case("quickbooks", QBO_VERIFIER, _quickbooks, _swap_body(b"qbo.bill.created", b"qbo.bill.deleted"),
         _drop("intuit-signature"), "qbo.bill.created.v1"),
    Case("xero", XERO_KEY, _xero, _swap_body(b"CREATE", b"UPDATE"), _drop("x-xero-signature"), "invoice.create",
         reply=(200, b"")),
    Case("freshbooks", FB_VERIFIER, _freshbooks, _swap_body(b"expense.create", b"expense.delete"),
         _drop("X-FreshBooks-Hmac-SHA256"), "expense.create"),
]  # fmt: skip
