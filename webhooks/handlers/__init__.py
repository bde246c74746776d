"""Handlers the webhooks family registers itself (issue part 4). Alert handlers (Slack buttons,
PagerDuty incidents, Twilio delivery status, Datadog/New Relic alerts) are registered by the
alerts family in alerts/webhook_handlers.py."""

from . import accounting, crm  # noqa: F401
