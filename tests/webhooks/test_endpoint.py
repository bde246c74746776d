"""The endpoint's contract beyond one source: check order, 404s that reveal nothing, tenant
isolation, the global Slack path, handshakes (Slack, Xero, FreshBooks), peak-season limits."""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from freezegun import freeze_time

from webhooks import ratelimit
from webhooks.family import FAMILY
from webhooks.models import (
    InboundEvent,
    Priority,
    RejectedAttempt,
    RejectReason,
    WebhookAuditEntry,
    WebhookConfig,
)
from wedsync_integrations.core.tolerant_cache import forget_warnings

from . import vendors
from .cases import CASES, FB_VERIFIER, PD_SECRET, PUBLIC, SLACK_SECRET, TWILIO_TOKEN, WHSEC, XERO_KEY
from .conftest import OTHER_WHSEC

pytestmark = pytest.mark.django_db
LONDON = ZoneInfo("Europe/London")


def generic_request(secret=WHSEC, msg_id="msg_1", event_type="crm.client.created", ts=None):
    body = vendors.as_json({"type": event_type, "data": {"id": "c_1"}})
    return body, vendors.standard_headers(secret, msg_id, body, ts)


ISSUE_SOURCES = {"slack", "pagerduty", "twilio", "datadog", "newrelic", "tave", "honeybook", "quickbooks", "xero",
                 "freshbooks", "generic"}  # fmt: skip


def test_every_source_the_issue_names_is_registered_stored_and_covered_by_the_acceptance_cases():
    assert set(FAMILY.providers) == ISSUE_SOURCES
    # the stored rows' choices come from the registry: a new source needs no migration
    assert {name for name, _ in InboundEvent._meta.get_field("source").choices} == ISSUE_SOURCES
    assert {case.source for case in CASES} == ISSUE_SOURCES  # test_sources.py runs every check per source


# -- 404: unknown source, organisation or configuration look the same -------------------------------
def test_unknown_source_unknown_org_and_unconfigured_source_get_the_same_404(post, organisation, webhook_config):
    webhook_config("generic", organisation, WHSEC)
    body, headers = generic_request()
    responses = [
        post("nosuchvendor", "acme", body, headers),
        post("generic", "no-such-org", body, headers),
        post("pagerduty", "acme", body, headers),  # acme has no PagerDuty config
        post("generic", None, body, headers),  # generic has no platform-wide path
    ]
    assert {r.status_code for r in responses} == {404}
    assert len({r.content for r in responses}) == 1
    assert not RejectedAttempt.objects.exists() and not InboundEvent.objects.exists()


def test_a_disabled_config_or_inactive_organisation_is_not_an_endpoint(post, organisation, webhook_config):
    config = webhook_config("generic", organisation, WHSEC, enabled=False)
    body, headers = generic_request()
    assert post("generic", "acme", body, headers).status_code == 404
    WebhookConfig.objects.filter(pk=config.pk).update(enabled=True)
    organisation.is_active = False
    organisation.save()
    assert post("generic", "acme", body, headers).status_code == 404


def test_get_is_not_allowed(client, organisation, webhook_config):
    webhook_config("generic", organisation, WHSEC)
    assert client.get(f"{vendors.API}/generic/acme/").status_code == 405


# -- order of checks ------------------------------------------------------------------------------------
def test_an_oversized_body_is_refused_with_413_before_any_other_check(post, organisation, webhook_config, settings):
    settings.WEBHOOK_MAX_BODY_BYTES = 1024 * 1024
    webhook_config("generic", organisation, WHSEC)
    body = vendors.as_json({"type": "crm.client.created", "data": {"blob": "x" * (1024 * 1024)}})
    response = post("generic", "acme", body, {})  # unsigned too: size is judged first
    assert response.status_code == 413
    assert response.json() == {"error": "payload_too_large", "limit_bytes": 1048576}
    assert not RejectedAttempt.objects.exists()
    # a body just under the limit goes on to signature checking
    small = vendors.as_json({"type": "crm.client.created", "data": {"blob": "x" * 1000}})
    assert post("generic", "acme", small, {}).status_code == 401


