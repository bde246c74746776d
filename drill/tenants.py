"""The drill's tenants: an organisation per fault, its usage token, and configurations pointed
at the sandbox. Written through the models, as staff would through admin."""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from decimal import Decimal

from django.utils import timezone

from wedsync_integrations.integrations.registry import get_family
from wedsync_integrations.tenants.models import Organisation
from wedsync_integrations.usage.models import ExchangeRate
from wedsync_integrations.usage.tokens import issue_token

PD_SECRET = "drill-pagerduty-signing-secret"


def organisation(slug: str) -> Organisation:
    return Organisation.objects.create(slug=slug, name=slug.replace("-", " ").title(), vendor_type="venue")


def usage_token(org: Organisation) -> str:
    """A usage token for `org` (and the rate its records need)."""
    ensure_usd_rate()
    return issue_token(org, created_by="drill")


def ensure_usd_rate(since: date | None = None) -> None:
    """A USD→GBP rate covering the last month (or from `since`), as staff keep one."""
    since = since or timezone.now().date() - timedelta(days=30)
    ExchangeRate.objects.get_or_create(
        base="USD", quote="GBP", date=since, defaults={"rate": Decimal("0.790000"), "source": "drill"}
    )


def configure(family: str, org: Organisation, provider: str, *, settings: dict, secrets_: dict):
    """A configuration of `provider` for `org` (validated as admin would save it)."""
    model = get_family(family).config_model
    config = model(organisation=org, provider=provider, settings=settings, secrets=secrets_)
    config.full_clean()
    config.save()
    return config


def pagerduty_source(org: Organisation):
    """The organisation's inbound PagerDuty webhooks, signed with PD_SECRET."""
    return configure("webhooks", org, "pagerduty", settings={}, secrets_={"signing_secret": PD_SECRET})


def random_slug(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(3)}"
