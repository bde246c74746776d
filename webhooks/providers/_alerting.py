"""Shared shape of Datadog and New Relic alert notifications.

Neither vendor signs its webhooks: both can only attach fixed custom headers (Datadog webhook
integration `custom_headers`; New Relic webhook destination auth / custom headers). So by default
the secret is sent as "Authorization: Bearer <secret>" (SharedSecretHeader, or a header named in
settings.token_header). Where a relay in front of them can sign, settings.auth =
"standard_webhooks" switches to Standard Webhooks (whsec_ secret, signed webhook-id, ±5 min).

Event type: always "alert" (the vendor's own transition/state stays in the payload).
Dedupe: the signed webhook-id under Standard Webhooks; otherwise the body fields named in
settings.dedupe_fields (vendor defaults below), falling back to a digest of the whole body, so an
identical redelivery is acknowledged and not processed twice.

Vendor facts: docs/vendors/datadog.md and docs/vendors/newrelic.md.
"""

from __future__ import annotations

from typing import ClassVar

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_slug
from rest_framework import serializers

from wedsync_integrations.integrations.registry import HealthResult

from ..verification import SharedSecretHeader, StandardWebhooks, VerificationScheme
from .base import (
    InboundSettings,
    InboundSource,
    Parsed,
    ParsedEvent,
    SigningSecrets,
    body_digest,
    require_object,
    validate_whsec,
)

AUTH_SHARED_SECRET = "shared_secret_header"
AUTH_STANDARD = "standard_webhooks"


def _validate_header_name(value: str) -> str:
    try:
        validate_slug(value)
    except DjangoValidationError:
        raise serializers.ValidationError("a header name: letters, digits, '-' and '_'")
    return value


class AlertSourceSettings(InboundSettings):
    auth = serializers.ChoiceField(choices=[AUTH_SHARED_SECRET, AUTH_STANDARD], required=False)
    token_header = serializers.CharField(
        max_length=64, required=False, validators=[_validate_header_name], help_text="Default: Authorization (Bearer)"
    )
    dedupe_fields = serializers.ListField(
        child=serializers.CharField(max_length=64), max_length=5, required=False, allow_empty=False
    )


class AlertSourceSecrets(SigningSecrets):
    """A whsec_ secret (Standard Webhooks) or a long random token (shared-secret header)."""

    def validate_signing_secret(self, value: str) -> str:
        return _validate_alert_secret(value)

    def validate_previous_signing_secret(self, value: str) -> str:
        return _validate_alert_secret(value) if value else value


def _validate_alert_secret(value: str) -> str:
    if value.startswith("whsec_"):
        return validate_whsec(value)
    if len(value) < 24:
        raise serializers.ValidationError("a shared-secret token must be at least 24 random characters")
    return value


class AlertNotificationSource(InboundSource):
    settings_serializer = AlertSourceSettings
    secrets_serializer = AlertSourceSecrets
    # Body fields whose values name one notification; a tuple entry lists alternative names for
    # one field (the first present wins), for vendors whose templates spell it differently.
    default_dedupe_fields: ClassVar[tuple[str | tuple[str, ...], ...]] = ()

    @classmethod
    def scheme_for(cls, settings: dict) -> VerificationScheme:
        if settings.get("auth") == AUTH_STANDARD:
            return StandardWebhooks()
        return SharedSecretHeader(settings.get("token_header") or "Authorization")

    def check_health(self) -> HealthResult:
        result = super().check_health()
        if result.ok and self.settings.get("auth") == AUTH_STANDARD:
            if not all(secret.startswith("whsec_") for secret in self.secrets_from(self.config)):
                # settings and secrets are validated apart: say so before every delivery is refused
                return HealthResult(ok=False, message="auth is standard_webhooks but a signing secret is not whsec_…")
        return result

    @classmethod
    def parse(cls, request, settings) -> Parsed:
        body = require_object(request.json)
        return Parsed([ParsedEvent("alert", cls._external_id(request, body, settings), body)])

    @classmethod
    def _external_id(cls, request, body: dict, settings: dict) -> str:
        if settings.get("auth") == AUTH_STANDARD:
            return request.header("webhook-id")
        fields = settings.get("dedupe_fields") or cls.default_dedupe_fields
        values = [_first_present(body, field) for field in fields]
        if values and all(isinstance(v, (str, int)) and not isinstance(v, bool) and str(v) for v in values):
            return ":".join(str(v) for v in values)
        return body_digest(request.body)


def _first_present(body: dict, field: str | tuple[str, ...]):
    names = (field,) if isinstance(field, str) else field
    return next((body[name] for name in names if body.get(name) not in (None, "")), None)
