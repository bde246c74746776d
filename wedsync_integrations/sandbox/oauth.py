"""A vendor's OAuth 2.0 authorization server, played by the sandbox (no internet needed to connect).

A family's `sandbox.py` declares one per vendor:

    QUICKBOOKS_AUTH = AuthorizationServer(
        "/quickbooks", authorize_path="/connect/oauth2", token_path="/oauth2/v1/tokens/bearer",
        access_lifetime=3600, rotates=False, redirect_extras=lambda grant: {"realmId": "9130355"},
    )
    QUICKBOOKS_AUTH.install()          # declares its routes
    ...
    if not QUICKBOOKS_AUTH.authorised(request): return Reply(401, json=...)   # in the vendor's API routes

What it plays (RFC 6749, RFC 7636):
- GET  <prefix><authorize_path>  a consent page with "Allow" and "Deny" (links back to the
                                 redirect_uri with `code` + `state` (+ vendor extras) or
                                 `error=access_denied`); codes are single-use and live 5 minutes
- POST <prefix><token_path>      authorization_code (checks client, redirect_uri, PKCE S256),
                                 refresh_token (a rotating server issues a new refresh token and
                                 invalidates the old one: reusing it is `invalid_grant`, except
                                 within `reuse_grace` seconds, Xero's 30 minutes), client_credentials
- access tokens expire after `access_lifetime` seconds; API routes ask `authorised(request)`
- control: POST <prefix>/__oauth {"access_lifetime": s, "revoke_all": true} and
           GET <prefix>/__oauth (counts: token requests by grant, reuse refusals, live tokens);
           POST <prefix>/__oauth {"issue_refresh_token": {"client_id": "…"}} answers a refresh token
           as if that client had been granted consent (a vendor's "OAuth playground": the demo's
           headless connection)
Client authentication: HTTP Basic, form fields, or (FreshBooks) a JSON body, as declared.
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode

from .routes import Reply, on_reset, route

CODE_LIFETIME = 300


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    scope: str
    code_challenge: str
    issued_at: float
    extras: dict = field(default_factory=dict)


class AuthorizationServer:
    def __init__(
        self,
        prefix: str,
        *,
        authorize_path: str,
        token_path: str,
        access_lifetime: int = 1800,
        rotates: bool = True,
        reuse_grace: int = 0,
        client_auth: str = "basic",  # basic | post | json
        name: str = "",
        redirect_extras: Callable[[dict], dict] | None = None,
        token_extras: Callable[[], dict] | None = None,
    ):
        self.prefix = prefix
        self.authorize_path, self.token_path = authorize_path, token_path
        self.default_lifetime = self.access_lifetime = access_lifetime
        self.rotates, self.reuse_grace, self.client_auth = rotates, reuse_grace, client_auth
        self.name = name or prefix.strip("/").capitalize()
        self.redirect_extras = redirect_extras or (lambda query: {})
        self.token_extras = token_extras or dict
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        with self._lock:
            self.access_lifetime = self.default_lifetime
            self._codes: dict[str, _Grant] = {}
            self._access: dict[str, float] = {}  # token -> expires at
            self._refresh: dict[str, _Grant] = {}  # live refresh tokens
            self._spent: dict[str, float] = {}  # rotated-away refresh token -> when it was spent
            self._replacement: dict[str, dict] = {}  # spent token -> the reply it got (grace period)
            self.counts: Counter = Counter()

    # -- declaring the routes ---------------------------------------------------------------------------
    def install(self) -> AuthorizationServer:
        route("GET", self.prefix + self.authorize_path)(self._authorize_page)
        route("POST", self.prefix + self.token_path)(self._token)
        route("GET", self.prefix + "/__oauth")(self._state)
        route("POST", self.prefix + "/__oauth")(self._control)
        on_reset(self._reset)
        return self

    # -- used by the vendor's API routes -----------------------------------------------------------------
    def authorised(self, request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header.partition(" ")[2] if header.lower().startswith("bearer ") else ""
        with self._lock:
            expires = self._access.get(token)
        return expires is not None and expires > time.time()

    def unauthorised(self) -> Reply:
        return Reply(401, json={"error": "invalid_token", "error_description": "access token missing or expired"})

    # -- the consent page ---------------------------------------------------------------------------------
    def _authorize_page(self, request) -> Reply:
        query = {key: values[0] for key, values in request.query.items()}
        redirect_uri, state = query.get("redirect_uri", ""), query.get("state", "")
        if not redirect_uri or query.get("response_type") != "code" or not query.get("client_id"):
            return Reply(400, body="invalid request: response_type=code, client_id and redirect_uri are required")
        code = "code-" + secrets.token_urlsafe(16)
        extras = self.redirect_extras(query)
        with self._lock:
            self._codes[code] = _Grant(
                client_id=query["client_id"], redirect_uri=redirect_uri, scope=query.get("scope", ""),
                code_challenge=query.get("code_challenge", ""), issued_at=time.time(), extras=extras,
            )  # fmt: skip
        allow = _with_query(redirect_uri, {"code": code, "state": state, **extras})
        denied = {"error": "access_denied", "error_description": "The user denied access", "state": state}
        deny = _with_query(redirect_uri, denied)
        page = f"""<!doctype html><html><head><title>{html.escape(self.name)} — authorise WedSync</title></head>
