"""Email alerts through a real SMTP server (aiosmtpd on 127.0.0.1): HTML + text to the on-call
list, management on escalation, and SMTP failures classified as docs/vendors/email.md says."""

import email
import email.policy
import socket
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.utils import timezone

from alerts.lifecycle import escalate_due, raise_alert
from alerts.models import Delivery, DeliveryStatus
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.registry import get_family

pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Recorder:
    """Accepts mail, or refuses recipients/data as a test asks."""

    def __init__(self):
        self.messages = []
        self.refuse_rcpt: dict[str, str] = {}
        self.data_reply = "250 Message accepted for delivery"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse_rcpt:
            return self.refuse_rcpt[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_reply.startswith("250"):
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return self.data_reply


@pytest.fixture
def smtp(settings):
    handler = Recorder()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    settings.EMAIL_USE_TLS = False
    yield handler
    controller.stop()


@pytest.fixture
def email_only(make_channels, organisation):
    return make_channels(organisation, only={"email"})


def parsed(content: bytes):
    return email.message_from_bytes(content, policy=email.policy.default)


def test_alert_email_is_delivered_over_smtp_with_html_and_text(smtp, email_only, organisation, deliver_all):
    alert = raise_alert(
        organisation=organisation, title="Contract AI failing", severity="medium", impact="Contracts not generated"
    ).alert
    deliver_all()
    ((mail_from, rcpt_tos, content),) = smtp.messages
    assert rcpt_tos == ["oncall@acme.example"]
    assert mail_from == "alerts@wedsync.example"
    message = parsed(content)
    assert message["Subject"] == "[WedSync MEDIUM] Contract AI failing"
    assert message["Message-ID"] == f"<{alert.ref}.notify.1@wedsync.example>"
    assert message["X-WedSync-Alert-Id"] == alert.ref
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "Impact:            Contracts not generated" in text
    assert "Recovery actions:" in text and f"/admin/alerts/alert/{alert.pk}/change/" in text
    assert '<th align="left">Impact</th><td>Contracts not generated</td>' in html
    delivery = Delivery.objects.get(alert=alert)
    assert delivery.status == DeliveryStatus.SENT and delivery.vendor_ref == message["Message-ID"]


def test_escalation_email_goes_to_management_and_threads_with_the_first(smtp, email_only, organisation, deliver_all):
    start = timezone.now()
    alert = raise_alert(organisation=organisation, title="Timeline AI down", severity="high", at=start).alert
    deliver_all()
    later = alert.next_escalation_at + timedelta(seconds=1)
    assert escalate_due(later) == 1
    deliver_all(later)
    first, escalation = (parsed(content) for _, _, content in smtp.messages)
    assert smtp.messages[1][1] == ["director@acme.example"]
    assert escalation["Subject"].startswith("[ESCALATED] [WedSync")
    assert escalation["In-Reply-To"] == first["Message-ID"]
    assert "ESCALATED (level 1)" in escalation.get_body(preferencelist=("plain",)).get_content()


def test_refused_recipient_is_permanent_and_the_alert_is_kept(smtp, email_only, organisation, deliver_all):
    smtp.refuse_rcpt["oncall@acme.example"] = "550 5.1.1 No such user"
    alert = raise_alert(organisation=organisation, title="x", severity="medium").alert
    deliver_all()
    item = get_family("alerts").retry_model.objects.get(provider="email")
    assert item.state == RetryState.DEAD
    assert "every recipient was refused: oncall@acme.example (550)" in item.last_error
    assert Delivery.objects.get(alert=alert).status == DeliveryStatus.DEAD
    alert.refresh_from_db()
    assert alert.status == "triggered"


def test_temporary_smtp_failure_is_retried_then_delivered(smtp, email_only, organisation, deliver_all):
    smtp.data_reply = "451 4.3.0 Try again later"
    raise_alert(organisation=organisation, title="x", severity="medium")
    deliver_all()
    item = get_family("alerts").retry_model.objects.get(provider="email")
    assert item.state == RetryState.PENDING and "SMTP 451" in item.last_error
    smtp.data_reply = "250 OK"
    deliver_all(item.next_attempt_at + timedelta(seconds=1))
    item.refresh_from_db()
    assert item.state == RetryState.SUCCEEDED and len(smtp.messages) == 1
    assert list(Delivery.objects.order_by("attempt").values_list("status", flat=True)) == ["retrying", "sent"]


def test_unreachable_smtp_server_is_retryable(settings, email_only, organisation, deliver_all):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", free_port(), 2
    raise_alert(organisation=organisation, title="x", severity="medium")
    deliver_all()
    item = get_family("alerts").retry_model.objects.get(provider="email")
    assert item.state == RetryState.PENDING and "cannot reach the SMTP server" in item.last_error
