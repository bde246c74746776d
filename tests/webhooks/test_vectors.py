"""Every published (and self-computed) test vector in docs/vendors/, checked against the scheme
classes, plus the negative case next to each one."""

from __future__ import annotations

import pytest

from webhooks.models import RejectReason
from webhooks.verification import (
    FreshBooksSignature,
    InboundRequest,
    IntuitSignature,
    PagerDutyV3,
    Rejected,
    SlackV0,
    StandardWebhooks,
    TwilioSignature,
    XeroSignature,
)
from wedsync_integrations.integrations.signing import standard_webhooks_headers, standard_webhooks_signature


def request(body: bytes, headers: dict, *, url="https://hooks.example/", query=None, at=0.0, content_type=""):
    return InboundRequest(
        body=body,
        headers={k.lower(): v for k, v in headers.items()} | headers,
        public_url=url,
        query=query or {},
        content_type=content_type,
        received_at=at,
    )


def rejected(scheme, req, secrets) -> str:
    with pytest.raises(Rejected) as info:
        scheme.verify(req, secrets)
    return info.value.reason


# -- Standard Webhooks (published: reference library test_sign_function) -------------------------
SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_ID, SW_TS, SW_BODY = "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}'
SW_SIG = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def _sw(signature: str, at: float = SW_TS + 10) -> InboundRequest:
    headers = {"webhook-id": SW_ID, "webhook-timestamp": str(SW_TS), "webhook-signature": signature}
    return request(SW_BODY, headers, at=at)


def test_standard_webhooks_published_vector_signs_and_verifies():
    assert standard_webhooks_signature(SW_SECRET, SW_ID, SW_TS, SW_BODY) == SW_SIG
    StandardWebhooks().verify(_sw(SW_SIG), [SW_SECRET])


def test_standard_webhooks_published_negative_vector_is_rejected():
    bad = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA="
    assert rejected(StandardWebhooks(), _sw(bad), [SW_SECRET]) == RejectReason.BAD_SIGNATURE


def test_standard_webhooks_accepts_any_of_several_signatures_and_ignores_unknown_versions():
    header = f"v1a,c29tZXRoaW5nLWVsc2U= v1,bm90LXRoZS1yaWdodC1vbmU= {SW_SIG}"
    StandardWebhooks().verify(_sw(header), [SW_SECRET])


def test_standard_webhooks_timestamp_tolerance_is_five_minutes_either_way():
    StandardWebhooks().verify(_sw(SW_SIG, at=SW_TS + 300), [SW_SECRET])
    StandardWebhooks().verify(_sw(SW_SIG, at=SW_TS - 300), [SW_SECRET])
    assert rejected(StandardWebhooks(), _sw(SW_SIG, at=SW_TS + 301), [SW_SECRET]) == RejectReason.STALE_TIMESTAMP
    assert rejected(StandardWebhooks(), _sw(SW_SIG, at=SW_TS - 301), [SW_SECRET]) == RejectReason.STALE_TIMESTAMP


def test_standard_webhooks_rotation_signs_with_every_active_secret():
    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk="
    headers = standard_webhooks_headers([other, SW_SECRET], SW_ID, SW_TS, SW_BODY)
    assert headers["webhook-signature"].split(" ")[1] == SW_SIG
    StandardWebhooks().verify(request(SW_BODY, headers, at=SW_TS), [SW_SECRET])


