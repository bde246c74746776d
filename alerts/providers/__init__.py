"""Alert channels: one module per vendor, each registering itself on the alerts family."""

from . import email, pagerduty, slack, sms, webhook  # noqa: F401
