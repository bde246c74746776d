"""Vendor-issued credentials: a token with an expiry, kept encrypted on the config row and renewed
by the service itself. One abstraction for every way vendors issue them:

    OAuth2AuthorizationCode  staff click "Connect to <vendor>" in admin (authorization code, PKCE
                             where the vendor supports it); renewed with a refresh token that the
                             vendor may rotate on every use (QuickBooks, Xero, FreshBooks)
    OAuth2ClientCredentials  a client id and secret buy a token (Entra ID for Power BI, Xero
                             custom connections)
    SignInSession            the provider signs in and gets a session token (Tableau's personal
                             access token -> X-Tableau-Auth, Looker's POST /login)

A provider declares its scheme (`credentials = OAuth2AuthorizationCode(...)`); its `client()`
then puts the token on every request. The token is used until shortly before it expires, renewed
once when the vendor answers 401 (the call is retried once), and a second 401 stops the
configuration like any bad credential.

Rotation is never lost. A renewal runs in its own committed transaction under a row lock on the
config (`select_for_update`; SQLite takes its write lock at BEGIN), re-reads the stored token
inside the lock and adopts it if another worker renewed meanwhile, so a single-use refresh token
is never spent twice; the new token set is committed before the access token is used. An
`invalid_grant` (the vendor no longer honours the refresh token) marks the credential
"reconnect needed" and stops the configuration; its queued items stay for "resume".

The OAuth protocol itself (grant parameters, PKCE, client authentication, token responses and
their errors) is Authlib's; every HTTP request still takes the kernel's one path (VendorClient:
timeouts, SSRF guard for configured URLs, classified failures, redacted logs).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl, urlencode

from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.requests_client.oauth2_session import OAuth2Auth, OAuth2ClientAuth
from authlib.oauth2.client import OAuth2Client
from django.db import transaction
from django.utils import timezone

from .errors import ConfigurationError, IntegrationError, PermanentError
from .moments import with_age
from .states import CredentialStatus

if TYPE_CHECKING:
    from .registry import Provider

logger = logging.getLogger("wedsync.credentials")

# 4xx answers of a token endpoint carry an OAuth error body for Authlib to read; they are not
# transport failures (5xx, timeouts and 429 still are, and are retried).
TOKEN_ENDPOINT_ANSWERS = frozenset(range(400, 429)) | frozenset(range(430, 500))
REFRESH_TOKEN_SECRET = "refresh_token"


class ReconnectNeeded(ConfigurationError):
    """The vendor no longer honours our grant: staff must connect again (the config stops)."""


# -- the token ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class IssuedToken:
    """What a vendor issued: an access token, when it expires, and what renews it."""

    access_token: str
    expires_at: datetime | None = None
    refresh_token: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. Tableau's site id, the granted scope

    def expiring(self, now: datetime, margin: timedelta) -> bool:
        return self.expires_at is not None and self.expires_at - margin <= now

    def stored(self, seeded_from: str = "") -> dict:
        return {
            "access_token": self.access_token,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "refresh_token": self.refresh_token,
            "extra": self.extra,
            "seeded_from": seeded_from,
        }

    @classmethod
    def from_stored(cls, data) -> IssuedToken | None:
        if not data or not data.get("access_token"):
            return None
        expires = data.get("expires_at")
        return cls(
            access_token=data["access_token"],
            expires_at=datetime.fromisoformat(expires) if expires else None,
            refresh_token=data.get("refresh_token") or "",
            extra=dict(data.get("extra") or {}),
        )

    @classmethod
    def from_oauth(cls, token: dict, *, keep_refresh_token: str = "") -> IssuedToken:
        """An IssuedToken from Authlib's token dict (expires_at computed from expires_in)."""
        expires = token.get("expires_at")
        extra = {key: token[key] for key in ("scope", "token_type", "x_refresh_token_expires_in") if key in token}
        return cls(
            access_token=str(token["access_token"]),
            expires_at=datetime.fromtimestamp(int(expires), tz=UTC) if expires else None,
            refresh_token=str(token.get("refresh_token") or keep_refresh_token or ""),
            extra=extra,
        )


