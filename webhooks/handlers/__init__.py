"""Handlers the webhooks family registers itself (issue part 4): the CRM ones. Alert handlers
(Slack buttons, PagerDuty incidents, Twilio delivery status, Datadog/New Relic alerts) are
registered by the alerts family in alerts/webhook_handlers.py, and the accounting confirmations
by the accounting family in accounting/confirmations.py."""

from . import crm  # noqa: F401