# -- issue 14, item 8: forged requests never spend the tenant's budget ------------------------------------
def _from(address: str) -> dict:
    return {"X-Forwarded-For": address}  # with one trusted proxy, the client address


@pytest.fixture
def behind_one_proxy(settings):
    settings.WEBHOOK_TRUSTED_PROXY_COUNT = 1


def test_a_flood_of_forged_requests_never_costs_a_genuine_delivery_its_place(
    post, organisation, webhook_config, behind_one_proxy
):
    """130 unsigned requests used to spend the organisation's 100/min, and its genuine PagerDuty
    delivery got a 429."""
    webhook_config("pagerduty", organisation, PD_SECRET, settings={"rate_limit_per_minute": 100,
                                                                   "peak_rate_limit_per_minute": 100})  # fmt: skip
    attackers = [f"198.51.100.{n}" for n in range(1, 14)]  # 10 forged requests from each
    forged = [post("pagerduty", "acme", b'{"event": {}}', _from(attackers[n % 13])).status_code for n in range(130)]
    genuine = next(case for case in CASES if case.source == "pagerduty").build("acme", 1)

    response = post("pagerduty", "acme", genuine.body, {**genuine.headers, **_from("203.0.113.7")})

    assert set(forged) == {401}
    assert response.status_code == 202
    assert InboundEvent.objects.count() == 1


def test_forged_requests_are_counted_per_source_address_and_refused_past_its_budget(
    post, organisation, webhook_config, behind_one_proxy, settings
):
    settings.WEBHOOK_FORGED_RATE_LIMIT_PER_MINUTE = 3
    webhook_config("generic", organisation, WHSEC)
    body, _ = generic_request()

    flood = [post("generic", "acme", body, {"webhook-id": "x", **_from("198.51.100.1")}) for _ in range(5)]
    elsewhere = post("generic", "acme", body, {"webhook-id": "x", **_from("198.51.100.2")})
    genuine_body, genuine_headers = generic_request(msg_id="msg_genuine")
    genuine = post("generic", "acme", genuine_body, {**genuine_headers, **_from("198.51.100.1")})

    assert [r.status_code for r in flood] == [401, 401, 401, 429, 429]
    assert 1 <= int(flood[-1]["Retry-After"]) <= 60
    assert elsewhere.status_code == 401  # another address has a budget of its own
    assert genuine.status_code == 200  # verified: the address's forgeries do not count against it
    # past the budget a forgery costs no rejected-attempt row (nor a log line)
    assert RejectedAttempt.objects.count() == 4


def test_genuine_requests_still_get_the_tenants_limit(post, organisation, webhook_config):
    webhook_config(
        "generic", organisation, WHSEC, settings={"rate_limit_per_minute": 2, "peak_rate_limit_per_minute": 2}
    )
    statuses = []
    for n in range(3):
        body, headers = generic_request(msg_id=f"msg_{n}")
        statuses.append(post("generic", "acme", body, headers).status_code)

    assert statuses == [200, 200, 429]
    assert InboundEvent.objects.count() == 2


def test_a_malformed_but_correctly_signed_body_gets_400_with_a_reason(post, organisation, webhook_config):
    webhook_config("generic", organisation, WHSEC)
    body = b'{"data": {"id": 1}}'  # no "type"
    response = post("generic", "acme", body, vendors.standard_headers(WHSEC, "msg_x", body))
    assert response.status_code == 400
    assert response.json() == {"error": "malformed", "detail": "type is missing or not a string"}
    assert RejectedAttempt.objects.get().reason == RejectReason.MALFORMED
    not_json = b"<xml/>"
    response = post("generic", "acme", not_json, vendors.standard_headers(WHSEC, "msg_y", not_json))
    assert response.json()["detail"] == "body is not valid JSON"


