"""Connecting a configuration with OAuth 2.0 from its admin page (connect.py): state bound to the
staff session and the configuration, PKCE, the redirect URI from PUBLIC_BASE_URL, the ledger
chosen, and a denied or tampered callback that changes nothing."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.contrib.messages import get_messages
from django.urls import reverse

from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.connect import STATE_MAX_AGE
from wedsync_integrations.integrations.models import ConfigStatus, CredentialStatus, RetryState

from .credential_providers import CLIENT_ID, CLIENT_SECRET, LEDGER_API, LEDGER_AUTHORIZE_URL, LEDGER_TOKEN_URL

pytestmark = pytest.mark.django_db

PUBLIC = "https://integrations.wedsync.example"
CALLBACK = f"{PUBLIC}/integrations/oauth/callback/"
TENANTS = [{"tenantId": "t-1", "tenantName": "Cotswold Lens Ltd"}]


@pytest.fixture(autouse=True)
def _public_url(settings):
    settings.PUBLIC_BASE_URL = PUBLIC


@pytest.fixture
def config(ledger_provider, make_config, organisation):
    return make_config(
        "monitoring", organisation, "ledger", secrets={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    )


def _change_url(config):
    return reverse("admin:monitoring_monitoringconfig_change", args=[config.pk])


def _start(client, config) -> dict:
    response = client.post(reverse("admin:monitoring_monitoringconfig_connect", args=[config.pk]))
    assert response.status_code == 302
    url = urlsplit(response["Location"])
    assert f"{url.scheme}://{url.netloc}{url.path}" == LEDGER_AUTHORIZE_URL
    return {key: values[0] for key, values in parse_qs(url.query).items()}


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def _token_endpoint(access="at-1", refresh="rt-1"):
    return responses.post(
        LEDGER_TOKEN_URL,
        json={"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": 1800},
    )


def test_the_change_page_offers_connect_and_never_shows_a_token(admin_client, config):
    config.credential = {"access_token": "secret-access-token", "refresh_token": "secret-refresh-token"}
    config.save()
    page = admin_client.get(_change_url(config)).content.decode()
    assert "Connect to Ledger" in page or "Reconnect to Ledger" in page
    assert "secret-access-token" not in page and "secret-refresh-token" not in page


def test_start_sends_staff_to_the_vendor_with_state_pkce_and_the_public_redirect_uri(admin_client, config):
    query = _start(admin_client, config)
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == CALLBACK
    assert query["scope"] == "offline_access ledger.write"
    assert query["code_challenge_method"] == "S256" and len(query["state"]) >= 40
    pending = admin_client.session["wsi_oauth_pending"][query["state"]]
    assert pending["config"] == config.pk and pending["family"] == "monitoring"
    challenge = base64.urlsafe_b64encode(hashlib.sha256(pending["verifier"].encode()).digest()).rstrip(b"=")
    assert query["code_challenge"] == challenge.decode()


@responses.activate
def test_a_completed_consent_stores_the_token_and_the_ledger_and_says_connected(admin_client, config):
    token = _token_endpoint()
    responses.get(f"{LEDGER_API}/connections", json=TENANTS)
    query = _start(admin_client, config)
    verifier = admin_client.session["wsi_oauth_pending"][query["state"]]["verifier"]

    response = admin_client.get(reverse("integrations:oauth-callback"), {"code": "c-1", "state": query["state"]})

    assert response.status_code == 302 and response["Location"] == _change_url(config)
    sent = {key: values[0] for key, values in parse_qs(token.calls[0].request.body).items()}
    assert sent == {
        "grant_type": "authorization_code",
        "code": "c-1",
        "redirect_uri": CALLBACK,
        "code_verifier": verifier,
    }
    assert responses.calls[1].request.headers["Authorization"] == "Bearer at-1"  # the ledger lookup used it
    config.refresh_from_db()
    assert config.credential["refresh_token"] == "rt-1"
    assert config.credential_status == CredentialStatus.CONNECTED
    assert config.connected_account == "Cotswold Lens Ltd" and config.settings["tenant_id"] == "t-1"
    assert "Connected to Cotswold Lens Ltd." in _messages(response)
    page = admin_client.get(_change_url(config)).content.decode()
    assert "connected to Cotswold Lens Ltd" in page and "access token expires" in page
    assert "at-1" not in page and "rt-1" not in page
    assert config.family().audit_model.objects.filter(action="connected", target_id=str(config.pk)).exists()


@responses.activate
def test_several_ledgers_are_offered_and_the_chosen_one_is_stored(admin_client, config):
    _token_endpoint()
    responses.get(f"{LEDGER_API}/connections", json=[*TENANTS, {"tenantId": "t-2", "tenantName": "Demo Company (UK)"}])
    query = _start(admin_client, config)

    response = admin_client.get(reverse("integrations:oauth-callback"), {"code": "c-1", "state": query["state"]})
    choose = response["Location"]
    page = admin_client.get(choose).content.decode()
    assert "Cotswold Lens Ltd" in page and "Demo Company (UK)" in page and "rt-1" not in page
    assert "rt-1" not in str(dict(admin_client.session))  # the waiting token is kept encrypted

    admin_client.post(choose, {"account": "t-2"})
    config.refresh_from_db()
    assert config.settings["tenant_id"] == "t-2" and config.connected_account == "Demo Company (UK)"


@responses.activate
def test_a_denied_consent_changes_nothing_and_says_why(admin_client, config):
    query = _start(admin_client, config)
    response = admin_client.get(
        reverse("integrations:oauth-callback"),
        {"error": "access_denied", "error_description": "The user denied access", "state": query["state"]},
    )
    assert any("did not connect (access_denied: The user denied access)" in m for m in _messages(response))
    config.refresh_from_db()
    assert not config.credential and config.credential_status == CredentialStatus.NONE
    assert len(responses.calls) == 0


@responses.activate
@pytest.mark.parametrize("state", ["", "forged-state-value", "REUSED"])
def test_a_missing_unknown_or_reused_state_changes_nothing(admin_client, config, state):
    _token_endpoint()
    responses.get(f"{LEDGER_API}/connections", json=TENANTS)
    if state == "REUSED":
        state = _start(admin_client, config)["state"]
        admin_client.get(reverse("integrations:oauth-callback"), {"code": "c-1", "state": state})
        config.refresh_from_db()
        config.credential, config.connected_account = {}, ""
        config.save()
    calls = len(responses.calls)
    response = admin_client.get(reverse("integrations:oauth-callback"), {"code": "c-2", "state": state})
    assert any("does not match one started in your session" in m for m in _messages(response))
    assert len(responses.calls) == calls  # no code exchanged
    config.refresh_from_db()
    assert not config.credential


@responses.activate
def test_a_state_from_another_session_or_too_old_changes_nothing(
    admin_client, client, django_user_model, config, monkeypatch
):
    query = _start(admin_client, config)
    other = django_user_model.objects.create_superuser("mallory", "m@example.com", "pw-mallory-1")
    client.force_login(other)
    response = client.get(reverse("integrations:oauth-callback"), {"code": "c-1", "state": query["state"]})
    assert any("does not match" in m for m in _messages(response))  # the state lives in alice's session only

    import time

    later = time.time() + STATE_MAX_AGE + 1
    monkeypatch.setattr("wedsync_integrations.integrations.connect.time.time", lambda: later)
    response = admin_client.get(reverse("integrations:oauth-callback"), {"code": "c-1", "state": query["state"]})
    assert any("expired" in m for m in _messages(response))
    assert len(responses.calls) == 0


def test_view_only_staff_cannot_start_a_connection(client, django_user_model, config):
    from django.contrib.auth.models import Permission

    viewer = django_user_model.objects.create_user("viewer", "v@example.com", "pw-viewer-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_monitoringconfig"))
    client.force_login(viewer)
    page = client.get(_change_url(config))
    assert page.status_code == 200 and 'id="connect-button"' not in page.content.decode()
    response = client.post(reverse("admin:monitoring_monitoringconfig_connect", args=[config.pk]))
    assert response.status_code == 403


@responses.activate
def test_reconnecting_a_config_stopped_for_its_lost_grant_resumes_it(admin_client, config):
    responses.post(LEDGER_TOKEN_URL, status=400, json={"error": "invalid_grant"})
    config.credential = {"access_token": "old", "refresh_token": "old-rt", "expires_at": "2020-01-01T00:00:00+00:00"}
    config.save()
    item = outbox.enqueue(config, operation="things", payload={"n": 1})
    outbox.deliver_item(config.family(), item)
    config.refresh_from_db()
    assert config.status == ConfigStatus.STOPPED and config.credential_status == CredentialStatus.RECONNECT

    responses.replace(
        responses.POST, LEDGER_TOKEN_URL, json={"access_token": "at-2", "refresh_token": "rt-2", "expires_in": 1800}
    )
    responses.get(f"{LEDGER_API}/connections", json=TENANTS)
    responses.post(f"{LEDGER_API}/v1/things", json={"ok": True})
    query = _start(admin_client, config)
    response = admin_client.get(reverse("integrations:oauth-callback"), {"code": "c-3", "state": query["state"]})

    assert any("has been resumed" in m for m in _messages(response))
    config.refresh_from_db()
    assert config.status == ConfigStatus.ACTIVE and config.credential_status == CredentialStatus.CONNECTED
    outbox.drain_pair(config.family(), config.organisation_id, "ledger")
    item.refresh_from_db()
    assert item.state == RetryState.SUCCEEDED
