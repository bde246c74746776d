"""The HTTP alert channels under the kernel's provider contract (tests/contract.py). Email speaks
SMTP, not HTTP: its failures are classified by tests/alerts/test_email_smtp.py against a real
SMTP server."""

from __future__ import annotations

import pytest

from alerts.lifecycle import raise_alert
from tests.alerts.conftest import PD_ROUTING_KEY, SLACK_WEBHOOK, TWILIO_SID, WEBHOOK_URL, channel_settings
from tests.contract import ProviderContract
from tests.fixtures import load
from wedsync_integrations.integrations.registry import get_family

pytestmark = pytest.mark.django_db
TWILIO = f"https://api.twilio.com/2010-04-01/Accounts/{TWILIO_SID}"


class _Channel(ProviderContract):
    family = "alerts"

    @pytest.fixture(autouse=True)
    def _dns(self, public_dns):
        yield

    def make(self, organisation, make_config):
        settings, secrets = channel_settings()[self.provider]
        return make_config("alerts", organisation, self.provider, settings=settings, secrets=secrets)

    def enqueue(self, config):
        """A critical alert (every channel hears it); its item for this channel."""
        organisation = config.organisation
        raise_alert(organisation=organisation, title="AI photo culling down", severity="critical", dispatch=False)
        return get_family("alerts").retry_model.objects.get(provider=self.provider)

    def break_config(self, config, **secrets) -> None:
        config.secrets = {**config.secrets, **secrets}
        config.save()


class TestSlackContract(_Channel):
    provider = "slack"
    write_url = SLACK_WEBHOOK

    def mock_success(self, rsps):
        rsps.post(SLACK_WEBHOOK, body=load("alerts", "slack", "incoming_webhook_ok"))

    def mock_health(self, rsps, ok):
        pass  # Slack offers no read-only check: the URL is checked against the outbound guard

    def make_unhealthy(self, rsps, config):
        self.break_config(config, webhook_url="https://internal.example.com/services/T0001/B0001/x")


class TestSmsContract(_Channel):
    provider = "sms"
    write_url = f"{TWILIO}/Messages.json"

    def mock_success(self, rsps):
        rsps.post(self.write_url, status=201, json=load("alerts", "twilio", "message_created"))
        # after a timeout the channel first asks Twilio whether the message went out (it did not)
        rsps.get(self.write_url, json={"messages": [], "next_page_uri": None})

    def mock_health(self, rsps, ok):
        reply = load("alerts", "twilio", "account_active" if ok else "authentication_error")
        rsps.get(f"{TWILIO}.json", status=200 if ok else 401, json=reply)


class TestPagerDutyContract(_Channel):
    provider = "pagerduty"
    write_url = "https://events.pagerduty.com/v2/enqueue"

    def mock_success(self, rsps):
        rsps.post(self.write_url, status=202, json=load("alerts", "pagerduty", "event_accepted"))

    def mock_health(self, rsps, ok):
        pass  # the Events API has no side-effect-free check: the routing key must be set

    def make_unhealthy(self, rsps, config):
        config.secrets = {}
        config.save()

    def hidden(self, config):
        return [PD_ROUTING_KEY]


class TestWebhookContract(_Channel):
    provider = "webhook"
    write_url = WEBHOOK_URL

    def mock_success(self, rsps):
        rsps.post(WEBHOOK_URL, status=200, body="")

    def mock_health(self, rsps, ok):
        pass  # no test event is sent: the URL is checked against the outbound guard

    def make_unhealthy(self, rsps, config):
        config.settings = {**config.settings, "url": "https://internal.example.com/hook"}
        config.save()
