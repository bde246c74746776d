"""Slack: an app's incoming webhook with Block Kit, updated through interactions' response_url.

Contract: docs/vendors/slack.md. The webhook URL is the credential (kept encrypted,
never stored in the outbox, redacted from every message). Incoming webhooks return no message
`ts`, so a posted message can only be changed through the `response_url` of an interaction on
it (usable 5 times within 30 minutes): when someone presses a button we keep that URL and use
it to replace the message on every later state change; without one (an acknowledgement from
admin or PagerDuty before anyone touched the message) we post a short follow-up message.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.utils import timezone

from wedsync_integrations.integrations.errors import IntegrationError, PermanentError
from wedsync_integrations.integrations.registry import HealthResult, OutboundURLField, StrictSerializer

from .. import render
from ..family import FAMILY
from ..models import Alert, Purpose
from .base import AlertChannel, Sent

# Answers that mean the webhook itself is gone (uninstalled app, archived channel): no retry can
# help, staff must install a new webhook. The item is kept and goes out once the config is fixed.
DEAD_WEBHOOK_STATUSES = {404, 410}
SLACK_HOST_SUFFIX = "slack.com"


class SlackSettings(StrictSerializer):
    pass


class SlackSecrets(StrictSerializer):
    webhook_url = OutboundURLField(help_text="https://hooks.slack.com/services/T…/B…/…")


def response_url_is_trusted(url: str) -> bool:
    """A response_url arrives in a signed Slack payload; we still only ever POST to Slack's own
    hosts (or an allow-listed sandbox), so a forged value cannot make us call anywhere else."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    host = (parts.hostname or "").lower()
    allowlisted = host in {h.strip().lower() for h in settings.OUTBOUND_URL_ALLOWLIST}
    slack = parts.scheme == "https" and (host == SLACK_HOST_SUFFIX or host.endswith("." + SLACK_HOST_SUFFIX))
    return slack or allowlisted


@FAMILY.register
class Slack(AlertChannel):
    name = "slack"
    label = "Slack (incoming webhook)"
    settings_serializer = SlackSettings
    secrets_serializer = SlackSecrets

    def build_payloads(self, alert: Alert, purpose: str, *, at) -> list[dict]:
        return [{"message": render.slack_message(alert, purpose), "recipient": "Slack channel"}]

    def send(self, alert: Alert, purpose: str, payload: dict, previous) -> Sent:
        message = payload["message"]
        if purpose in (Purpose.ACKNOWLEDGE, Purpose.RESOLVE):
            replaced = self._replace_original(alert, message)
            if replaced is not None:
                return replaced
        return self._post_webhook(message)

    def _post_webhook(self, message: dict) -> Sent:
        client = self.client(base_url=self.secret("webhook_url"), guarded=True)
        try:
            response = client.request("POST", self.secret("webhook_url"), json=message)
        except PermanentError as exc:
            if exc.status in DEAD_WEBHOOK_STATUSES:
                raise PermanentError(
                    f"slack: the incoming webhook is gone (HTTP {exc.status}: {exc.response_body[:80]}); "
                    "install a new one and resume this configuration",
                    status=exc.status,
                    stops_config=True,
                    response_body=exc.response_body,
                )
            raise
        return Sent(http_status=response.status_code, response=response.text[:200], detail={"via": "webhook"})

    def _replace_original(self, alert: Alert, message: dict) -> Sent | None:
        """Replace the original message through the stored response_url, if it is still usable."""
        url = alert.slack_response_url
        if not url or not response_url_is_trusted(url) or alert.slack_response_url_at is None:
            return None
        too_old = timezone.now() - alert.slack_response_url_at > settings.ALERTS_SLACK_RESPONSE_URL_MAX_AGE
        if too_old or alert.slack_response_url_uses >= settings.ALERTS_SLACK_RESPONSE_URL_MAX_USES:
            return None
        client = self.client(base_url=url, guarded=True)
        Alert.objects.filter(pk=alert.pk).update(slack_response_url_uses=alert.slack_response_url_uses + 1)
        try:
            response = client.request("POST", url, json={"replace_original": True, **message})
        except IntegrationError:
            # Expired, used up or unreachable: fall back to a follow-up message through the
            # webhook, whose own failure is then the one recorded (and retried).
            return None
        return Sent(http_status=response.status_code, response=response.text[:200], detail={"via": "response_url"})

    def check_health(self) -> HealthResult:
        # Slack has no read endpoint for incoming webhooks and an empty POST would be a visible
        # message: the only safe check is that the URL is well-formed and passes the SSRF guard.
        from wedsync_integrations.integrations.ssrf import check_outbound_url

        check_outbound_url(self.secret("webhook_url"))
        return HealthResult(ok=True, message="webhook URL is set and allowed (Slack offers no read-only check)")