@pytest.mark.parametrize(
    "source, secret, header",
    [("twilio", TWILIO_TOKEN, "X-Twilio-Signature"), ("freshbooks", FB_VERIFIER, "X-FreshBooks-Hmac-SHA256")],
)
def test_a_body_that_is_not_the_signed_form_is_refused_as_unauthenticated_not_parsed(
    source, secret, header, post, organisation, webhook_config, settings
):
    """These schemes sign the form fields, so the form is read to verify; a body that is not one
    cannot be genuine: 401 like any bad signature, never a 400 that describes it to the sender."""
    settings.PUBLIC_BASE_URL = PUBLIC
    webhook_config(source, organisation, secret)
    forged = post(source, "acme", b'{"MessageSid": "SM1", "name": "x"}', {header: "Zm9yZ2Vk"})
    assert (forged.status_code, forged.json()["error"]) == (401, "unauthorised")
    unsigned = post(source, "acme", b"\xff\xfe=1", {}, content_type="application/x-www-form-urlencoded")
    assert unsigned.status_code == 401
    reasons = list(RejectedAttempt.objects.order_by("id").values_list("reason", flat=True))
    assert reasons == [RejectReason.BAD_SIGNATURE, RejectReason.MISSING_SIGNATURE]
    assert not InboundEvent.objects.exists()


UNSTORABLE = "the body holds a NUL character or an unpaired surrogate (\\u0000, \\ud800…), which cannot be stored"


def _nested(depth: int) -> bytes:
    return b'{"type":"crm.client.created","data":' + b"[" * depth + b"]" * depth + b"}"


@pytest.mark.parametrize(
    "body, reason",
    [
        (b'{"type":"crm.client.created","data":{"amount":NaN}}', "body is not valid JSON"),
        (b'{"type":"crm.client.created","data":{"amount":-Infinity}}', "body is not valid JSON"),
        (_nested(64), "body is nested more than 64 levels deep"),
        (_nested(5000), "body is nested too deeply"),
        (b'{"type":"crm.client.created","data":{"note":"a\\u0000b"}}', UNSTORABLE),
        (b'{"type":"crm.client.created","data":{"a\\u0000":1}}', UNSTORABLE),
        (b'{"type":"crm.client.created","data":{"note":"\\ud800"}}', UNSTORABLE),
    ],
    ids=["nan", "infinity", "too-deep", "far-too-deep", "nul", "nul-in-a-key", "lone-surrogate"],
)
def test_a_signed_body_the_inbox_cannot_store_is_a_400_with_the_reason_not_a_server_error(
    body, reason, post, organisation, webhook_config
):
    """Whichever database is behind the inbox (PostgreSQL refuses NUL, lone surrogates and NaN in
    JSON), the vendor is told plainly, the attempt is logged, and nothing half-stored remains."""
    webhook_config("generic", organisation, WHSEC)
    response = post("generic", "acme", body, vendors.standard_headers(WHSEC, "msg_bad", body))
    assert (response.status_code, response.json()) == (400, {"error": "malformed", "detail": reason})
    assert RejectedAttempt.objects.get().reason == RejectReason.MALFORMED
    assert not InboundEvent.objects.exists()


def test_text_that_only_looks_unstorable_is_stored_exactly(post, organisation, webhook_config):
    webhook_config("generic", organisation, WHSEC)
    data = {"escaped": "\\u0000 is how JSON writes NUL", "emoji": "\U0001f492", "deep": [[[[]]]]}
    body = _nested(60)[:-1] + b',"more":' + json.dumps(data).encode() + b"}"  # a surrogate pair, 61 levels
    assert b"\\ud83d\\udc92" in body and b"\\\\u0000" in body
    assert post("generic", "acme", body, vendors.standard_headers(WHSEC, "msg_ok", body)).status_code == 200
    assert InboundEvent.objects.get().payload["more"] == data


def test_form_and_form_embedded_json_bodies_get_the_same_checks(post, organisation, webhook_config, settings):
    settings.PUBLIC_BASE_URL = PUBLIC
    webhook_config("twilio", organisation, TWILIO_TOKEN)
    params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "delivered", "Body": "ACK\x0042"}
    url = f"{PUBLIC}{vendors.API}/twilio/acme/"
    signed = {"X-Twilio-Signature": vendors.twilio_signature(TWILIO_TOKEN, url, params)}
    form = "application/x-www-form-urlencoded"
    response = post("twilio", "acme", vendors.form(params), signed, content_type=form)
    assert (response.status_code, response.json()["detail"]) == (400, UNSTORABLE)
    settings.SLACK_SIGNING_SECRET = SLACK_SECRET
    body = b"payload=" + b'{"type":"block_actions","n":NaN}'.replace(b"{", b"%7B").replace(b"}", b"%7D")
    response = post("slack", None, body, vendors.slack_headers(SLACK_SECRET, body), content_type=form)
    assert (response.status_code, response.json()["detail"]) == (400, "form field 'payload' is not valid JSON")
    assert not InboundEvent.objects.exists()


