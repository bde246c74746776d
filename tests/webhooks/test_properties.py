"""Property tests: a correctly signed request verifies; any change to the signed body, the
timestamp or the signature is rejected, for every scheme."""

from __future__ import annotations

import base64

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from webhooks.verification import (
    FreshBooksSignature,
    InboundRequest,
    IntuitSignature,
    PagerDutyV3,
    Rejected,
    SharedSecretHeader,
    SlackV0,
    StandardWebhooks,
    TwilioSignature,
    UrlToken,
    XeroSignature,
)

from . import vendors

NOW = 1_780_000_000
secrets_ = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=8, max_size=40)
bodies = st.binary(min_size=0, max_size=300)
whsecs = st.binary(min_size=24, max_size=64).map(lambda key: "whsec_" + base64.b64encode(key).decode())
form_names = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", min_size=1, max_size=12
)
form_values = st.text(min_size=0, max_size=20)


def req(body, headers, *, url="https://hooks.wedsync.example/api/x/", at=NOW, query=None):
    return InboundRequest(body=body, headers=headers, public_url=url, query=query or {}, received_at=at)


@st.composite
def changed_bytes(draw, original: bytes):
    """Any different byte string: a byte flipped, inserted or removed."""
    kind = draw(st.sampled_from(["flip", "insert", "delete"] if original else ["insert"]))
    if kind == "flip":
        i = draw(st.integers(0, len(original) - 1))
        new = draw(st.integers(0, 255).filter(lambda b: b != original[i]))
        return original[:i] + bytes([new]) + original[i + 1 :]
    if kind == "insert":
        i = draw(st.integers(0, len(original)))
        return original[:i] + bytes([draw(st.integers(0, 255))]) + original[i:]
    i = draw(st.integers(0, len(original) - 1))
    return original[:i] + original[i + 1 :]


def changed_text(data, original: str) -> str:
    """A different header value. Leading/trailing whitespace is not part of an HTTP field value
    (RFC 9110 §5.5: servers strip it), so a change that only adds or removes it is no change."""
    result = data.draw(changed_bytes(original.encode("latin-1", "replace")))
    text = result.decode("latin-1")
    assume(text.strip(" \t") != original.strip(" \t"))
    return text


def assert_rejected(scheme, request, secrets):
    with pytest.raises(Rejected):
        scheme.verify(request, secrets)


# -- Slack ---------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(secret=secrets_, body=bodies, skew=st.integers(-300, 300), data=st.data())
def test_slack_any_change_is_rejected(secret, body, skew, data):
    headers = vendors.slack_headers(secret, body, NOW + skew)
    SlackV0().verify(req(body, headers), [secret])
    assert_rejected(SlackV0(), req(data.draw(changed_bytes(body)), headers), [secret])
    other_ts = data.draw(st.integers(NOW - 300, NOW + 300).filter(lambda t: t != NOW + skew))
    assert_rejected(SlackV0(), req(body, {**headers, "X-Slack-Request-Timestamp": str(other_ts)}), [secret])
    bad_sig = "v0=" + changed_text(data, headers["X-Slack-Signature"][3:])
    assert_rejected(SlackV0(), req(body, {**headers, "X-Slack-Signature": bad_sig}), [secret])
    assert_rejected(SlackV0(), req(body, headers, at=NOW + skew + data.draw(st.integers(301, 10**6))), [secret])


# -- Standard Webhooks ---------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(secret=whsecs, body=bodies, msg_id=st.from_regex(r"msg_[A-Za-z0-9]{1,24}", fullmatch=True), data=st.data())
def test_standard_webhooks_any_change_is_rejected(secret, body, msg_id, data):
    headers = vendors.standard_headers(secret, msg_id, body, NOW)
    StandardWebhooks().verify(req(body, headers), [secret])
    assert_rejected(StandardWebhooks(), req(data.draw(changed_bytes(body)), headers), [secret])
    other_ts = data.draw(st.integers(NOW - 300, NOW + 300).filter(lambda t: t != NOW))
    assert_rejected(StandardWebhooks(), req(body, {**headers, "webhook-timestamp": str(other_ts)}), [secret])
    other_id = data.draw(st.from_regex(r"msg_[A-Za-z0-9]{1,24}", fullmatch=True).filter(lambda i: i != msg_id))
    assert_rejected(StandardWebhooks(), req(body, {**headers, "webhook-id": other_id}), [secret])
    bad_sig = "v1," + changed_text(data, headers["webhook-signature"][3:])
    assert_rejected(StandardWebhooks(), req(body, {**headers, "webhook-signature": bad_sig}), [secret])