def _fingerprint(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:16] if value else ""


# -- schemes -------------------------------------------------------------------------------------------
class CredentialScheme:
    """How one vendor issues and accepts a token. Subclasses implement issue()."""

    connectable: ClassVar[bool] = False  # offers "Connect to <vendor>" in admin
    renew_margin: timedelta = timedelta(seconds=60)  # renew this long before the expiry
    header_name: str = "Authorization"
    header_format: str = "Bearer {token}"
    required_secrets: tuple[str, ...] = ()

    def issue(self, provider: Provider, stored: IssuedToken | None) -> IssuedToken:
        """Obtain a new token from the vendor (network). `stored` is the current one, if any."""
        raise NotImplementedError

    def headers(self, token: IssuedToken) -> dict[str, str]:
        return {self.header_name: self.header_format.format(token=token.access_token)}

    def issues(self, provider_cls) -> list[str]:
        """What the provider class lacks for this scheme (reported by `manage.py check`)."""
        declared = set(provider_cls.secrets_serializer().fields)
        return [f"secret {name!r} is not declared" for name in self.required_secrets if name not in declared]


@dataclass
class OAuth2Scheme(CredentialScheme):
    """Common to the OAuth 2.0 grants: the token endpoint and how the client authenticates."""

    token_url: str = ""
    scopes: tuple[str, ...] = ()
    # client_secret_basic (HTTP Basic), client_secret_post (form fields)
    auth_method: str = "client_secret_basic"
    # "json": the token request body is a JSON object (FreshBooks), else form-encoded (RFC 6749)
    body_format: str = "form"
    required_secrets: tuple[str, ...] = ("client_id", "client_secret")

    def token_endpoint(self, provider: Provider) -> str:
        return provider.settings.get("token_url") or self.token_url

    def oauth_client(self, provider: Provider, *, redirect_uri: str = "") -> _KernelOAuth2Client:
        url = self.token_endpoint(provider)
        http = provider.client(base_url=url, guarded=url != self.token_url, authenticated=False)
        return _KernelOAuth2Client(
            _TokenEndpointSession(http, json_body=self.body_format == "json"),
            client_id=provider.secret("client_id"),
            client_secret=provider.secret("client_secret"),
            token_endpoint_auth_method=self.auth_method,
            scope=" ".join(self.scopes) or None,
            redirect_uri=redirect_uri or None,
            code_challenge_method="S256",
        )

    def _call(self, provider: Provider, action):
        """Run one token-endpoint exchange; translate OAuth errors into the kernel's vocabulary."""
        try:
            return action()
        except OAuthError as exc:
            raise _translate_oauth_error(provider, exc.error, exc.description) from None


@dataclass
class OAuth2ClientCredentials(OAuth2Scheme):
    """RFC 6749 §4.4: the client's own id and secret buy an access token (no refresh token)."""

    def issue(self, provider: Provider, stored: IssuedToken | None) -> IssuedToken:
        client = self.oauth_client(provider)
        url = self.token_endpoint(provider)
        token = self._call(provider, lambda: client.fetch_token(url, grant_type="client_credentials"))
        return IssuedToken.from_oauth(token)