# -- tenant isolation --------------------------------------------------------------------------------------
def test_a_request_signed_with_organisation_a_secret_never_acts_on_organisation_b(
    post, make_organisation, webhook_config
):
    org_a, org_b = make_organisation(slug="org-a"), make_organisation(slug="org-b")
    webhook_config("generic", org_a, WHSEC)
    webhook_config("generic", org_b, OTHER_WHSEC)
    body, headers = generic_request(secret=WHSEC)
    assert post("generic", "org-b", body, headers).status_code == 401
    assert post("generic", "org-a", body, headers).status_code == 200
    assert list(InboundEvent.objects.values_list("organisation__slug", flat=True)) == ["org-a"]
    assert RejectedAttempt.objects.get().organisation == org_b


def test_the_same_vendor_event_id_for_two_organisations_is_two_events(post, make_organisation, webhook_config):
    org_a, org_b = make_organisation(slug="org-a"), make_organisation(slug="org-b")
    webhook_config("generic", org_a, WHSEC)
    webhook_config("generic", org_b, WHSEC)
    body, headers = generic_request(msg_id="msg_same")
    assert post("generic", "org-a", body, headers).status_code == 200
    assert post("generic", "org-b", body, headers).status_code == 200
    assert InboundEvent.objects.count() == 2


def test_events_for_another_vendor_account_are_ignored_and_logged(post, organisation, webhook_config):
    webhook_config("xero", organisation, XERO_KEY, settings={"tenant_id": "11111111-1111-4111-8111-111111111111"})
    events = [
        {"resourceId": "r-1", "eventDateUtc": "2026-06-01T10:00:00.000", "eventType": "CREATE",
         "eventCategory": "INVOICE", "tenantId": "11111111-1111-4111-8111-111111111111"},
        {"resourceId": "r-2", "eventDateUtc": "2026-06-01T10:00:00.000", "eventType": "CREATE",
         "eventCategory": "INVOICE", "tenantId": "22222222-2222-4222-8222-222222222222"},
    ]  # fmt: skip
    body = vendors.as_json({"events": events, "firstEventSequence": 1, "lastEventSequence": 2, "entropy": "E"})
    response = post("xero", "acme", body, {"x-xero-signature": vendors.b64_body_hmac(XERO_KEY, body)})
    assert response.status_code == 200 and response.content == b""
    assert list(InboundEvent.objects.values_list("external_id", flat=True)) == ["r-1:2026-06-01T10:00:00.000:CREATE"]
    assert RejectedAttempt.objects.get().reason == RejectReason.FOREIGN_ACCOUNT


# -- Datadog / New Relic: the authentication each organisation chose ----------------------------------------
def test_an_alert_source_set_to_standard_webhooks_needs_a_signed_fresh_request(post, organisation, webhook_config):
    webhook_config("datadog", organisation, WHSEC, settings={"auth": "standard_webhooks"})
    body = vendors.as_json({"id": "7000001", "alert_transition": "Triggered", "title": "AI latency high"})
    signed = vendors.standard_headers(WHSEC, "msg_dd_1", body)
    assert post("datadog", "acme", body, signed).status_code == 200
    assert InboundEvent.objects.get().external_id == "msg_dd_1"  # the signed webhook-id, not the body's id
    bearer = post("datadog", "acme", body, {"Authorization": f"Bearer {WHSEC}"})  # the secret itself is not enough
    stale = post("datadog", "acme", body, vendors.standard_headers(WHSEC, "msg_dd_2", body, vendors.now() - 301))
    assert (bearer.status_code, stale.status_code) == (401, 401)
    reasons = list(RejectedAttempt.objects.order_by("id").values_list("reason", flat=True))
    assert reasons == [RejectReason.MISSING_SIGNATURE, RejectReason.STALE_TIMESTAMP]