# -- schemes that sign the raw body and nothing else ----------------------------------------------
def _pagerduty(secret, body):
    return vendors.pagerduty_headers(secret, body), "X-PagerDuty-Signature"


def _xero(secret, body):
    return {"x-xero-signature": vendors.b64_body_hmac(secret, body)}, "x-xero-signature"


def _intuit(secret, body):
    return {"intuit-signature": vendors.b64_body_hmac(secret, body)}, "intuit-signature"


@pytest.mark.parametrize(
    "scheme, sign", [(PagerDutyV3(), _pagerduty), (XeroSignature(), _xero), (IntuitSignature(), _intuit)]
)
@settings(max_examples=50, deadline=None)
@given(secret=secrets_, body=bodies, data=st.data())
def test_body_signing_schemes_reject_any_change(scheme, sign, secret, body, data):
    headers, name = sign(secret, body)
    scheme.verify(req(body, headers), [secret])
    assert_rejected(scheme, req(data.draw(changed_bytes(body)), headers), [secret])
    value = headers[name]
    prefix = "v1=" if value.startswith("v1=") else ""
    bad = prefix + changed_text(data, value[len(prefix) :])
    assert_rejected(scheme, req(body, {**headers, name: bad}), [secret])
    other_secret = data.draw(secrets_.filter(lambda s: s != secret))
    assert_rejected(scheme, req(body, headers), [other_secret])


# -- Twilio signs the URL and the parsed parameters --------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(
    token=secrets_,
    params=st.lists(st.tuples(form_names, form_values), min_size=1, max_size=6),
    data=st.data(),
)
def test_twilio_any_change_to_a_parameter_or_the_url_is_rejected(token, params, data):
    url = "https://hooks.wedsync.example/api/webhooks/ai-integrations/twilio/acme/"
    body = vendors.form(params)
    headers = {"X-Twilio-Signature": vendors.twilio_signature(token, url, params)}
    TwilioSignature().verify(req(body, headers, url=url), [token])

    i = data.draw(st.integers(0, len(params) - 1))
    name, value = params[i]
    new_value = data.draw(form_values.filter(lambda v: v != value))
    changed = [*params[:i], (name, new_value), *params[i + 1 :]]
    assume(sorted(changed) != sorted(params))
    assert_rejected(TwilioSignature(), req(vendors.form(changed), headers, url=url), [token])
    assert_rejected(TwilioSignature(), req(body, headers, url=url.replace("acme", "acmf")), [token])
    bad = changed_text(data, headers["X-Twilio-Signature"])
    assert_rejected(TwilioSignature(), req(body, {"X-Twilio-Signature": bad}, url=url), [token])


# -- FreshBooks signs the fields (as JSON) ----------------------------------------------------------------
@settings(max_examples=50, deadline=None)
@given(
    verifier=secrets_,
    fields=st.dictionaries(form_names, form_values, min_size=1, max_size=6),
    data=st.data(),
)
def test_freshbooks_any_change_to_a_field_is_rejected(verifier, fields, data):
    body = vendors.form(fields).decode()
    headers = {"X-FreshBooks-Hmac-SHA256": vendors.freshbooks_signature(verifier, body)}
    FreshBooksSignature().verify(req(body.encode(), headers), [verifier])
    name = data.draw(st.sampled_from(sorted(fields)))
    changed = {**fields, name: data.draw(form_values.filter(lambda v: v != fields[name]))}
    assert_rejected(FreshBooksSignature(), req(vendors.form(changed), headers), [verifier])
    bad = changed_text(data, headers["X-FreshBooks-Hmac-SHA256"])
    assert_rejected(FreshBooksSignature(), req(body.encode(), {"X-FreshBooks-Hmac-SHA256": bad}), [verifier])


# -- shared secrets (Datadog / New Relic header, Tave URL token): only the exact secret passes --------------
@settings(max_examples=60, deadline=None)
@given(secret=secrets_, data=st.data())
def test_shared_secret_schemes_accept_only_the_exact_secret(secret, data):
    wrong = changed_text(data, secret)
    bearer, named, token = SharedSecretHeader(), SharedSecretHeader("X-WedSync-Token"), UrlToken()
    bearer.verify(req(b"{}", {"Authorization": f"Bearer {secret}"}), [secret])
    named.verify(req(b"{}", {"X-WedSync-Token": secret}), [secret])
    token.verify(req(b"{}", {}, query={"token": secret}), [secret])
    assert_rejected(bearer, req(b"{}", {"Authorization": f"Bearer {wrong}"}), [secret])
    assert_rejected(named, req(b"{}", {"X-WedSync-Token": wrong}), [secret])
    assert_rejected(token, req(b"{}", {}, query={"token": wrong}), [secret])