<body><h1>{html.escape(self.name)} (sandbox)</h1>
<p>WedSync Integrations asks to access your books ({html.escape(query.get('scope', ''))}).</p>
<p><a id="allow" href="{html.escape(allow)}">Allow</a> &nbsp; <a id="deny" href="{html.escape(deny)}">Deny</a></p>
</body></html>"""
        return Reply(200, body=page, headers={"Content-Type": "text/html; charset=utf-8"})

    # -- the token endpoint -------------------------------------------------------------------------------
    def _token(self, request) -> Reply:
        params, client_id, client_secret = self._client_and_params(request)
        if not client_id or not client_secret:
            return _error(401, "invalid_client", "client authentication failed")
        grant_type = params.get("grant_type", "")
        with self._lock:
            self.counts[grant_type] += 1
            if grant_type == "authorization_code":
                return self._exchange_code(params, client_id)
            if grant_type == "refresh_token":
                return self._refresh_grant(params.get("refresh_token", ""))
            if grant_type == "client_credentials":
                return Reply(200, json=self._issue(refresh=False), headers={"Cache-Control": "no-store"})
        return _error(400, "unsupported_grant_type", grant_type)

    def _client_and_params(self, request) -> tuple[dict, str, str]:
        if self.client_auth == "json":
            params = request.json() if request.body else {}
            return params, params.get("client_id", ""), params.get("client_secret", "")
        params = {key: values[0] for key, values in parse_qs(request.text(), keep_blank_values=True).items()}
        if self.client_auth == "post":
            return params, params.get("client_id", ""), params.get("client_secret", "")
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return params, "", ""
        client_id, _, client_secret = base64.b64decode(header[6:]).decode().partition(":")
        return params, client_id, client_secret

    def _exchange_code(self, params: dict, client_id: str) -> Reply:
        grant = self._codes.pop(params.get("code", ""), None)
        if grant is None or time.time() - grant.issued_at > CODE_LIFETIME:
            return _error(400, "invalid_grant", "authorization code unknown, used or expired")
        if grant.client_id != client_id or grant.redirect_uri != params.get("redirect_uri"):
            return _error(400, "invalid_grant", "client or redirect_uri does not match the authorization request")
        if grant.code_challenge and _s256(params.get("code_verifier", "")) != grant.code_challenge:
            return _error(400, "invalid_grant", "PKCE code_verifier does not match the code_challenge")
        return Reply(200, json=self._issue(refresh=True, grant=grant), headers={"Cache-Control": "no-store"})

    def _refresh_grant(self, token: str) -> Reply:
        grant = self._refresh.get(token)
        if grant is not None:
            if self.rotates:
                del self._refresh[token]
                self._spent[token] = time.time()
                reply = self._issue(refresh=True, grant=grant)
                self._replacement[token] = reply
            else:
                reply = {**self._issue(refresh=False), "refresh_token": token}
            return Reply(200, json=reply, headers={"Cache-Control": "no-store"})
        spent_at = self._spent.get(token)
        if spent_at is not None and time.time() - spent_at <= self.reuse_grace:
            return Reply(200, json=self._replacement[token], headers={"Cache-Control": "no-store"})
        self.counts["reuse_refused" if spent_at is not None else "unknown_refused"] += 1
        return _error(400, "invalid_grant", "refresh token already used or unknown")

    def _issue(self, *, refresh: bool, grant: _Grant | None = None) -> dict:
        access = "at-" + secrets.token_urlsafe(24)
        self._access[access] = time.time() + self.access_lifetime
        reply = {"access_token": access, "token_type": "bearer", "expires_in": self.access_lifetime}
        reply.update(self.token_extras())
        if refresh and grant is not None:
            refresh_token = "rt-" + secrets.token_urlsafe(24)
            self._refresh[refresh_token] = grant
            reply["refresh_token"] = refresh_token
        return reply

    # -- control ---------------------------------------------------------------------------------------------
    def _state(self, request) -> Reply:
        with self._lock:
            live = sum(1 for expires in self._access.values() if expires > time.time())
            state = {
                "counts": dict(self.counts),
                "live_access_tokens": live,
                "live_refresh_tokens": len(self._refresh),
                "access_lifetime": self.access_lifetime,
            }
        return Reply(200, json=state)

    def _control(self, request) -> Reply:
        data = request.json()
        with self._lock:
            if "access_lifetime" in data:
                self.access_lifetime = int(data["access_lifetime"])
            if data.get("expire_access_tokens"):
                self._access = dict.fromkeys(self._access, 0.0)
            if data.get("revoke_all"):
                self._access.clear()
                self._spent.update(dict.fromkeys(self._refresh, 0.0))
                self._refresh.clear()
            playground = data.get("issue_refresh_token")
            if playground:
                grant = _Grant(client_id=str(playground.get("client_id", "")), redirect_uri="", scope="",
                               code_challenge="", issued_at=time.time())  # fmt: skip
                issued = self._issue(refresh=True, grant=grant)
                self._access.pop(issued["access_token"], None)  # only the refresh token is handed out
                return Reply(200, json={"refresh_token": issued["refresh_token"]})
        return self._state(request)


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _with_query(url: str, params: dict) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _error(status: int, error: str, description: str) -> Reply:
    return Reply(status, json={"error": error, "error_description": description}, headers={"Cache-Control": "no-store"})
