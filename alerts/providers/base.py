"""The base every alert channel builds on: one Delivery row per attempt, stale sends skipped.

A channel module implements only `send(alert, purpose, payload, previous) -> Sent`, raising the
kernel's RetryableError/PermanentError; this base records the attempt (status, vendor response,
timing, vendor message id), and refuses to send a repeat or an escalation for an alert that was
acknowledged while the item waited in the outbox, so acknowledgement stops escalation at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.utils import timezone

from wedsync_integrations.integrations.errors import PermanentError, RetryableError
from wedsync_integrations.integrations.registry import DeliveryResult, Provider
from wedsync_integrations.integrations.retry import URGENT
from wedsync_integrations.integrations.secrets import redact

from ..models import Alert, AlertStatus, Delivery, DeliveryStatus, Purpose

RESPONSE_MAX = 2000
ONLY_WHILE_TRIGGERED = {Purpose.REPEAT, Purpose.WORSE, Purpose.ESCALATE}


@dataclass
class Sent:
    """What a vendor said when it accepted a message."""

    http_status: int | None = None
    response: str = ""
    vendor_ref: str = ""
    vendor_status: str = ""
    detail: dict[str, Any] = field(default_factory=dict)


class AmbiguousSendError(RetryableError):
    """The request may have reached the vendor (read timeout): check before sending again."""


class AlertChannel(Provider):
    """A channel of the alerts family (Slack, email, SMS, PagerDuty, outbound webhook)."""

    retry_policy = URGENT  # alert deliveries cannot wait half an hour on a wedding Saturday
    # Purposes this channel is told about (state changes only matter to some channels).
    purposes: ClassVar[frozenset[str]] = frozenset(Purpose.values)

    # -- the contract a channel module implements --------------------------------------------------
    def build_payloads(self, alert: Alert, purpose: str, *, at) -> list[dict]:
        """The stored bodies for telling this channel about `alert` (several where the channel
        sends one message per recipient), each with a human-readable `recipient`. Built when the
        alert is raised, kept in the outbox, sent as they are: never rebuilt at send time."""
        raise NotImplementedError

    def send(self, alert: Alert, purpose: str, payload: dict, previous: Delivery | None) -> Sent:
        raise NotImplementedError

    # -- the kernel's deliver(), with bookkeeping ---------------------------------------------------
    def deliver(self, operation: str, payload: dict) -> DeliveryResult:
        alert = Alert.objects.select_related("organisation").filter(pk=payload.get("alert_id")).first()
        if alert is None:
            raise PermanentError(f"{self.name}: alert {payload.get('alert_id')!r} no longer exists")
        key = payload.get("notification_key", "")
        previous = Delivery.objects.filter(notification_key=key).order_by("-attempt").first() if key else None
        delivery = Delivery(
            alert=alert,
            channel=self.name,
            purpose=operation,
            notification_key=key,
            attempt=(previous.attempt + 1) if previous else 1,
            recipient=str(payload.get("recipient", ""))[:300],
            started_at=timezone.now(),
        )
        if operation in ONLY_WHILE_TRIGGERED and alert.status != AlertStatus.TRIGGERED:
            delivery.status = DeliveryStatus.SKIPPED
            delivery.error = f"not sent: alert was {alert.status} before this {operation} went out"
            delivery.save()
            return DeliveryResult(items=0, detail={"alert": alert.ref, "skipped": delivery.error})
        started = time.monotonic()
        try:
            sent = self.send(alert, operation, payload, previous)
        except RetryableError as exc:
            ambiguous = isinstance(exc, AmbiguousSendError)
            self._record_failure(
                delivery, exc, DeliveryStatus.AMBIGUOUS if ambiguous else DeliveryStatus.RETRYING, started
            )
            raise
        except PermanentError as exc:
            self._record_failure(delivery, exc, DeliveryStatus.FAILED, started)
            raise
        except Exception as exc:
            # The kernel retries a crashing provider; the attempt is still on record.
            delivery.status = DeliveryStatus.RETRYING
            delivery.error = f"internal error {type(exc).__name__}"
            self._finish(delivery, started)
            raise
        delivery.status = DeliveryStatus.SENT
        delivery.http_status = sent.http_status
        delivery.response = self._safe(sent.response)
        delivery.vendor_ref = sent.vendor_ref[:200]
        delivery.vendor_status = sent.vendor_status[:32]
        self._finish(delivery, started)
        detail = {"alert": alert.ref, "delivery": delivery.pk, "attempt": delivery.attempt, **sent.detail}
        if sent.vendor_ref:
            detail["vendor_ref"] = sent.vendor_ref
        return DeliveryResult(items=1, http_status=sent.http_status, detail=detail)

    def _record_failure(self, delivery: Delivery, exc, status: str, started: float) -> None:
        delivery.status = status
        delivery.http_status = exc.status
        delivery.error = self._safe(exc.message)
        delivery.response = self._safe(exc.response_body)
        delivery.vendor_error_code = str(getattr(exc, "vendor_code", "") or "")[:32]
        self._finish(delivery, started)

    @staticmethod
    def _finish(delivery: Delivery, started: float) -> None:
        delivery.duration_ms = int((time.monotonic() - started) * 1000)
        delivery.save()

    def _safe(self, text: str) -> str:
        # the tenant's secrets, URL secrets with their path, never stored or shown
        return redact(str(text or ""), self.secrets.values_to_hide())[:RESPONSE_MAX]