@dataclass
class OAuth2AuthorizationCode(OAuth2Scheme):
    """RFC 6749 §4.1 (+ RFC 7636 PKCE): staff consent once in the vendor's page, then the refresh
    token keeps the connection alive. `refresh_token` may also be given as a secret (headless set-up
    from a vendor's OAuth playground); a newer one given that way takes precedence."""

    connectable: ClassVar[bool] = True
    authorize_url: str = ""
    pkce: bool = True
    extra_authorize_params: dict[str, str] = field(default_factory=dict)

    def authorize_endpoint(self, provider: Provider) -> str:
        return provider.settings.get("authorize_url") or self.authorize_url

    def authorization_url(self, provider: Provider, *, redirect_uri: str, state: str, code_verifier: str) -> str:
        client = self.oauth_client(provider, redirect_uri=redirect_uri)
        url, _ = client.create_authorization_url(
            self.authorize_endpoint(provider),
            state=state,
            code_verifier=code_verifier if self.pkce else None,
            **self.extra_authorize_params,
        )
        return url

    def exchange_code(self, provider: Provider, *, code: str, redirect_uri: str, code_verifier: str) -> IssuedToken:
        client = self.oauth_client(provider, redirect_uri=redirect_uri)
        extra = {"code_verifier": code_verifier} if self.pkce else {}
        token = self._call(
            provider,
            lambda: client.fetch_token(
                self.token_endpoint(provider),
                grant_type="authorization_code",
                code=code,
                redirect_uri=redirect_uri,
                **extra,
            ),
        )
        return IssuedToken.from_oauth(token)

    def issue(self, provider: Provider, stored: IssuedToken | None) -> IssuedToken:
        refresh_token = _refresh_token_to_spend(provider, stored)
        if not refresh_token:
            raise ReconnectNeeded(
                f"{provider.label}: not connected yet; press 'Connect to {provider.label}' on the configuration page"
            )
        client = self.oauth_client(provider)
        # scope is not sent on a refresh: the grant keeps what was consented (RFC 6749 §6)
        client.scope = None
        token = self._call(
            provider, lambda: client.refresh_token(self.token_endpoint(provider), refresh_token=refresh_token)
        )
        return IssuedToken.from_oauth(token, keep_refresh_token=refresh_token)


class SignInSession(CredentialScheme):
    """The provider signs in with what staff gave it and gets a session token:
    `provider.sign_in() -> IssuedToken`. Vendors that state no lifetime get `lifetime`."""

    lifetime: timedelta = timedelta(hours=1)

    def __init__(self, *, header_name: str = "Authorization", header_format: str = "Bearer {token}",
                 lifetime: timedelta | None = None, required_secrets: tuple[str, ...] = ()):  # fmt: skip
        self.header_name, self.header_format = header_name, header_format
        self.lifetime = lifetime or self.lifetime
        self.required_secrets = required_secrets

    def issue(self, provider: Provider, stored: IssuedToken | None) -> IssuedToken:
        token = provider.sign_in()
        if token.expires_at is None:
            token = IssuedToken(token.access_token, timezone.now() + self.lifetime, token.refresh_token, token.extra)
        return token


def _refresh_token_to_spend(provider: Provider, stored: IssuedToken | None) -> str:
    """The stored (rotated) refresh token, unless staff gave a newer one as a secret since."""
    given = provider.secrets.get(REFRESH_TOKEN_SECRET) or ""
    seeded_from = (provider.config.credential or {}).get("seeded_from", "")
    if given and _fingerprint(given) != seeded_from:
        return given
    return stored.refresh_token if stored else given


def _translate_oauth_error(provider: Provider, error: str, description: str | None) -> IntegrationError:
    detail = f"{error}: {description}" if description else error
    detail = provider.redact(detail)
    if error == "invalid_grant":
        return ReconnectNeeded(
            f"{provider.label}: reconnect needed — the vendor refused the stored grant ({detail}). "
            f"Press 'Connect to {provider.label}' on the configuration page; queued items are kept for 'resume'"
        )
    if error in ("invalid_client", "unauthorized_client"):
        return ConfigurationError(f"{provider.label}: the client id or secret was refused ({detail})")
    return PermanentError(f"{provider.label}: token request refused ({detail})", stops_config=True)


