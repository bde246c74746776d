"""Outbound webhooks signed per Standard Webhooks (https://www.standardwebhooks.com/).

Contract: docs/vendors/standard-webhooks.md. The tenant's URL must pass the kernel's SSRF guard
(https; no private, loopback or link-local address unless allow-listed) when it is saved and
again on every request; redirects are never followed (a 3xx is a failed delivery, per the
spec). `webhook-id` is fixed when the event is queued and identical on every retry (the
receiver's idempotency key); `webhook-timestamp` and the signature are computed per attempt.

What the receiver answers (docs/vendors/standard-webhooks.md): 2xx is success; 410 Gone disables the endpoint, as the
spec asks; every other answer, 3xx and 4xx included, is a failed attempt that is retried with
backoff, because a receiver being redeployed or misconfigured for a while must not lose alerts.
Two exceptions stop the configuration instead (the item is kept until staff resume it): 401/403
(the receiver rejects our signature or credentials) and a URL the SSRF guard refuses.
"""

from __future__ import annotations

import hashlib
import json
import time
from urllib.parse import urlsplit

from rest_framework import serializers

from wedsync_integrations.integrations.errors import PermanentError, RetryableError
from wedsync_integrations.integrations.registry import (
    HealthResult,
    OutboundURLField,
    StrictSerializer,
    validate_whsec,
)
from wedsync_integrations.integrations.signing import standard_webhooks_headers

from .. import render
from ..family import FAMILY
from ..models import Alert, Severity
from .base import AlertChannel, Sent

USER_AGENT = "WedSync-Webhooks/1"


class WebhookSettings(StrictSerializer):
    url = OutboundURLField(help_text="https endpoint receiving alert events")
    severities = serializers.ListField(
        child=serializers.ChoiceField(choices=Severity.values),
        required=False,
        default=list,
        help_text="severities to send (empty: all)",
    )


class WebhookSecrets(StrictSerializer):
    signing_secret = serializers.CharField(validators=[validate_whsec], help_text="whsec_ + base64 of 24–64 bytes")


def encode_body(event: dict) -> bytes:
    """The exact bytes signed and sent (compact, UTF-8): the receiver verifies these bytes."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


@FAMILY.register
class Webhook(AlertChannel):
    name = "webhook"
    label = "Outbound webhook (Standard Webhooks)"
    settings_serializer = WebhookSettings
    secrets_serializer = WebhookSecrets

    def subscribes_to(self, severity: str) -> bool:
        wanted = self.settings.get("severities") or Severity.values
        return severity in wanted

    def build_payloads(self, alert: Alert, purpose: str, *, at) -> list[dict]:
        """The Standard Webhooks event; its webhook-id is the same on every retry of this message."""
        event = render.webhook_event(alert, purpose, at)
        seed = f"{alert.pk}:{purpose}:{alert.version}:{alert.occurrence_count}:{alert.escalation_level}"
        webhook_id = "msg_" + hashlib.sha256(seed.encode()).hexdigest()[:24]
        host = urlsplit(self.settings["url"]).hostname or ""
        return [{"event": event, "webhook_id": webhook_id, "recipient": host}]

    def send(self, alert: Alert, purpose: str, payload: dict, previous) -> Sent:
        url = self.settings["url"]
        body = encode_body(payload["event"])
        headers = standard_webhooks_headers(
            self.secret("signing_secret"), payload["webhook_id"], int(time.time()), body
        )
        headers.update({"Content-Type": "application/json", "User-Agent": USER_AGENT})
        try:
            response = self.client(base_url=url, guarded=True).request("POST", url, data=body, headers=headers)
        except PermanentError as exc:
            if exc.status == 410:
                self.config.enabled = False
                self.config.save(update_fields=["enabled", "updated_at"])
                self.config.stop("the endpoint answered 410 Gone: disabled as Standard Webhooks asks", None)
                raise PermanentError(
                    "webhook: endpoint answered 410 Gone; it has been disabled",
                    status=410,
                    response_body=exc.response_body,
                )
            if exc.stops_config or exc.status is None:
                raise  # bad credentials, unsafe URL, a request we could not even send
            raise RetryableError(exc.message, status=exc.status, response_body=exc.response_body) from exc
        return Sent(http_status=response.status_code, response=response.text[:500], vendor_ref=payload["webhook_id"])

    def check_health(self) -> HealthResult:
        from wedsync_integrations.integrations.ssrf import check_outbound_url

        check_outbound_url(self.settings["url"])
        return HealthResult(ok=True, message="URL passes the outbound guard (no test event is sent)")
