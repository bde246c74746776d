"""Vendor-issued credentials (credentials.py): renewal before expiry and once on a 401, rotating
refresh tokens committed before use, invalid_grant -> "reconnect needed", client credentials and
sign-in sessions as the same abstraction, tokens never shown."""

from __future__ import annotations

import base64
import json
import logging
from urllib.parse import parse_qs

import pytest
import responses
from django.db import connection

from wedsync_integrations.integrations import config_io, outbox
from wedsync_integrations.integrations.credentials import IssuedToken, ReconnectNeeded
from wedsync_integrations.integrations.errors import RetryableError
from wedsync_integrations.integrations.models import ConfigStatus, CredentialStatus, RetryState

from .credential_providers import (
    CLIENT_ID,
    CLIENT_SECRET,
    LEDGER_API,
    LEDGER_TOKEN_URL,
    WAREHOUSE_API,
    WAREHOUSE_TOKEN_URL,
    WORKBOOK_API,
    expired_credential,
    fresh_credential,
)

pytestmark = pytest.mark.django_db

SECRETS = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
BASIC = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()


def token_reply(access="new-access", refresh="new-refresh", expires_in=1800, **extra) -> dict:
    return {"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": expires_in, **extra}


def _form(call) -> dict:
    return {key: values[0] for key, values in parse_qs(call.request.body).items()}


def _raw_credential(config) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT credential FROM {config._meta.db_table} WHERE id = %s", [config.pk])
        return cursor.fetchone()[0]


@pytest.fixture
def ledger_config(ledger_provider, make_config, organisation):
    return make_config("monitoring", organisation, "ledger", secrets=SECRETS, credential=expired_credential())


# -- renewal ------------------------------------------------------------------------------------------
@responses.activate
def test_an_expired_token_is_refreshed_and_the_rotated_pair_is_stored_encrypted(ledger_config):
    responses.post(LEDGER_TOKEN_URL, json=token_reply())
    api = responses.post(f"{LEDGER_API}/v1/things", json={"ok": True})

    ledger_config.get_provider().deliver("things", {"n": 1})

    refresh = responses.calls[0]
    assert refresh.request.headers["Authorization"] == BASIC  # client_secret_basic
    assert _form(refresh) == {"grant_type": "refresh_token", "refresh_token": "old-refresh"}
    assert api.calls[0].request.headers["Authorization"] == "Bearer new-access"
    ledger_config.refresh_from_db()
    assert ledger_config.credential["refresh_token"] == "new-refresh"
    assert ledger_config.credential_status == CredentialStatus.CONNECTED
    assert ledger_config.credential_refreshed_at is not None
    raw = _raw_credential(ledger_config)
    assert "new-refresh" not in raw and "new-access" not in raw  # encrypted at rest


@responses.activate
def test_a_valid_token_is_used_without_asking_the_token_endpoint(ledger_provider, make_config, organisation):
    config = make_config("monitoring", organisation, "ledger", secrets=SECRETS, credential=fresh_credential())
    api = responses.post(f"{LEDGER_API}/v1/things", json={"ok": True})
    for n in range(3):
        config.get_provider().deliver("things", {"n": n})
    assert len(responses.calls) == 3 and all(c.request.url.startswith(LEDGER_API) for c in responses.calls)
    assert api.calls[0].request.headers["Authorization"] == "Bearer fresh-access"


@responses.activate
def test_the_new_refresh_token_is_committed_even_when_the_call_after_it_fails(ledger_config):
    responses.post(LEDGER_TOKEN_URL, json=token_reply(refresh="rotated-1"))
    responses.post(f"{LEDGER_API}/v1/things", status=503)

    with pytest.raises(RetryableError):
        ledger_config.get_provider().deliver("things", {})

    ledger_config.refresh_from_db()
    assert ledger_config.credential["refresh_token"] == "rotated-1"  # not lost with the failed call


@responses.activate
def test_a_401_renews_once_and_retries_once(ledger_provider, make_config, organisation):
    config = make_config("monitoring", organisation, "ledger", secrets=SECRETS, credential=fresh_credential())
    responses.post(f"{LEDGER_API}/v1/things", status=401, json={"error": "token revoked"})
    responses.post(f"{LEDGER_API}/v1/things", json={"ok": True})
    responses.post(LEDGER_TOKEN_URL, json=token_reply(access="after-401"))

    result = config.get_provider().deliver("things", {})

    assert result.http_status == 200
    urls = [call.request.url for call in responses.calls]
    assert urls == [f"{LEDGER_API}/v1/things", LEDGER_TOKEN_URL, f"{LEDGER_API}/v1/things"]
    assert responses.calls[2].request.headers["Authorization"] == "Bearer after-401"


