"""Families and providers: how a family app plugs its vendors into the kernel.

A family (monitoring, alerts, webhooks, ...) declares its concrete models and registers one
Provider subclass per vendor module:

    FAMILY = Family("monitoring", "Monitoring", app_label="monitoring")

    @FAMILY.register
    class Datadog(Provider):
        name = "datadog"
        settings_serializer = DatadogSettings
        secrets_serializer = DatadogSecrets
        def deliver(self, operation, payload): ...
        def check_health(self): ...

Settings and secrets are validated with DRF serializers, so `integrations apply`, admin and
the API all reject the same bad input with the same message.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

from django.apps import apps
from django.core.serializers.json import DjangoJSONEncoder
from rest_framework import serializers

from .errors import ConfigurationError, UnsafeURLError
from .retry import RetryPolicy
from .secrets import SecretBag, redact
from .signing import WHSEC_PREFIX, InvalidSecret, whsec_key
from .ssrf import check_outbound_url

if TYPE_CHECKING:
    from .credentials import ConnectedAccount, CredentialManager, CredentialScheme, IssuedToken


class UnknownFamily(LookupError):
    pass


class UnknownProvider(LookupError):
    pass


# -- settings / secrets schemas ------------------------------------------------------------------
class StrictSerializer(serializers.Serializer):
    """Rejects keys it does not declare, naming them, instead of silently dropping them."""

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError({"non_field_errors": ["must be a JSON object"]})
        unknown = {key: ["unknown setting"] for key in sorted(set(data) - set(self.fields))}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # report unknown keys together with the declared fields' errors, not one after the other
            if not unknown or not isinstance(exc.detail, dict):
                raise
            raise serializers.ValidationError({**exc.detail, **unknown})
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


def validate_outbound_url(value: str) -> str:
    try:
        check_outbound_url(value)
    except UnsafeURLError as exc:
        raise serializers.ValidationError(exc.message)
    return value


class OutboundURLField(serializers.URLField):
    """A URL we will call: it must pass the SSRF guard."""

    def to_internal_value(self, data):
        return validate_outbound_url(super().to_internal_value(data))


def validate_whsec(value: str) -> str:
    """A Standard Webhooks signing secret: 'whsec_' and the standard base64 of 24 to 64 random
    bytes (the spec's range). The message never quotes the value."""
    if not value.startswith(WHSEC_PREFIX):
        raise serializers.ValidationError("must be a Standard Webhooks secret starting with 'whsec_'")
    try:
        key = whsec_key(value)
    except InvalidSecret as exc:
        raise serializers.ValidationError(str(exc))
    if not 24 <= len(key) <= 64:
        raise serializers.ValidationError("the decoded key must be 24 to 64 random bytes")
    return value


class BaseSettings(StrictSerializer):
    """Every provider accepts an optional base_url override (sandbox, proxy, regional host)."""

    base_url = OutboundURLField(required=False, allow_blank=True)


class NoSecrets(StrictSerializer):
    pass


def validate_config_data(provider_cls, settings_data, secrets_data, *, partial_secrets: bool) -> dict:
    """Validate a provider's settings and secrets; return {'settings.x': msg, 'secrets.y': msg}.

    Error messages never echo a secret value.
    """
    return check_config_data(provider_cls, settings_data, secrets_data, partial_secrets=partial_secrets)[0]


def check_config_data(provider_cls, settings_data, secrets_data, *, partial_secrets: bool) -> tuple[dict, dict]:
    """validate_config_data's errors, and the settings as the serializer typed them (empty while
    there are errors): what admin's typed form stores, validated once."""
    errors: dict[str, str] = {}
    settings_ser = provider_cls.settings_serializer(data=settings_data or {})
    if not settings_ser.is_valid():
        errors.update(_flatten("settings", settings_ser.errors))
    secrets_ser = provider_cls.secrets_serializer(data=secrets_data or {}, partial=partial_secrets)
    if not secrets_ser.is_valid():
        # keep only the field names and messages: DRF messages do not include input values
        errors.update(_flatten("secrets", secrets_ser.errors))
    if errors:
        return errors, {}
    settings, secrets = dict(settings_ser.validated_data), dict(secrets_ser.validated_data)
    errors.update(provider_cls.validate_combination(settings, secrets))
    return errors, ({} if errors else settings)


def clean_settings(provider_cls, settings_data) -> dict:
    ser = provider_cls.settings_serializer(data=settings_data or {})
    ser.is_valid(raise_exception=True)
    return {key: value for key, value in ser.validated_data.items() if value not in (None, "")}


def jsonable(data: dict) -> dict:
    """Validated settings as the JSON settings column holds them (serializers may return
    Decimal, UUID or datetime values)."""
    return json.loads(json.dumps(data, cls=DjangoJSONEncoder))


def _flatten(prefix: str, errors) -> dict[str, str]:
    flat: dict[str, str] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = prefix if key == "non_field_errors" else f"{prefix}.{key}"
            flat.update(_flatten(name, value))
    elif isinstance(errors, list):
        messages = [str(item) for item in errors if not isinstance(item, (dict, list))]
        nested = [item for item in errors if isinstance(item, (dict, list))]
        if messages:
            flat[prefix] = "; ".join(messages)
        for index, item in enumerate(nested):
            flat.update(_flatten(f"{prefix}[{index}]", item))
    else:
        flat[prefix] = str(errors)
    return flat


# -- results ---------------------------------------------------------------------------------------
@dataclass
class DeliveryResult:
    """What a provider reports after delivering one outbox payload."""

    items: int = 0
    http_status: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class HealthResult:
    ok: bool
    message: str
    http_status: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class SyncResult:
    """What one sync of one config did (used by the `sync` command and scheduled runs)."""

    queued: int = 0
    delivered: int = 0
    failed: int = 0
    skipped: int = 0
    detail: dict[str, Any] = field(default_factory=dict)


# -- providers ------------------------------------------------------------------------------------
class Provider:
    """One vendor of one family, bound to one configuration row."""

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    family: ClassVar[Family]
    settings_serializer: ClassVar[type[serializers.Serializer]] = BaseSettings
    secrets_serializer: ClassVar[type[serializers.Serializer]] = NoSecrets
    default_base_url: ClassVar[str] = ""
    retry_policy: ClassVar[RetryPolicy] = RetryPolicy()
    # How the vendor issues an expiring token, if it does (credentials.py); None for static keys
    credentials: ClassVar[CredentialScheme | None] = None
    # Set by the outbox before deliver(): True when this payload may already have reached the
    # vendor (an earlier attempt failed, or a worker died mid-send). A vendor with no idempotency
    # key (Twilio, Tave) looks for its earlier write before writing again.
    resending: bool = False

    @classmethod
    def validate_combination(cls, settings: dict, secrets: dict) -> dict[str, str]:
        """Rules across settings and secrets (each already valid on its own), as
        {'settings.x' or 'secrets.y': message}. The messages must not quote a secret."""
        return {}

    def __init__(self, config):
        self.config = config
        self.organisation = config.organisation
        self.settings: dict = dict(config.settings or {})

    @cached_property
    def secrets(self) -> SecretBag:
        """Read on first use, so work that needs only settings (planning thousands of documents from
        configurations loaded with their secrets deferred) never decrypts them."""
        secrets = self.config.secrets
        # a config built in memory holds a plain dict until it is read back from the database
        return secrets if isinstance(secrets, SecretBag) else SecretBag(secrets or {})

    # -- helpers for vendor modules ------------------------------------------------------------
    def base_url(self) -> str:
        """The tenant's override if set, else the vendor's documented host."""
        return self.settings.get("base_url") or self.default_base_url

    def uses_configured_url(self) -> bool:
        return bool(self.settings.get("base_url"))

    def secret(self, key: str) -> str:
        value = self.secrets.get(key)
        if not value:
            raise ConfigurationError(f"{self.name}: secret {key!r} is not set")
        return value

    def hidden_values(self) -> list[str]:
        """Every value that must never be shown: the secrets staff typed and the tokens the
        vendor issued (credentials.py)."""
        hidden = self.secrets.values_to_hide()
        credential = self.config.credential or {}
        hidden += [str(credential[key]) for key in ("access_token", "refresh_token") if credential.get(key)]
        return hidden

    def redact(self, text: str) -> str:
        return redact(text, self.hidden_values())

    @property
    def credential_manager(self) -> CredentialManager:
        from .credentials import CredentialManager

        if self.credentials is None:
            raise ConfigurationError(f"{self.name} has no vendor-issued credentials")
        manager = self.__dict__.get("_credential_manager")
        if manager is None:
            manager = self.__dict__["_credential_manager"] = CredentialManager(self)
        return manager

    def client(self, *, base_url: str | None = None, guarded: bool | None = None, authenticated: bool = True, **kwargs):
        """The vendor's HTTP client. With vendor-issued credentials, every request carries the
        current token (renewed once on a 401) unless `authenticated=False` (the token endpoint,
        a sign-in call)."""
        from .http import VendorClient

        url = base_url or self.base_url()
        if authenticated and self.credentials is not None:
            kwargs.setdefault("credentials", self.credential_manager)
        return VendorClient(
            family=self.family.name,
            provider=self.name,
            base_url=url,
            organisation_id=self.organisation.pk if self.organisation else None,
            guarded=self.uses_configured_url() if guarded is None else guarded,
            secrets=self.hidden_values(),
            **kwargs,
        )

    # -- the contract a vendor module implements --------------------------------------------------
    def deliver(self, operation: str, payload: dict) -> DeliveryResult:
        """Send one outbox payload. Raise RetryableError/PermanentError on failure."""
        raise NotImplementedError

    def check_health(self) -> HealthResult:
        """A cheap authenticated call proving the credentials and endpoint work."""
        raise NotImplementedError

    def sign_in(self) -> IssuedToken:
        """For a SignInSession scheme: sign in (with `client(authenticated=False)`) and return
        the session token."""
        raise NotImplementedError

    # -- admin's configuration form (integrations/typed_settings.py) ----------------------------
    # Settings whose values the vendor can list (ledger accounts, tax codes): admin offers them
    # as a drop-down filled by live_choices(), or a text box with a note when the list cannot be read.
    live_choice_fields: ClassVar[tuple[str, ...]] = ()

    def live_choices(self, *, refresh: bool = False) -> dict[str, list[tuple[str, str]]]:
        """{setting: [(value, label), ...]} read from the vendor with this configuration's
        credentials, for the settings named in `live_choice_fields`. Raise IntegrationError (or
        let the client raise it) when the vendor cannot be read: admin then falls back to a text
        box and says why. The kernel caches the answer briefly (LIVE_CHOICES_CACHE_SECONDS);
        `refresh` asks for a fresh read when the provider keeps a cache of its own."""
        return {}

    def connected_account(self, token: IssuedToken, callback: dict[str, str]) -> ConnectedAccount | list:
        """For an OAuth2AuthorizationCode scheme: the vendor account (ledger) the consent gave,
        read with the new token and the callback's query parameters. A list of them when the
        consent covers several (staff choose one in admin)."""
        raise NotImplementedError


# -- families -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule:
    """A beat schedule a family needs. The kernel installs the missing ones after `migrate`
    (django-celery-beat's DatabaseScheduler; staff edit or disable them in admin and a later
    migrate never overwrites that). Exactly one of `every` (an interval) or `crontab` (five
    fields, "minute hour day month weekday", Europe/London) is given."""

    name: str
    task: str
    every: timedelta | None = None
    crontab: str = ""
    args: tuple = ()
    description: str = ""


MODEL_KINDS = ("config", "sync_log", "audit", "retry")


class Family:
    """An integration family: its four concrete models, its registered providers, its schedules.

    The models are named explicitly as "app_label.ModelName" (resolved lazily, once the app
    registry is ready), never derived from the family's name, and `manage.py check` verifies
    each family is completely wired (integrations/checks.py).
    """

    def __init__(
        self,
        name: str,
        label: str,
        *,
        config: str,
        sync_log: str,
        audit: str,
        retry: str,
        schedules: tuple[Schedule, ...] = (),
        inbound_only: bool = False,
    ):
        self.name = name
        self.label = label
        self.model_labels = {"config": config, "sync_log": sync_log, "audit": audit, "retry": retry}
        self.app_label = config.partition(".")[0]
        self.schedules = tuple(schedules)
        # an inbound family (webhooks) receives from its vendors and never delivers to them
        self.inbound_only = inbound_only
        self.providers: dict[str, type[Provider]] = {}
        self.sync_handler: Callable | None = None

    def __repr__(self) -> str:
        return f"Family({self.name!r})"

    def register(self, provider_cls: type[Provider]) -> type[Provider]:
        if not provider_cls.name:
            raise ValueError(f"{provider_cls.__name__} needs a name")
        provider_cls.family = self
        self.providers[provider_cls.name] = provider_cls
        return provider_cls

    def provider(self, name: str) -> type[Provider]:
        try:
            return self.providers[name]
        except KeyError:
            known = ", ".join(sorted(self.providers)) or "none"
            raise UnknownProvider(f"unknown provider {name!r} for family {self.name!r} (known: {known})")

    def provider_choices(self) -> list[tuple[str, str]]:
        """(name, label) of every registered provider: the choices admin forms and filters offer."""
        return [(name, cls.label or name) for name, cls in sorted(self.providers.items())]

    def sync(self, handler: Callable) -> Callable:
        """Register the family's sync: handler(config, *, progress=None, now=None) -> SyncResult."""
        self.sync_handler = handler
        return handler

    def model(self, kind: str):
        """The concrete model of `kind` ("config", "sync_log", "audit" or "retry")."""
        return apps.get_model(self.model_labels[kind])

    @property
    def config_model(self):
        return self.model("config")

    @property
    def sync_log_model(self):
        return self.model("sync_log")

    @property
    def audit_model(self):
        return self.model("audit")

    @property
    def retry_model(self):
        return self.model("retry")


_families: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    _families[family.name] = family
    return family


def get_family(name: str) -> Family:
    try:
        return _families[name]
    except KeyError:
        known = ", ".join(sorted(_families)) or "none"
        raise UnknownFamily(f"unknown family {name!r} (known: {known})")


def families() -> list[Family]:
    return [_families[name] for name in sorted(_families)]
