"""Email: Django's mail backend (SMTP in production), HTML + text, an explicit timeout.

Contract: docs/vendors/email.md. Email is not HTTP, so this channel does not use the
kernel's VendorClient; it maps SMTP failures onto the same error vocabulary instead:
recipients refused and 5xx replies are permanent (resending the same message cannot help),
4xx replies, disconnects, timeouts and connection errors are retryable. A bad SMTP login stops
the configuration (staff fix EMAIL_HOST_* and resume; the message is kept).

Every message carries a stable Message-ID per notification, so a resend after an ambiguous
failure threads with (and can be deduplicated against) the first copy, and follow-ups
(escalation, acknowledgement) reference the first notification's Message-ID.
"""

from __future__ import annotations

import smtplib
import socket

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from rest_framework import serializers

from wedsync_integrations.integrations.errors import PermanentError, RetryableError
from wedsync_integrations.integrations.registry import HealthResult, StrictSerializer

from .. import render
from ..family import FAMILY
from ..models import Alert, Purpose
from .base import AlertChannel, Sent


class EmailSettings(StrictSerializer):
    recipients = serializers.ListField(child=serializers.EmailField(), min_length=1, max_length=50)
    management_recipients = serializers.ListField(
        child=serializers.EmailField(), required=False, default=list, max_length=50
    )
    from_email = serializers.CharField(required=False, allow_blank=True, max_length=254)


def smtp_error(exc: Exception) -> Exception:
    """Classify an SMTP failure (see module docstring). Messages never include credentials."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        refused = ", ".join(f"{addr} ({code})" for addr, (code, _msg) in sorted(exc.recipients.items()))
        return PermanentError(f"email: every recipient was refused: {refused}")
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return PermanentError(f"email: SMTP login rejected ({exc.smtp_code})", stops_config=True)
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        message = f"email: SMTP {exc.smtp_code} {text[:200]}"
        if 400 <= exc.smtp_code < 500:
            return RetryableError(message)
        return PermanentError(message)
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return RetryableError("email: SMTP server timed out")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return RetryableError("email: SMTP server disconnected")
    if isinstance(exc, OSError):  # connection refused, DNS, other SMTPException
        return RetryableError(f"email: cannot reach the SMTP server ({type(exc).__name__})")
    return exc


def message_domain() -> str:
    sender = settings.DEFAULT_FROM_EMAIL
    domain = sender.rsplit("@", 1)[-1].strip(" >") if "@" in sender else ""
    return domain or "wedsync.invalid"


@FAMILY.register
class Email(AlertChannel):
    name = "email"
    label = "Email (SMTP)"
    settings_serializer = EmailSettings

    def connection(self):
        return get_connection(fail_silently=False, timeout=settings.EMAIL_TIMEOUT)

    def build_payloads(self, alert: Alert, purpose: str, *, at) -> list[dict]:
        """One message to the recipients (management's for an escalation, when set). The first
        notification is the thread every later message replies to, even when it goes out on a
        later occurrence (an alert muted until its maintenance window closed)."""
        escalation = purpose == Purpose.ESCALATE
        to = list(self.settings.get("management_recipients") or []) if escalation else []
        to = to or list(self.settings.get("recipients") or [])
        domain = message_domain()
        sequence = {
            Purpose.ESCALATE: alert.escalation_level,
            Purpose.REPEAT: alert.occurrence_count,
            Purpose.WORSE: alert.occurrence_count,
        }.get(purpose, 1)
        return [
            {
                **render.email_message(alert, purpose),
                "to": to,
                "recipient": ", ".join(to),
                "message_id": f"<{alert.ref}.{purpose}.{sequence}@{domain}>",
                "thread_id": f"<{alert.ref}.{Purpose.NOTIFY}.1@{domain}>",
            }
        ]

    def send(self, alert: Alert, purpose: str, payload: dict, previous) -> Sent:
        headers = {"Message-ID": payload["message_id"], "X-WedSync-Alert-Id": alert.ref}
        if payload.get("thread_id") and payload["thread_id"] != payload["message_id"]:
            headers.update({"In-Reply-To": payload["thread_id"], "References": payload["thread_id"]})
        message = EmailMultiAlternatives(
            subject=payload["subject"],
            body=payload["text"],
            from_email=self.settings.get("from_email") or settings.DEFAULT_FROM_EMAIL,
            to=payload["to"],
            headers=headers,
            connection=self.connection(),
        )
        message.attach_alternative(payload["html"], "text/html")
        try:
            count = message.send()
        except Exception as exc:
            classified = smtp_error(exc)
            if classified is exc:
                raise
            raise classified from exc
        if not count:
            raise RetryableError("email: the mail backend reported nothing sent")
        return Sent(response=f"accepted for {len(payload['to'])} recipient(s)", vendor_ref=payload["message_id"])

    def check_health(self) -> HealthResult:
        connection = self.connection()
        try:
            connection.open()
        except Exception as exc:
            classified = smtp_error(exc)
            if classified is exc:
                raise
            raise classified from exc
        finally:
            connection.close()
        return HealthResult(ok=True, message="SMTP server accepted a connection")