@responses.activate
def test_a_second_401_stops_the_configuration_and_keeps_the_item(ledger_provider, make_config, organisation):
    config = make_config("monitoring", organisation, "ledger", secrets=SECRETS, credential=fresh_credential())
    responses.post(f"{LEDGER_API}/v1/things", status=401)
    responses.post(LEDGER_TOKEN_URL, json=token_reply())
    item = outbox.enqueue(config, operation="things", payload={"n": 1})

    outcome = outbox.deliver_item(config.family(), item)

    assert outcome.state == RetryState.PENDING
    assert [c.request.url for c in responses.calls].count(LEDGER_TOKEN_URL) == 1  # renewed once, not in a loop
    config.refresh_from_db()
    assert config.status == ConfigStatus.STOPPED and "HTTP 401" in config.status_reason


@responses.activate
def test_invalid_grant_means_reconnect_needed_the_config_stops_and_items_wait(ledger_config, caplog):
    responses.post(
        LEDGER_TOKEN_URL, status=400, json={"error": "invalid_grant", "error_description": "refresh token reused"}
    )
    item = outbox.enqueue(ledger_config, operation="things", payload={"n": 1})

    with caplog.at_level(logging.INFO):
        outcome = outbox.deliver_item(ledger_config.family(), item)

    assert outcome.state == RetryState.PENDING
    ledger_config.refresh_from_db()
    assert ledger_config.status == ConfigStatus.STOPPED
    assert ledger_config.credential_status == CredentialStatus.RECONNECT
    assert "reconnect needed" in ledger_config.status_reason
    assert "Connect to Ledger" in ledger_config.status_reason
    assert "old-refresh" not in ledger_config.status_reason + caplog.text
    item.refresh_from_db()
    assert item.state == RetryState.PENDING  # kept for "resume" after reconnecting


@responses.activate
def test_invalid_grant_raises_an_alert_for_staff(ledger_config):
    from alerts.models import Alert

    responses.post(LEDGER_TOKEN_URL, status=400, json={"error": "invalid_grant"})
    outbox.deliver_item(ledger_config.family(), outbox.enqueue(ledger_config, operation="things", payload={}))
    alert = Alert.objects.get(organisation=ledger_config.organisation)
    assert "reconnect needed" in alert.description.lower() or "reconnect needed" in alert.title.lower()


@responses.activate
def test_a_token_endpoint_outage_is_retried_and_does_not_stop_the_config(ledger_config):
    responses.post(LEDGER_TOKEN_URL, status=503, body="gateway down")
    item = outbox.enqueue(ledger_config, operation="things", payload={})

    outcome = outbox.deliver_item(ledger_config.family(), item)

    assert outcome.state == RetryState.PENDING
    ledger_config.refresh_from_db()
    assert ledger_config.status == ConfigStatus.FAILING
    assert ledger_config.credential["refresh_token"] == "old-refresh"  # nothing spent


@responses.activate
def test_refused_client_credentials_stop_the_config_without_showing_them(ledger_config):
    responses.post(LEDGER_TOKEN_URL, status=401, json={"error": "invalid_client", "error_description": CLIENT_SECRET})
    with pytest.raises(Exception) as raised:
        ledger_config.get_provider().deliver("things", {})
    assert raised.value.stops_config
    assert "client id or secret was refused" in raised.value.message
    assert CLIENT_SECRET not in raised.value.message