# -- Slack (published: "Verifying requests from Slack") --------------------------------------------
SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_TS = 1531420618
SLACK_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
    b"channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
    b"response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
    b"trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_SIG = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def _slack(signature=SLACK_SIG, body=SLACK_BODY, at=SLACK_TS + 5, ts=SLACK_TS):
    return request(body, {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": str(ts)}, at=at)


def test_slack_published_vector_verifies():
    SlackV0().verify(_slack(), [SLACK_SECRET])


def test_slack_vector_rejected_with_one_byte_changed_or_outside_five_minutes():
    assert rejected(SlackV0(), _slack(body=SLACK_BODY.replace(b"foobar", b"foobaz")), [SLACK_SECRET]) == "bad_signature"
    assert rejected(SlackV0(), _slack(at=SLACK_TS + 301), [SLACK_SECRET]) == RejectReason.STALE_TIMESTAMP
    assert rejected(SlackV0(), _slack(ts=SLACK_TS + 1), [SLACK_SECRET]) == RejectReason.BAD_SIGNATURE


# -- Twilio (published: twilio-python test suite, auth token 12345) ---------------------------------
TWILIO_TOKEN = "12345"
TWILIO_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
TWILIO_PARAMS = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212"


@pytest.mark.parametrize(
    "url, signature",
    [
        (TWILIO_URL, "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        ("https://mycompany.com:443/myapp.php?foo=1&bar=2", "kvajT1Ptam85bY51eRf/AJRuM3w="),
        # the official validator accepts the port-less signature for the :443 URL, and vice versa
        ("https://mycompany.com:443/myapp.php?foo=1&bar=2", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
        (TWILIO_URL, "kvajT1Ptam85bY51eRf/AJRuM3w="),
    ],
)
def test_twilio_published_vectors_verify_with_and_without_default_port(url, signature):
    TwilioSignature().verify(request(TWILIO_PARAMS, {"X-Twilio-Signature": signature}, url=url), [TWILIO_TOKEN])


def test_twilio_published_vector_with_repeated_keys_sorted_by_name_then_value():
    body = b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234"
    req = request(body, {"X-Twilio-Signature": "IK+Dwps556ElfBT0I3Rgjkr1wJU="}, url=TWILIO_URL)
    TwilioSignature().verify(req, [TWILIO_TOKEN])


def test_twilio_published_json_body_vector_checks_body_hash_and_signed_url():
    body = b'{"property": "value", "boolean": true}'
    digest = "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
    url = f"{TWILIO_URL}&bodySHA256={digest}"
    req = request(body, {"X-Twilio-Signature": "a9nBmqA0ju/hNViExpshrM61xv4="}, url=url, query={"bodySHA256": digest})
    TwilioSignature().verify(req, [TWILIO_TOKEN])
    tampered = request(body.replace(b"value", b"va1ue"), req.headers, url=url, query={"bodySHA256": digest})
    assert rejected(TwilioSignature(), tampered, [TWILIO_TOKEN]) == RejectReason.BAD_SIGNATURE


def test_twilio_vector_rejected_when_a_parameter_or_the_url_changes():
    changed = TWILIO_PARAMS.replace(b"Digits=1234", b"Digits=1235")
    req = request(changed, {"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="}, url=TWILIO_URL)
    assert rejected(TwilioSignature(), req, [TWILIO_TOKEN]) == RejectReason.BAD_SIGNATURE
    other_url = request(TWILIO_PARAMS, {"X-Twilio-Signature": "RSOYDt4T1cUTdK1PDd93/VVr8B8="}, url=TWILIO_URL + "&x=1")
    assert rejected(TwilioSignature(), other_url, [TWILIO_TOKEN]) == RejectReason.BAD_SIGNATURE


# -- PagerDuty v3 (self-computed; no official vector exists) -----------------------------------------
PD_SECRET = "whsec-test-pd-0001"
PD_BODY = (
    b'{"event":{"id":"01DEMO","event_type":"incident.acknowledged","resource_type":"incident",'
    b'"occurred_at":"2026-06-13T14:05:00.000Z","data":{"id":"PDEMO01","type":"incident","status":"acknowledged",'
    b'"incident_key":"wedsync-alert-42"}}}'
)
PD_SIG = "v1=2b0a92909239068edb5b28d9ad2dc7d2a3312d63f2b09890cabf6a1869085ea4"


def test_pagerduty_self_computed_vector_and_rotation():
    assert len(PD_BODY) == 230
    PagerDutyV3().verify(request(PD_BODY, {"X-PagerDuty-Signature": PD_SIG}), [PD_SECRET])
    rotation = "v1=" + "0" * 64 + "," + PD_SIG  # a wrong (old-secret) value first, as during rotation
    PagerDutyV3().verify(request(PD_BODY, {"X-PagerDuty-Signature": rotation}), [PD_SECRET])
    only_wrong = request(PD_BODY, {"X-PagerDuty-Signature": "v1=" + "0" * 64})
    assert rejected(PagerDutyV3(), only_wrong, [PD_SECRET]) == RejectReason.BAD_SIGNATURE
    unknown_version = request(PD_BODY, {"X-PagerDuty-Signature": PD_SIG.replace("v1=", "v2=")})
    assert rejected(PagerDutyV3(), unknown_version, [PD_SECRET]) == RejectReason.MISSING_SIGNATURE


# -- QuickBooks, Xero, FreshBooks (self-computed, docs/vendors/inbound-signatures.md) --------------
def test_quickbooks_self_computed_vector():
    body = (
        b'[{"specversion":"1.0","id":"evt-1","type":"qbo.purchase.created.v1","intuitentityid":"42",'
        b'"intuitaccountid":"9130355"}]'
    )
    req = request(body, {"intuit-signature": "N8z3JID2UoK5X6z+xxu8XAaMoianjcsj/JjbSjk9qHY="})
    IntuitSignature().verify(req, ["wedsync-test-verifier-token"])
    assert rejected(IntuitSignature(), req, ["another-verifier-token"]) == RejectReason.BAD_SIGNATURE


def test_xero_self_computed_intent_to_receive_vector():
    body = b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"TESTENTROPY"}'
    req = request(body, {"x-xero-signature": "2CLuW65GFlgxFITZoBM/U+EhuAMD4HZR6CoKlODLFNY="})
    XeroSignature().verify(req, ["wedsync-test-webhook-key"])
    tampered = request(body.replace(b"TESTENTROPY", b"TESTENTROPZ"), req.headers)
    assert rejected(XeroSignature(), tampered, ["wedsync-test-webhook-key"]) == RejectReason.BAD_SIGNATURE


def test_freshbooks_self_computed_vector_signs_the_fields_as_json_not_the_raw_body():
    body = b"name=expense.create&object_id=123&account_id=aBcD1&business_id=456&identity_id=789&user_id=1"
    req = request(body, {"X-FreshBooks-Hmac-SHA256": "aI4TILuN2G5xUBqqcLs5ESh+juf8bBWEpP6yrP6MUzw="})
    assert FreshBooksSignature.signed_message(req) == (
        '{"name": "expense.create", "object_id": "123", "account_id": "aBcD1", "business_id": "456", '
        '"identity_id": "789", "user_id": "1"}'
    )
    FreshBooksSignature().verify(req, ["wedsync-test-verifier"])
    reordered = request(
        b"object_id=123&name=expense.create&account_id=aBcD1&business_id=456&identity_id=789&user_id=1", req.headers
    )
    assert rejected(FreshBooksSignature(), reordered, ["wedsync-test-verifier"]) == RejectReason.BAD_SIGNATURE