# -- Authlib over the kernel's HTTP path -------------------------------------------------------------------
class _KernelOAuth2Client(OAuth2Client):
    """Authlib's protocol client; its requests go through _TokenEndpointSession."""

    client_auth_class = OAuth2ClientAuth
    token_auth_class = OAuth2Auth
    oauth_error_class = OAuthError


class _TokenEndpointSession:
    """The `session` Authlib talks to: every token-endpoint call through a VendorClient, which
    answers OAuth error responses (4xx) instead of raising, so Authlib can read their `error`."""

    def __init__(self, http, *, json_body: bool = False):
        self.http, self.json_body = http, json_body

    def post(self, url, data=None, headers=None, auth=None, **kwargs):
        return self.request("POST", url, data=data, headers=headers, auth=auth, **kwargs)

    def request(self, method, url, data=None, headers=None, auth=None, **kwargs):
        if not self.json_body:
            return self.http.request(
                method, url, data=data, headers=headers, auth=auth, accept_statuses=TOKEN_ENDPOINT_ANSWERS
            )
        # The vendor wants a JSON object: let Authlib authenticate the form it prepared (Basic
        # header or client_secret_post fields), then send those fields as JSON.
        headers, body = dict(headers or {}), urlencode(data or {})
        if auth is not None:
            _, headers, body = auth.prepare(method, url, headers, body)
        headers = {key: value for key, value in headers.items() if key.lower() != "content-type"}
        return self.http.request(
            method,
            url,
            json=dict(parse_qsl(body, keep_blank_values=True)),
            headers={**headers, "Content-Type": "application/json"},
            accept_statuses=TOKEN_ENDPOINT_ANSWERS,
        )


# -- using and renewing the token of one config -----------------------------------------------------------
class CredentialManager:
    """The token of one provider's config: current() for a request, renew() when it fails."""

    def __init__(self, provider: Provider):
        self.provider = provider
        self.scheme: CredentialScheme = provider.credentials

    def current(self, *, now: datetime | None = None) -> IssuedToken:
        """A token valid for at least the scheme's margin, renewing it first if need be."""
        now = now or timezone.now()
        token = IssuedToken.from_stored(self.provider.config.credential)
        if token is None or token.expiring(now, self.scheme.renew_margin) or self._newer_seed_given():
            token = self.renew(rejected=token.access_token if token else None)
        return token

    def headers(self) -> dict[str, str]:
        return self.scheme.headers(self.current())

    def renew(self, *, rejected: str | None = None) -> IssuedToken:
        """Obtain a new token, unless another worker already replaced `rejected` (the token the
        caller found expiring or saw refused): then theirs is used and no request is made."""
        config = self.provider.config
        model = type(config)
        try:
            with transaction.atomic(durable=True):
                row = model.objects.select_for_update().only("pk", "credential").get(pk=config.pk)
                stored = IssuedToken.from_stored(row.credential)
                if self._still_good(stored, rejected, row.credential):
                    self._adopt(row.credential)
                    return stored
                token = self.scheme.issue(self.provider, stored)
                self._store(model, token)
        except ReconnectNeeded:
            self._mark_reconnect_needed(model)
            raise
        logger.info(
            "credentials.renewed family=%s provider=%s org=%s expires=%s",
            self.provider.family.name,
            self.provider.name,
            self.provider.organisation.pk,
            token.expires_at.isoformat() if token.expires_at else "-",
        )
        return token

    def _still_good(self, stored: IssuedToken | None, rejected: str | None, raw) -> bool:
        if stored is None or self._newer_seed_given(raw):
            return False
        if rejected is not None and stored.access_token == rejected:
            return False  # the very token that failed or expired: renew it
        return not stored.expiring(timezone.now(), self.scheme.renew_margin)

    def _newer_seed_given(self, raw=None) -> bool:
        """Staff gave a refresh token (secret) that the stored credential did not come from."""
        given = self.provider.secrets.get(REFRESH_TOKEN_SECRET) or ""
        raw = self.provider.config.credential if raw is None else raw
        return bool(given) and _fingerprint(given) != (raw or {}).get("seeded_from", "")

    def _store(self, model, token: IssuedToken) -> None:
        now = timezone.now()
        seed = _fingerprint(self.provider.secrets.get(REFRESH_TOKEN_SECRET) or "")
        fields = {
            "credential": token.stored(seeded_from=seed),
            "credential_status": CredentialStatus.CONNECTED,
            "credential_expires_at": token.expires_at,
            "credential_refreshed_at": now,
            "updated_at": now,
        }
        # .update() writes the encrypted field through get_prep_value, like save() does
        model.objects.filter(pk=self.provider.config.pk).update(**fields)
        self._adopt(fields["credential"], token=token, at=now)

    def _adopt(self, raw: dict, *, token: IssuedToken | None = None, at: datetime | None = None) -> None:
        config = self.provider.config
        config.credential = raw
        if token is not None:
            config.credential_status = CredentialStatus.CONNECTED
            config.credential_expires_at, config.credential_refreshed_at = token.expires_at, at

    def _mark_reconnect_needed(self, model) -> None:
        config = self.provider.config
        now = timezone.now()
        model.objects.filter(pk=config.pk).update(credential_status=CredentialStatus.RECONNECT, updated_at=now)
        config.credential_status = CredentialStatus.RECONNECT


