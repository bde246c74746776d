"""Alerts for failing integrations, from the kernel's signals (the kernel knows nothing of us).

- config_stopped  → high: a vendor rejected credentials or a URL; that integration is stopped.
- delivery_dead   → high: an outbox item gave up; it waits in the retry queue for a replay.
- delivery_failed → medium, once the same item has failed FAILING_DELIVERY_ATTEMPTS times.

For the alerts family itself the failing channel is excluded from the alert's routing (Slack
being down is reported by email, SMS and PagerDuty, never by Slack), and the dedup key keeps
a flapping channel to one open alert. The last Delivery row of a dead item is marked dead.
"""

from __future__ import annotations

import logging

from django.dispatch import receiver

from wedsync_integrations.integrations import signals

from . import conf
from .family import FAMILY
from .lifecycle import raise_alert
from .models import Delivery, DeliveryStatus, Severity

logger = logging.getLogger("wedsync.alerts")


def _exclude(family, provider: str) -> tuple[str, ...]:
    return (provider,) if family is FAMILY or getattr(family, "name", "") == FAMILY.name else ()


@receiver(signals.config_stopped, dispatch_uid="alerts.config_stopped")
def on_config_stopped(sender, config, reason, **kwargs):
    raise_alert(
        organisation=config.organisation,
        title=f"{sender.label} integration {config.provider} stopped",
        description=f"{config.provider} for {config.organisation.slug} was stopped: {reason}",
        severity=Severity.HIGH,
        source="integrations",
        kind="config_stopped",
        dedup_key=f"integration:{sender.name}:{config.provider}:stopped",
        impact=f"Nothing is sent to {config.provider} until staff fix the configuration and resume it.",
        details={"family": sender.name, "provider": config.provider, "component": f"{sender.name}.{config.provider}"},
        exclude_channels=_exclude(sender, config.provider),
    )


@receiver(signals.delivery_dead, dispatch_uid="alerts.delivery_dead")
def on_delivery_dead(sender, item, error, **kwargs):
    if sender is FAMILY or sender.name == FAMILY.name:
        key = (item.payload or {}).get("notification_key")
        last = Delivery.objects.filter(notification_key=key).order_by("-attempt").first() if key else None
        if last is not None and last.status != DeliveryStatus.DEAD:
            Delivery.objects.filter(pk=last.pk).update(status=DeliveryStatus.DEAD)
    if item.organisation is None:
        return
    raise_alert(
        organisation=item.organisation,
        title=f"{sender.label}: {item.provider} delivery failed for good",
        description=f"Outbox item #{item.pk} ({item.operation}) gave up: {error}",
        severity=Severity.HIGH,
        source="integrations",
        kind="delivery_dead",
        dedup_key=f"integration:{sender.name}:{item.provider}:dead",
        impact=f"{item.operation} for {item.provider} was not delivered; it is kept for replay.",
        details={
            "family": sender.name,
            "provider": item.provider,
            "item": item.pk,
            "component": f"{sender.name}.{item.provider}",
        },
        exclude_channels=_exclude(sender, item.provider),
    )


@receiver(signals.delivery_failed, dispatch_uid="alerts.delivery_failed")
def on_delivery_failed(sender, item, error, attempts, **kwargs):
    if attempts != conf.get("FAILING_DELIVERY_ATTEMPTS") or item.organisation is None:
        return
    raise_alert(
        organisation=item.organisation,
        title=f"{sender.label}: {item.provider} is failing (retrying)",
        description=f"Outbox item #{item.pk} ({item.operation}) failed {attempts} times; last error: {error}",
        severity=Severity.MEDIUM,
        source="integrations",
        kind="integration_failing",
        dedup_key=f"integration:{sender.name}:{item.provider}:failing",
        impact=f"Deliveries to {item.provider} are delayed; they are retried automatically, in order.",
        details={
            "family": sender.name,
            "provider": item.provider,
            "attempts": attempts,
            "component": f"{sender.name}.{item.provider}",
        },
        exclude_channels=_exclude(sender, item.provider),
    )
