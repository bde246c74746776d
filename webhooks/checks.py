"""System checks (`manage.py check`, `check --deploy`) for the inbound webhooks settings."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.core import checks

DISPATCH_VALUES = ("", "immediate", "sweeper")


@checks.register()
def check_dispatch(app_configs=None, **kwargs):
    value = settings.WEBHOOK_DISPATCH
    if value not in DISPATCH_VALUES:
        return [
            checks.Error(
                f"WEBHOOK_DISPATCH must be '', 'immediate' or 'sweeper', not {value!r}",
                id="webhooks.E001",
            )
        ]
    return []


@checks.register(deploy=True)
def check_public_url(app_configs=None, **kwargs):
    """Twilio signs the URL it called, which we rebuild from PUBLIC_BASE_URL: it must be the real
    public https address, or every Twilio callback is rejected."""
    parts = urlsplit(settings.PUBLIC_BASE_URL)
    if parts.scheme != "https" or parts.hostname in (None, "127.0.0.1", "localhost"):
        return [
            checks.Warning(
                "PUBLIC_BASE_URL is not a public https URL; Twilio signatures (which cover the URL) will not verify",
                hint="Set PUBLIC_BASE_URL to the address vendors post to, e.g. https://integrations.wedsync.example",
                id="webhooks.W001",
            )
        ]
    return []
