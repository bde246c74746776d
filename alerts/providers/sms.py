"""SMS through Twilio's Messages API (form-encoded, HTTP Basic AccountSid:AuthToken).

Contract: docs/vendors/twilio.md. Texts are trimmed to a bounded number of segments
(GSM-7/UCS-2 aware, see sms_text.py) when rendered, and on a wedding day to one GSM-7 segment
(render.sms_body); numbers are validated as E.164.

Twilio has no idempotency key, so a blind resend after a timeout can text on-call twice. When
an attempt timed out after the request may have reached Twilio (read timeout, connection cut
mid-reply), it is recorded as "ambiguous"; before the next attempt sends anything we list the
recent messages from our number to that recipient and, if ours is there, adopt its SID instead
of sending again. Only if Twilio has no such message do we send: for critical alerts a missing
page is worse than a duplicate, and the lookup makes the duplicate unlikely.

Delivery status comes later from Twilio's status callbacks (webhook_handlers.py), which move
the Delivery row's vendor_status forward only.
"""

from __future__ import annotations

import email.utils
import json
import re
from datetime import datetime, timedelta

import requests
from django.conf import settings
from rest_framework import serializers

from wedsync_integrations.integrations.errors import IntegrationError, PermanentError, RetryableError
from wedsync_integrations.integrations.http import json_object
from wedsync_integrations.integrations.registry import BaseSettings, HealthResult, StrictSerializer

from .. import render
from ..family import FAMILY
from ..models import Alert, Delivery, DeliveryStatus, Purpose
from .base import AlertChannel, AmbiguousSendError, Sent

E164 = re.compile(r"^\+[1-9]\d{1,14}$")
ACCOUNT_SID = re.compile(r"^AC[0-9a-fA-F]{32}$")
API_VERSION = "2010-04-01"


def validate_e164(value: str) -> str:
    if not E164.match(value or ""):
        raise serializers.ValidationError(
            "must be an E.164 number: '+', country code and number, no spaces (e.g. +447700900123)"
        )
    return value


class E164Field(serializers.CharField):
    def to_internal_value(self, data):
        return validate_e164(super().to_internal_value(data))


class SmsSettings(BaseSettings):
    from_number = E164Field(help_text="Twilio number sending the alerts (E.164)")
    to_numbers = serializers.ListField(child=E164Field(), min_length=1, max_length=20)
    management_numbers = serializers.ListField(child=E164Field(), required=False, default=list, max_length=20)
    max_segments = serializers.IntegerField(
        required=False, min_value=1, max_value=10, help_text="outside wedding days (then always one GSM-7 segment)"
    )


class SmsSecrets(StrictSerializer):
    account_sid = serializers.RegexField(ACCOUNT_SID, error_messages={"invalid": "must be 'AC' + 32 hex characters"})
    auth_token = serializers.CharField(min_length=8)


def status_callback_url(organisation) -> str:
    """Where Twilio reports delivery status: the webhooks app's tenant path for Twilio, on the
    public host Twilio signs (settings.PUBLIC_BASE_URL)."""
    from django.urls import NoReverseMatch, reverse

    slug = organisation.slug if organisation is not None else settings.ALERTS_PLATFORM_ORGANISATION
    try:
        path = reverse("webhooks:organisation", kwargs={"source": "twilio", "org_slug": slug})
    except NoReverseMatch:
        path = f"/api/webhooks/ai-integrations/twilio/{slug}/"
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def _is_ambiguous(exc: IntegrationError) -> bool:
    cause = exc.__cause__
    if isinstance(cause, requests.ReadTimeout):
        return True
    # "Connection aborted" = the request went out and the reply was cut: Twilio may have it.
    return (
        isinstance(cause, requests.ConnectionError)
        and not isinstance(cause, requests.ConnectTimeout)
        and ("aborted" in str(cause).lower())
    )