def test_an_alert_source_can_take_its_token_in_a_named_header(post, organisation, webhook_config):
    token = "nr-destination-token-0123456789"
    webhook_config("newrelic", organisation, token, settings={"token_header": "X-WedSync-Token"})
    body = vendors.as_json({"issueId": "iss-1", "state": "ACTIVATED", "updatedAt": 1781350000000})
    assert post("newrelic", "acme", body, {"X-WedSync-Token": token}).status_code == 200
    assert InboundEvent.objects.get().external_id == "iss-1:ACTIVATED:1781350000000"
    assert post("newrelic", "acme", body, {"Authorization": f"Bearer {token}"}).status_code == 401
    assert post("newrelic", "acme", body, {"X-WedSync-Token": token[:-1] + "X"}).status_code == 401


def test_an_alert_without_the_dedupe_fields_is_deduplicated_on_its_exact_body(post, organisation, webhook_config):
    token = "dd-shared-token-AAAAAAAAAAAAAAAAAAAA"
    webhook_config("datadog", organisation, token)
    body = vendors.as_json({"alert_transition": "Recovered", "title": "AI latency back to normal"})  # no "id"
    auth = {"Authorization": f"Bearer {token}"}
    first, again = post("datadog", "acme", body, auth), post("datadog", "acme", body, auth)
    assert first["X-Inbound-Event-Ids"] == again["X-Inbound-Event-Ids"] and again.json()["duplicates"] == 1
    event = InboundEvent.objects.get()
    assert event.external_id == "sha256:" + hashlib.sha256(body).hexdigest()
    other = vendors.as_json({"alert_transition": "Triggered", "title": "AI latency high"})
    assert post("datadog", "acme", other, auth).json()["duplicates"] == 0
    assert InboundEvent.objects.count() == 2


# -- Slack at the platform path and its handshake ---------------------------------------------------------------
def _block_action(n=1):
    payload = {
        "type": "block_actions",
        "user": {"id": "U1"},
        "team": {"id": "T1"},
        "container": {"message_ts": f"1.{n}"},
        "actions": [{"action_id": "alert_ack", "action_ts": f"2.{n}"}],
    }
    return vendors.form({"payload": json.dumps(payload)})  # fmt: skip


def test_slack_works_at_the_global_path_with_the_platform_secret(post, settings, db):
    settings.SLACK_SIGNING_SECRET = SLACK_SECRET
    body = _block_action()
    form = "application/x-www-form-urlencoded"
    response = post("slack", None, body, vendors.slack_headers(SLACK_SECRET, body), content_type=form)
    assert (response.status_code, response.content) == (200, b"")  # Slack: empty 200
    event = InboundEvent.objects.get()
    assert (event.organisation, event.event_type, event.external_id) == (None, "block_actions", "1.1:2.1:U1")
    wrong = post("slack", None, body, vendors.slack_headers("another-signing-secret", body), content_type=form)
    assert wrong.status_code == 401


def test_slack_global_path_is_404_when_the_platform_secret_is_not_set(post, settings, db):
    settings.SLACK_SIGNING_SECRET = ""
    body = _block_action()
    assert post("slack", None, body, vendors.slack_headers("x" * 32, body)).status_code == 404


