"""PagerDuty Events API v2: trigger, acknowledge and resolve with a stable dedup_key.

Contract: docs/vendors/pagerduty.md ("Events API v2"). The credential is the body's `routing_key`, so the
outbox stores the event without it and it is added here, at send time. The dedup_key
(`wedsync:{org}:{alert}`) makes our own retries idempotent on PagerDuty's side. 202 is success;
400 means our event is invalid (permanent); 429 and 5xx are retried by the kernel.
"""

from __future__ import annotations

from rest_framework import serializers

from wedsync_integrations.integrations.registry import BaseSettings, HealthResult, StrictSerializer

from .. import render
from ..family import FAMILY
from ..models import Alert, Purpose
from .base import AlertChannel, Sent

ENQUEUE_PATH = "/v2/enqueue"


class PagerDutySecrets(StrictSerializer):
    routing_key = serializers.CharField(min_length=20, max_length=64, help_text="Events API v2 integration key")


@FAMILY.register
class PagerDuty(AlertChannel):
    name = "pagerduty"
    label = "PagerDuty (Events API v2)"
    settings_serializer = BaseSettings
    secrets_serializer = PagerDutySecrets
    default_base_url = "https://events.pagerduty.com"
    # a worse severity is a new trigger for the same dedup key (PagerDuty dedupes repeats itself)
    purposes = frozenset({Purpose.NOTIFY, Purpose.WORSE, Purpose.ACKNOWLEDGE, Purpose.RESOLVE})

    def build_payloads(self, alert: Alert, purpose: str, *, at) -> list[dict]:
        return [{"event": render.pagerduty_event(alert, purpose), "recipient": "PagerDuty service"}]

    def send(self, alert: Alert, purpose: str, payload: dict, previous) -> Sent:
        event = {"routing_key": self.secret("routing_key"), **payload["event"]}
        response = self.client().request("POST", ENQUEUE_PATH, json=event)
        try:
            body = response.json()
        except ValueError:
            body = {}
        return Sent(
            http_status=response.status_code,
            response=response.text[:500],
            vendor_ref=str(body.get("dedup_key") or event.get("dedup_key", "")),
            vendor_status=str(body.get("status", "")),
        )

    def check_health(self) -> HealthResult:
        # The Events API has no read or validate call; an event would page someone. Report the
        # configuration state honestly instead of pretending to have checked the key.
        self.secret("routing_key")
        return HealthResult(ok=True, message="routing key is set (the Events API offers no side-effect-free check)")