@FAMILY.register
class Sms(AlertChannel):
    name = "sms"
    label = "SMS (Twilio)"
    settings_serializer = SmsSettings
    secrets_serializer = SmsSecrets
    default_base_url = "https://api.twilio.com"

    def max_segments(self) -> int:
        return int(self.settings.get("max_segments") or settings.ALERTS_SMS_MAX_SEGMENTS)

    def build_payloads(self, alert: Alert, purpose: str, *, at) -> list[dict]:
        """One message per number (management's for an escalation, when set)."""
        escalation = purpose == Purpose.ESCALATE
        numbers = list(self.settings.get("management_numbers") or []) if escalation else []
        numbers = numbers or list(self.settings.get("to_numbers") or [])
        body = render.sms_body(alert, purpose, self.max_segments())
        callback = status_callback_url(self.organisation)
        return [{"to": number, "recipient": number, "body": body, "status_callback": callback} for number in numbers]

    def _messages_path(self) -> str:
        return f"/{API_VERSION}/Accounts/{self.secret('account_sid')}/Messages.json"

    def _auth(self) -> tuple[str, str]:
        return (self.secret("account_sid"), self.secret("auth_token"))

    def send(self, alert: Alert, purpose: str, payload: dict, previous: Delivery | None) -> Sent:
        if previous is not None and previous.status == DeliveryStatus.AMBIGUOUS:
            first_unexplained = (
                Delivery.objects.filter(notification_key=previous.notification_key, status=DeliveryStatus.AMBIGUOUS)
                .order_by("attempt")
                .first()
            )
            already = self._find_earlier_send(payload, since=first_unexplained.started_at - timedelta(minutes=1))
            if already is not None:
                return already
        client = self.client()
        form = {"To": payload["to"], "From": self.settings["from_number"], "Body": payload["body"]}
        if payload.get("status_callback"):
            form["StatusCallback"] = payload["status_callback"]
        try:
            response = client.request("POST", self._messages_path(), data=form, auth=self._auth())
        except PermanentError as exc:
            raise self._with_twilio_code(exc)
        except IntegrationError as exc:
            if _is_ambiguous(exc):
                raise AmbiguousSendError(
                    f"sms: no answer after sending to Twilio ({exc.message}); will check before resending",
                    status=exc.status,
                ) from exc
            raise
        body = json_object(response)
        return Sent(
            http_status=response.status_code,
            response=response.text[:500],
            vendor_ref=str(body.get("sid", "")),
            vendor_status=str(body.get("status", "")),
            detail={"segments": body.get("num_segments")},
        )

    def _find_earlier_send(self, payload: dict, *, since: datetime) -> Sent | None:
        """After an ambiguous attempt: is our message already at Twilio? A lookup that fails is
        itself ambiguous (nothing was sent, and the earlier attempt is still unexplained), so the
        next attempt looks again instead of sending blind."""
        client = self.client()
        params = {"To": payload["to"], "From": self.settings["from_number"], "PageSize": 20}
        try:
            response = client.request("GET", self._messages_path(), params=params, auth=self._auth())
        except RetryableError as exc:
            raise AmbiguousSendError(
                f"sms: could not check Twilio for the earlier attempt ({exc.message}); "
                "will check again before resending",
                status=exc.status,
                retry_after=exc.retry_after,
            ) from exc
        for message in json_object(response).get("messages", []):
            created = _rfc2822(message.get("date_created"))
            # Trial accounts prefix the body ("Sent from your Twilio trial account - "): compare the end.
            if str(message.get("body", "")).endswith(payload["body"]) and (created is None or created >= since):
                return Sent(
                    http_status=response.status_code,
                    response="found at Twilio after an ambiguous attempt; not sent again",
                    vendor_ref=str(message.get("sid", "")),
                    vendor_status=str(message.get("status", "")),
                    detail={"recovered": True},
                )
        return None

    @staticmethod
    def _with_twilio_code(exc: PermanentError) -> PermanentError:
        code = _json_text(exc.response_body).get("code")
        if code is not None:
            exc.vendor_code = code
            if code == 21610:
                exc.message += " (recipient replied STOP: remove the number or ask them to text START)"
        return exc

    def check_health(self) -> HealthResult:
        client = self.client()
        response = client.request(
            "GET", f"/{API_VERSION}/Accounts/{self.secret('account_sid')}.json", auth=self._auth()
        )
        status = json_object(response).get("status", "unknown")
        return HealthResult(ok=status == "active", message=f"Twilio account is {status}", http_status=200)


def _json_text(text: str) -> dict:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _rfc2822(value):
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
