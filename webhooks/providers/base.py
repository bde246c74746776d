"""What every inbound source module builds on.

A source is a kernel Provider of the `webhooks` family (so its per-organisation signing secret is
configured, validated, encrypted and shown write-only exactly like any vendor credential) plus
three class-level hooks the endpoint calls:

    scheme               the VerificationScheme that authenticates a request
    parse(request, settings) -> Parsed     events (type, vendor id, payload) or a handshake reply
    reply(stored) -> HttpResponse           the 2xx the vendor expects (empty for Slack and Xero)

Adding a source = one module in this package, registered with @FAMILY.register.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.conf import settings as django_settings
from django.http import HttpResponse, JsonResponse
from rest_framework import serializers

from wedsync_integrations.integrations.errors import PermanentError
from wedsync_integrations.integrations.registry import HealthResult, Provider, StrictSerializer, validate_whsec

from ..verification import InboundRequest, Malformed, VerificationScheme, parse_json

EVENT_TYPE_PATTERN = re.compile(r"^[A-Za-z0-9_]+([.:-][A-Za-z0-9_]+)*$")
MAX_EXTERNAL_ID = 255


@dataclass
class ParsedEvent:
    """One vendor event found in a verified request."""

    event_type: str
    external_id: str
    payload: Any
    account: str = ""  # the vendor account it belongs to (realmId, tenantId, team id…), if named

    def __post_init__(self):
        if not self.event_type or len(self.event_type) > 128:
            raise Malformed("event type is missing or longer than 128 characters")
        if not self.external_id:
            raise Malformed("the event has no id")
        if len(self.external_id) > MAX_EXTERNAL_ID:
            # keep it unique and storable: a long vendor id is replaced by its digest
            self.external_id = "sha256:" + hashlib.sha256(self.external_id.encode()).hexdigest()


@dataclass
class Parsed:
    events: list[ParsedEvent] = field(default_factory=list)
    handshake: HttpResponse | None = None  # answer this instead of the normal reply
    adopt_secret: str | None = None  # a handshake that delivers the signing secret (FreshBooks)


# -- settings and secrets -------------------------------------------------------------------------
class InboundSettings(StrictSerializer):
    """Non-secret settings every source accepts."""

    rate_limit_per_minute = serializers.IntegerField(
        min_value=1, max_value=100_000, required=False, help_text="Overrides WEBHOOK_RATE_LIMIT_PER_MINUTE."
    )
    peak_rate_limit_per_minute = serializers.IntegerField(
        min_value=1, max_value=100_000, required=False, help_text="Overrides WEBHOOK_PEAK_RATE_LIMIT_PER_MINUTE."
    )
    timestamp_tolerance_seconds = serializers.IntegerField(
        min_value=30, max_value=900, required=False, help_text="Replay window, for schemes that sign a timestamp."
    )


class SigningSecrets(StrictSerializer):
    signing_secret = serializers.CharField(min_length=8, max_length=512, help_text="The vendor's signing secret.")
    previous_signing_secret = serializers.CharField(
        min_length=8,
        max_length=512,
        required=False,
        allow_blank=True,
        help_text="During rotation: the old secret, still accepted until removed.",
    )


class StandardWebhooksSecrets(SigningSecrets):
    signing_secret = serializers.CharField(max_length=512, validators=[validate_whsec])
    previous_signing_secret = serializers.CharField(
        max_length=512, required=False, allow_blank=True, validators=[validate_whsec]
    )


# -- the source base class ------------------------------------------------------------------------
class InboundSource(Provider):
    scheme: ClassVar[VerificationScheme]
    settings_serializer = InboundSettings
    secrets_serializer = SigningSecrets
    global_path: ClassVar[bool] = False  # also served at /<source>/ with a platform secret
    requires_secret: ClassVar[bool] = True  # False: a handshake may deliver it (FreshBooks)
    dispatch: ClassVar[str] = "immediate"  # or "sweeper": see webhooks.inbox.Dispatch
    account_setting: ClassVar[str] = ""  # settings key naming the vendor account this org owns
    success_status: ClassVar[int] = 200

    # -- request handling (class-level: the global path has no config row) ---------------------
    @classmethod
    def scheme_for(cls, settings: dict) -> VerificationScheme:
        return cls.scheme

    @classmethod
    def authenticate(cls, request: InboundRequest, secrets: list[str], settings: dict) -> None:
        """Raise Rejected unless the request is genuine."""
        cls.scheme_for(settings).verify(request, secrets, tolerance=settings.get("timestamp_tolerance_seconds"))

    @classmethod
    def parse(cls, request: InboundRequest, settings: dict) -> Parsed:
        raise NotImplementedError

    @classmethod
    def reply(cls, stored: list) -> HttpResponse:
        """The 2xx for a verified request; `stored` holds (event id, duplicate?) pairs."""
        return JsonResponse(
            {"status": "accepted", "received": len(stored), "duplicates": sum(1 for _, dup in stored if dup)},
            status=cls.success_status,
        )

    @classmethod
    def secrets_from(cls, config) -> list[str]:
        bag = config.secrets or {}
        return [value for value in (bag.get("signing_secret"), bag.get("previous_signing_secret")) if value]

    @classmethod
    def platform_secrets(cls) -> list[str]:
        """Secrets for the global path (only sources with global_path)."""
        return []

    # -- kernel Provider contract ------------------------------------------------------------------
    def deliver(self, operation: str, payload: dict):
        raise PermanentError(f"{self.name} is an inbound-only source: nothing is sent to it")

    def check_health(self) -> HealthResult:
        url = endpoint_url(self.name, self.organisation.slug)
        if not self.secrets_from(self.config):
            return HealthResult(ok=False, message=f"inbound only: no signing secret yet; endpoint {url}")
        return HealthResult(ok=True, message=f"inbound only: signing secret set; endpoint {url}")


def endpoint_url(source: str, org_slug: str | None = None) -> str:
    base = django_settings.PUBLIC_BASE_URL.rstrip("/")
    path = f"/api/webhooks/ai-integrations/{source}/" + (f"{org_slug}/" if org_slug else "")
    return base + path


# -- parsing helpers ---------------------------------------------------------------------------------
def require_object(value, what: str = "body") -> dict:
    if not isinstance(value, dict):
        raise Malformed(f"{what} must be a JSON object")
    return value


def require_str(container: dict, key: str, what: str | None = None) -> str:
    value = container.get(key)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise Malformed(f"{what or key} is missing or not a string")
    return value.strip()


def checked_event_type(value: str) -> str:
    if not EVENT_TYPE_PATTERN.match(value) or len(value) > 128:
        raise Malformed("event type must be dot-separated words of letters, digits and underscores")
    return value


def body_digest(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def form_dict(pairs: list[tuple[str, str]], drop: tuple[str, ...] = ()) -> dict:
    """Form fields as a dict; a repeated name keeps all its values as a list."""
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in drop:
            continue
        if name in result:
            existing = result[name]
            result[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            result[name] = value
    return result


def json_from_form_field(fields: dict, name: str) -> dict:
    raw = fields.get(name)
    if not isinstance(raw, str):
        raise Malformed(f"form field {name!r} is missing")
    return require_object(parse_json(raw, f"form field {name!r}"), f"form field {name!r}")