# -- headless set-up (integrations apply) ----------------------------------------------------------------
@responses.activate
def test_apply_may_seed_a_refresh_token_export_redacts_it_and_a_newer_seed_wins(ledger_provider, organisation):
    def document(refresh_token):
        secrets = {**SECRETS, "refresh_token": refresh_token}
        integration = {"family": "monitoring", "provider": "ledger", "secrets": secrets}
        return {"organisations": [{"slug": organisation.slug, "integrations": [integration]}]}

    config_io.apply(document("seed-from-playground"))
    responses.post(LEDGER_TOKEN_URL, json=token_reply(refresh="rotated-after-seed"))
    responses.post(f"{LEDGER_API}/v1/things", json={})
    config = ledger_provider.family.config_model.objects.get(provider="ledger")
    config.get_provider().deliver("things", {})
    assert _form(responses.calls[0])["refresh_token"] == "seed-from-playground"

    exported = json.dumps(config_io.export(organisation.slug))
    assert "seed-from-playground" not in exported and "rotated-after-seed" not in exported
    assert '"refresh_token": "***"' in exported

    # the rotated token is used next, not the seed again
    config = type(config).objects.get(pk=config.pk)
    config.credential = {**config.credential, "expires_at": expired_credential()["expires_at"]}
    config.save()
    config.get_provider().deliver("things", {})
    assert _form(responses.calls[2])["refresh_token"] == "rotated-after-seed"

    # a new seed given later (a fresh consent from the playground) takes precedence
    config_io.apply(document("second-seed"))
    config = type(config).objects.get(pk=config.pk)
    config.get_provider().deliver("things", {})
    assert _form(responses.calls[4])["refresh_token"] == "second-seed"


# -- client credentials ------------------------------------------------------------------------------------
@responses.activate
def test_client_credentials_are_fetched_once_and_cached_until_near_expiry(warehouse_provider, make_config,
                                                                          organisation):  # fmt: skip
    secrets = {"client_id": "wh-id", "client_secret": "wh-s3cret"}
    config = make_config("monitoring", organisation, "warehouse", secrets=secrets)
    reply = {"access_token": "wh-token", "token_type": "Bearer", "expires_in": 3599}
    token = responses.post(WAREHOUSE_TOKEN_URL, json=reply)
    api = responses.post(f"{WAREHOUSE_API}/v1/things", json={})

    for _ in range(3):
        type(config).objects.get(pk=config.pk).get_provider().deliver("things", {})

    assert len(token.calls) == 1
    assert _form(token.calls[0]) == {
        "grant_type": "client_credentials",
        "scope": "https://analysis.warehouse.test/.default",
        "client_id": "wh-id",
        "client_secret": "wh-s3cret",
    }
    assert all(call.request.headers["Authorization"] == "Bearer wh-token" for call in api.calls)


# -- sign-in sessions ------------------------------------------------------------------------------------------
@responses.activate
def test_a_sign_in_session_signs_in_once_and_again_once_on_a_401(workbook_provider, make_config, organisation):
    config = make_config("monitoring", organisation, "workbook", secrets={"pat_secret": "pat-s3cret-value"})
    signin = responses.post(
        f"{WORKBOOK_API}/auth/signin",
        json={"credentials": {"token": "session-1", "site": {"id": "site-luid"}}},
    )
    responses.post(f"{WORKBOOK_API}/v1/things", json={})
    responses.post(f"{WORKBOOK_API}/v1/things", status=401)
    responses.post(f"{WORKBOOK_API}/v1/things", json={})

    provider = config.get_provider()
    provider.deliver("things", {})  # signs in
    type(config).objects.get(pk=config.pk).get_provider().deliver("things", {})  # 401 -> signs in again, retried

    assert len(signin.calls) == 2
    things = [c for c in responses.calls if c.request.url.endswith("/v1/things")]
    assert [c.request.headers["X-Workbook-Auth"] for c in things] == ["session-1"] * 3
    config.refresh_from_db()
    assert config.credential["extra"] == {"site_id": "site-luid"}
    assert config.credential_expires_at is not None  # the scheme's stated lifetime


# -- never shown ------------------------------------------------------------------------------------------------
@responses.activate
def test_tokens_never_reach_errors_sync_logs_or_logs(ledger_provider, make_config, organisation, caplog):
    config = make_config("monitoring", organisation, "ledger", secrets=SECRETS, credential=fresh_credential())
    responses.post(f"{LEDGER_API}/v1/things", status=400, body="bad request for token fresh-access / fresh-refresh")
    item = outbox.enqueue(config, operation="things", payload={})
    with caplog.at_level(logging.DEBUG):
        outbox.deliver_item(config.family(), item)
    item.refresh_from_db()
    log = config.family().sync_log_model.objects.get()
    for text in (item.last_error, log.error, caplog.text):
        assert "fresh-access" not in text and "fresh-refresh" not in text


def test_an_issued_token_round_trips_through_storage():
    token = IssuedToken("a", None, "r", {"site_id": "s"})
    assert IssuedToken.from_stored(token.stored()) == token
    assert IssuedToken.from_stored({}) is None


def test_reconnect_needed_stops_the_config():
    assert ReconnectNeeded("x").stops_config
