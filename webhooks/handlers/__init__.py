"""Handlers the webhooks family registers itself (issue part 4). Alert handlers (Slack buttons,
PagerDuty incidents, Twilio delivery status, Datadog/New Relic alerts) are registered by the
alerts family in alerts/webhook_handlers.py; "new client" handlers by the crm and monitoring
families (crm/handlers.py, monitoring/handlers.py)."""

from . import accounting  # noqa: F401
