"""The sandbox's OAuth 2.0 authorization server: what the demo and end-to-end tests connect to."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from requests.structures import CaseInsensitiveDict

from wedsync_integrations.sandbox.client import RecordedRequest
from wedsync_integrations.sandbox.oauth import AuthorizationServer

REDIRECT = "https://app.example/integrations/oauth/callback/"
BASIC = {"Authorization": "Basic " + base64.b64encode(b"cid:csecret").decode()}
VERIFIER = "v" * 64


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _get(path: str, query: dict) -> RecordedRequest:
    return RecordedRequest(method="GET", path=path, query={k: [v] for k, v in query.items()})


def _post(path: str, form: dict, headers=None, *, as_json=False) -> RecordedRequest:
    body = json.dumps(form).encode() if as_json else urlencode(form).encode()
    return RecordedRequest(method="POST", path=path, body=body, headers=CaseInsensitiveDict(headers or {}))


def _json(reply) -> dict:
    return json.loads(reply.encoded()[0])


@pytest.fixture
def server():
    return AuthorizationServer("/ledger", authorize_path="/authorize", token_path="/token", reuse_grace=0,
                               redirect_extras=lambda query: {"realmId": "9130355"})  # fmt: skip


def _consent(server, *, challenge=True) -> dict:
    query = {"response_type": "code", "client_id": "cid", "redirect_uri": REDIRECT, "state": "s-1", "scope": "books"}
    if challenge:
        query.update(code_challenge=_challenge(VERIFIER), code_challenge_method="S256")
    page = server._authorize_page(_get("/ledger/authorize", query)).encoded()[0].decode()
    allow = page.split('id="allow" href="')[1].split('"')[0].replace("&amp;", "&")
    return {k: v[0] for k, v in parse_qs(urlsplit(allow).query).items()}


def test_the_consent_page_sends_the_code_state_and_vendor_extras_back(server):
    back = _consent(server)
    assert back["state"] == "s-1" and back["realmId"] == "9130355" and back["code"].startswith("code-")


def test_a_code_is_exchanged_once_with_the_right_pkce_verifier(server):
    code = _consent(server)["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": "x" * 64}
    wrong = server._token(_post("/ledger/token", form, BASIC))
    assert wrong.status == 400 and _json(wrong)["error"] == "invalid_grant"
    code = _consent(server)["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": VERIFIER}
    ok = server._token(_post("/ledger/token", form, BASIC))
    assert ok.status == 200 and _json(ok)["refresh_token"].startswith("rt-")
    again = server._token(_post("/ledger/token", form, BASIC))
    assert _json(again)["error"] == "invalid_grant"  # single use


def test_a_rotated_refresh_token_cannot_be_spent_twice(server):
    code = _consent(server)["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": VERIFIER}
    first = _json(server._token(_post("/ledger/token", form, BASIC)))["refresh_token"]
    refresh = {"grant_type": "refresh_token", "refresh_token": first}
    second = _json(server._token(_post("/ledger/token", refresh, BASIC)))
    assert second["refresh_token"] != first
    reuse = server._token(_post("/ledger/token", {"grant_type": "refresh_token", "refresh_token": first}, BASIC))
    assert reuse.status == 400 and _json(reuse)["error"] == "invalid_grant"
    assert server.counts["reuse_refused"] == 1


def test_within_the_grace_period_a_lost_response_can_be_fetched_again(server):
    server.reuse_grace = 1800  # Xero: the old token may be retried for 30 minutes
    code = _consent(server)["code"]
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT, "code_verifier": VERIFIER}
    first = _json(server._token(_post("/ledger/token", form, BASIC)))["refresh_token"]
    one = _json(server._token(_post("/ledger/token", {"grant_type": "refresh_token", "refresh_token": first}, BASIC)))
    two = _json(server._token(_post("/ledger/token", {"grant_type": "refresh_token", "refresh_token": first}, BASIC)))
    assert one == two


def test_access_tokens_expire_and_clients_must_authenticate(server, monkeypatch):
    assert server._token(_post("/ledger/token", {"grant_type": "client_credentials"})).status == 401
    token = _json(server._token(_post("/ledger/token", {"grant_type": "client_credentials"}, BASIC)))["access_token"]
    bearer = CaseInsensitiveDict({"Authorization": f"Bearer {token}"})
    api = RecordedRequest(method="GET", path="/ledger/api", headers=bearer)
    assert server.authorised(api)
    later = time.time() + server.access_lifetime + 1
    monkeypatch.setattr("wedsync_integrations.sandbox.oauth.time.time", lambda: later)
    assert not server.authorised(api)


def test_a_json_body_client(server):
    server.client_auth = "json"
    reply = server._token(_post("/ledger/token", {"grant_type": "client_credentials", "client_id": "c",
                                                  "client_secret": "s"}, as_json=True))  # fmt: skip
    assert reply.status == 200