def test_slack_events_api_url_verification_echoes_the_challenge_only_when_signed(post, settings, db):
    settings.SLACK_SIGNING_SECRET = SLACK_SECRET
    body = vendors.as_json({"token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                            "type": "url_verification"})  # fmt: skip
    response = post("slack", None, body, vendors.slack_headers(SLACK_SECRET, body))
    assert response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
    assert not InboundEvent.objects.exists()
    assert post("slack", None, body, {}).status_code == 401


def test_slack_deprecated_verification_token_is_not_stored(post, settings, db):
    settings.SLACK_SIGNING_SECRET = SLACK_SECRET
    payload = {"type": "block_actions", "token": "legacy-token-value", "user": {"id": "U1"},
               "container": {"message_ts": "1.1"}, "actions": [{"action_ts": "2.2"}]}  # fmt: skip
    body = vendors.form({"payload": json.dumps(payload)})
    post(
        "slack", None, body, vendors.slack_headers(SLACK_SECRET, body), content_type="application/x-www-form-urlencoded"
    )
    assert "token" not in InboundEvent.objects.get().payload


# -- Xero Intent to Receive ---------------------------------------------------------------------------------
def test_xero_intent_to_receive_answers_200_empty_for_good_and_401_for_bad_signatures(
    post, organisation, webhook_config
):
    webhook_config("xero", organisation, XERO_KEY)
    body = b'{"events":[],"firstEventSequence":0,"lastEventSequence":0,"entropy":"TESTENTROPY"}'
    good = post("xero", "acme", body, {"x-xero-signature": vendors.b64_body_hmac(XERO_KEY, body)})
    bad = post("xero", "acme", body, {"x-xero-signature": vendors.b64_body_hmac("not-the-key", body)})
    assert (good.status_code, good.content, good.cookies) == (200, b"", {})
    assert bad.status_code == 401
    assert not InboundEvent.objects.exists()


# -- FreshBooks verification handshake ----------------------------------------------------------------------
def _verification(callback_id="2001", code="Ghwf5vXJc2eXrSamPVnU8wLp"):
    return f"name=callback.verify&object_id={callback_id}&verifier={code}&account_id=aBcD1&user_id=1"


def test_freshbooks_verification_code_becomes_the_secret_when_expected(post, organisation, webhook_config):
    config = webhook_config("freshbooks", organisation, None, settings={"pending_callback_id": "2001"})
    form = "application/x-www-form-urlencoded"
    response = post("freshbooks", "acme", _verification().encode(), {}, content_type=form)
    assert response.status_code == 200
    config.refresh_from_db()
    assert config.secrets["signing_secret"] == "Ghwf5vXJc2eXrSamPVnU8wLp"
    assert "pending_callback_id" not in config.settings
    event = InboundEvent.objects.get()
    assert event.event_type == "callback.verify" and "verifier" not in event.payload  # no secret in the inbox
    entry = WebhookAuditEntry.objects.get(action="adopt_signing_secret")
    assert "Ghwf5" not in json.dumps(entry.changes) + entry.summary

    # later deliveries are signed with that code
    delivery = "name=expense.create&object_id=77&account_id=aBcD1&business_id=456&identity_id=789&user_id=1"
    signed = {"X-FreshBooks-Hmac-SHA256": vendors.freshbooks_signature("Ghwf5vXJc2eXrSamPVnU8wLp", delivery)}
    assert post("freshbooks", "acme", delivery.encode(), signed, content_type=form).status_code == 200
    # and nobody can swap the secret afterwards
    swap = post("freshbooks", "acme", _verification(code="attacker-chosen-code").encode(), {}, content_type=form)
    assert swap.status_code == 401
    config.refresh_from_db()
    assert config.secrets["signing_secret"] == "Ghwf5vXJc2eXrSamPVnU8wLp"


def test_freshbooks_unexpected_verification_is_refused(post, organisation, webhook_config):
    config = webhook_config("freshbooks", organisation, None, settings={"pending_callback_id": "2001"})
    form = "application/x-www-form-urlencoded"
    response = post("freshbooks", "acme", _verification(callback_id="9999").encode(), {}, content_type=form)
    assert response.status_code == 401
    assert RejectedAttempt.objects.get().reason == RejectReason.VERIFICATION_REFUSED
    config.refresh_from_db()
    assert not config.secrets.get("signing_secret")


def test_freshbooks_delivery_before_verification_is_refused(post, organisation, webhook_config):
    webhook_config("freshbooks", organisation, None)
    delivery = "name=expense.create&object_id=77&account_id=aBcD1"
    headers = {"X-FreshBooks-Hmac-SHA256": vendors.freshbooks_signature(FB_VERIFIER, delivery)}
    response = post("freshbooks", "acme", delivery.encode(), headers, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "altered",
    [
        # json.dumps(dict(fields)) keeps a repeated field's last value, so a value inserted before
        # the genuine one leaves the signed message, and the signature, unchanged
        "name=expense.create&object_id=77&account_id=aBcD1&business_id=456&identity_id=789&user_id=666&user_id=1",
        "name=expense.create&object_id=77&account_id=aBcD1&business_id=456&identity_id=789&user_id=1&user_id=1",
    ],
    ids=["value-inserted", "value-repeated"],
)
def test_freshbooks_a_repeated_form_field_is_refused_before_verification(post, organisation, webhook_config, altered):
    """Issue 14, item 4: the stored payload kept every value, the signature covered only one."""
    webhook_config("freshbooks", organisation, FB_VERIFIER)
    signed = "name=expense.create&object_id=77&account_id=aBcD1&business_id=456&identity_id=789&user_id=1"
    headers = {"X-FreshBooks-Hmac-SHA256": vendors.freshbooks_signature(FB_VERIFIER, signed)}

    response = post("freshbooks", "acme", altered.encode(), headers, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 401
    assert "repeated" in response.json()["detail"]
    assert not InboundEvent.objects.exists()
    assert RejectedAttempt.objects.get().reason == RejectReason.BAD_SIGNATURE


def test_freshbooks_a_verification_handshake_with_a_repeated_field_is_refused(post, organisation, webhook_config):
    config = webhook_config("freshbooks", organisation, None, settings={"pending_callback_id": "2001"})
    handshake = _verification() + "&verifier=attacker-chosen-code"

    response = post("freshbooks", "acme", handshake.encode(), {}, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 401
    config.refresh_from_db()
    assert not config.secrets.get("signing_secret")


# -- Twilio signs the public URL, not whatever Host says -----------------------------------------------------
def test_twilio_signature_is_checked_against_public_base_url_not_the_host_header(
    post, organisation, webhook_config, settings
):
    settings.PUBLIC_BASE_URL = PUBLIC
    settings.ALLOWED_HOSTS = ["*"]
    webhook_config("twilio", organisation, TWILIO_TOKEN)
    params = {"MessageSid": "SM" + "1" * 32, "MessageStatus": "failed", "ErrorCode": "30003"}
    evil_url = f"https://attacker.example{vendors.API}/twilio/acme/"
    forged = {
        "X-Twilio-Signature": vendors.twilio_signature(TWILIO_TOKEN, evil_url, params),
        "Host": "attacker.example",
    }
    form = "application/x-www-form-urlencoded"
    assert post("twilio", "acme", vendors.form(params), forged, content_type=form).status_code == 401
    good_url = f"{PUBLIC}{vendors.API}/twilio/acme/"
    good = {"X-Twilio-Signature": vendors.twilio_signature(TWILIO_TOKEN, good_url, params)}
    response = post("twilio", "acme", vendors.form(params), good, content_type=form)
    assert response.status_code == 200 and response["Content-Type"] == "text/xml"
    assert response.content == b'<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


# -- rate limits by season, and wedding-day priority ----------------------------------------------------------
def test_peak_season_allows_more_requests_than_off_season(settings):
    settings.WEBHOOK_RATE_LIMIT_PER_MINUTE = 100
    settings.WEBHOOK_PEAK_RATE_LIMIT_PER_MINUTE = 300
    assert ratelimit.limit_for({}, datetime(2026, 1, 10, 12, tzinfo=LONDON)) == 100
    assert ratelimit.limit_for({}, datetime(2026, 4, 10, 12, tzinfo=LONDON)) == 100  # shoulder
    assert ratelimit.limit_for({}, datetime(2026, 6, 13, 12, tzinfo=LONDON)) == 300
    custom = {"rate_limit_per_minute": 20, "peak_rate_limit_per_minute": 900}
    assert ratelimit.limit_for(custom, datetime(2026, 1, 10, 12, tzinfo=LONDON)) == 20
    assert ratelimit.limit_for(custom, datetime(2026, 6, 13, 12, tzinfo=LONDON)) == 900


def test_the_rate_limit_window_resets_each_minute_and_is_per_source_and_organisation(db):
    start = 1_780_000_040.0  # 20 s into a minute
    for _ in range(3):
        assert ratelimit.hit("generic", 1, 3, now=start).allowed
    denied = ratelimit.hit("generic", 1, 3, now=start + 1)
    assert not denied.allowed and denied.retry_after == 39
    assert ratelimit.hit("generic", 2, 3, now=start).allowed  # another organisation
    assert ratelimit.hit("pagerduty", 1, 3, now=start).allowed  # another source
    assert ratelimit.hit("generic", 1, 3, now=start + 40).allowed  # next minute


def test_a_lease_is_one_request_at_the_default_limits_and_never_more_than_remains():
    assert [ratelimit.lease_size(100, used) for used in (0, 50, 99, 100, 150)] == [1, 1, 1, 0, 0]
    assert ratelimit.lease_size(300, 0) == 4  # peak default: a few, 1/64 of what remains
    assert ratelimit.lease_size(10_000_000, 0) == ratelimit.LEASE_MAX
    assert ratelimit.lease_size(10_000, 9_990) == 1


def test_a_process_spends_its_lease_locally_and_refuses_a_full_window_without_asking_again(db, monkeypatch):
    """Leasing as it happens on Redis, with the shared count simulated: a high limit is taken 20
    at a time, a full window is refused locally, and raising the limit asks the count again."""
    shared: dict[str, int] = {}  # the count per window key, as Redis keeps it
    calls = []

    def take(key, limit, ttl):
        calls.append(key)
        granted = ratelimit.lease_size(limit, shared.get(key, 0))
        shared[key] = shared.get(key, 0) + granted
        return shared[key], granted

    monkeypatch.setattr(ratelimit, "_take", take)
    start = 1_780_000_020.0
    assert all(ratelimit.hit("generic", 7, 1280, now=start).allowed for _ in range(20)) and len(calls) == 1
    allowed = 20 + sum(ratelimit.hit("generic", 7, 1280, now=start).allowed for _ in range(1280))
    assert allowed == 1280  # exactly the limit
    # leases shrink as the window fills (1/64 of what remains), down to one request near the end
    assert len(calls) == 290
    assert not ratelimit.hit("generic", 7, 1280, now=start + 5).allowed and len(calls) == 290  # refused locally
    assert ratelimit.hit("generic", 7, 1400, now=start + 5).allowed  # a raised limit asks again
    assert ratelimit.hit("generic", 7, 1280, now=start + 60).allowed  # and a new window starts afresh


def test_when_the_shared_cache_is_down_vendors_are_let_through_not_refused(
    post, organisation, webhook_config, monkeypatch, caplog
):
    from redis.exceptions import ConnectionError as RedisConnectionError

    def cache_down(key, limit, ttl):
        raise RedisConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(ratelimit, "_take", cache_down)
    forget_warnings()  # an earlier test's outage warning must not silence this one
    webhook_config("generic", organisation, WHSEC, settings={"rate_limit_per_minute": 1})
    for n in range(3):  # over the limit of 1, but the count cannot be kept: nothing is refused
        body, headers = generic_request(msg_id=f"msg_{n}")
        assert post("generic", "acme", body, headers).status_code == 200
    assert InboundEvent.objects.count() == 3
    warnings = [r.getMessage() for r in caplog.records if "rate_limit_unavailable" in r.getMessage()]
    assert warnings == ["webhooks.rate_limit_unavailable error=ConnectionError: requests are let through"]


@pytest.mark.parametrize(
    "london_time, priority",
    [
        ("2026-06-12 17:59", Priority.NORMAL),  # Friday before the window
        ("2026-06-12 18:00", Priority.WEDDING_DAY),  # Friday 18:00 opens it
        ("2026-06-13 11:00", Priority.WEDDING_DAY),  # Saturday
        ("2026-06-14 22:59", Priority.WEDDING_DAY),
        ("2026-06-14 23:00", Priority.NORMAL),  # Sunday 23:00 closes it
        ("2026-10-25 01:30", Priority.WEDDING_DAY),  # Sunday of the autumn DST change
    ],
)
def test_events_received_in_the_wedding_day_window_get_priority(
    london_time, priority, post, organisation, webhook_config, no_dispatch, settings
):
    settings.WEBHOOK_PRIORITY_QUEUE = "webhooks-priority"
    webhook_config("generic", organisation, WHSEC)
    at = datetime.fromisoformat(london_time).replace(tzinfo=LONDON)
    with freeze_time(at):
        body, headers = generic_request()
        assert post("generic", "acme", body, headers).status_code == 200
    event = InboundEvent.objects.get()
    assert event.priority == priority
    assert no_dispatch == [(event.pk, priority)]