# -- connecting (the admin's "Connect to <vendor>") ------------------------------------------------------------
@dataclass(frozen=True)
class ConnectedAccount:
    """The vendor account a consent gave us (the ledger), as the provider identified it."""

    id: str
    name: str
    settings: dict[str, Any] = field(default_factory=dict)  # e.g. {"realm_id": "9130355"}


def new_state() -> str:
    return generate_token(48)


def new_code_verifier() -> str:
    return generate_token(64)  # RFC 7636: 43-128 characters from the unreserved set


def use_unsaved(config, token: IssuedToken) -> None:
    """Let `config`'s provider call the vendor with `token` before it is saved (the ledger lookup
    that decides what to save)."""
    config.credential = token.stored(seeded_from=_fingerprint(config.secrets.get(REFRESH_TOKEN_SECRET) or ""))


def store_connection(config, token: IssuedToken, account: ConnectedAccount, *, actor: str) -> list[str]:
    """Save what a completed consent gave: the token, the account, its settings. Returns the
    names of the settings that changed. The caller audits and decides on resuming."""
    now = timezone.now()
    changed = sorted(key for key, value in account.settings.items() if config.settings.get(key) != value)
    with transaction.atomic():
        row = type(config).objects.select_for_update().get(pk=config.pk)
        row.settings = {**row.settings, **account.settings}
        row.credential = token.stored(seeded_from=_fingerprint(row.secrets.get(REFRESH_TOKEN_SECRET) or ""))
        row.credential_status = CredentialStatus.CONNECTED
        row.credential_expires_at, row.credential_refreshed_at = token.expires_at, now
        row.connected_account = account.name[:200]
        row.connected_at, row.connected_by = now, actor[:150]
        row.save()
    config.refresh_from_db()
    return changed


def describe(config) -> str:
    """One line for admin: connected to what, token expiry, last renewal — never a token."""
    if not config.credential_status:
        return "not connected"
    if config.credential_status == CredentialStatus.RECONNECT:
        return f"reconnect needed (was connected to {config.connected_account or 'the vendor'})"
    parts = [f"connected to {config.connected_account}" if config.connected_account else "connected"]
    if config.connected_at:
        by = f" by {config.connected_by}" if config.connected_by else ""
        parts.append(f"connected at {with_age(config.connected_at)}{by}")
    if config.credential_expires_at:
        parts.append(f"access token expires {with_age(config.credential_expires_at)}")
    if config.credential_refreshed_at:
        parts.append(f"last refreshed {with_age(config.credential_refreshed_at)}")
    return "; ".join(parts)
