"""Alerts for failing integrations, from the kernel's signals (the kernel knows nothing of us).

- config_stopped  → high: a vendor rejected credentials or a URL; that integration is stopped.
- delivery_dead   → high: an outbox item gave up; it waits in the retry queue for a replay.
- delivery_failed → medium, once the same item has failed FAILING_DELIVERY_ATTEMPTS times.
- attention_needed / attention_cleared → the notice as an alert (one per key), resolved when over:
  families' own conditions (usage waiting for an exchange rate, a VAT threshold, a failed gate).

For the alerts family itself the failing channel is excluded from the alert's routing (Slack
being down is reported by email, SMS and PagerDuty, never by Slack), and the dedup key keeps
a flapping channel to one open alert. The last Delivery row of a dead item is marked dead.
"""

from __future__ import annotations

from django.conf import settings
from django.dispatch import receiver

from wedsync_integrations.integrations import signals

from .family import FAMILY
from .lifecycle import raise_alert, resolve
from .models import ActionSource, Alert, AlertStatus, Delivery, DeliveryStatus, Severity


def _is_alerts(family) -> bool:
    return family is FAMILY or getattr(family, "name", "") == FAMILY.name


def _integration_alert(family, organisation, provider: str, *, state: str, **alert) -> None:
    """One open alert per (family, provider, state). For the alerts family itself the failing
    channel is left out of the alert's own routing."""
    raise_alert(
        organisation=organisation,
        source="integrations",
        dedup_key=f"integration:{family.name}:{provider}:{state}",
        details={
            "family": family.name,
            "provider": provider,
            "component": f"{family.name}.{provider}",
            **alert.pop("details", {}),
        },
        exclude_channels=(provider,) if _is_alerts(family) else (),
        **alert,
    )


@receiver(signals.config_stopped, dispatch_uid="alerts.config_stopped")
def on_config_stopped(sender, config, reason, **kwargs):
    _integration_alert(
        sender,
        config.organisation,
        config.provider,
        state="stopped",
        title=f"{sender.label} integration {config.provider} stopped",
        description=f"{config.provider} for {config.organisation.slug} was stopped: {reason}",
        severity=Severity.HIGH,
        kind="config_stopped",
        impact=f"Nothing is sent to {config.provider} until staff fix the configuration and resume it.",
    )


@receiver(signals.delivery_dead, dispatch_uid="alerts.delivery_dead")
def on_delivery_dead(sender, item, error, **kwargs):
    if _is_alerts(sender):
        key = (item.payload or {}).get("notification_key")
        last = Delivery.objects.filter(notification_key=key).order_by("-attempt").first() if key else None
        if last is not None and last.status != DeliveryStatus.DEAD:
            Delivery.objects.filter(pk=last.pk).update(status=DeliveryStatus.DEAD)
    if item.organisation is None:
        return
    _integration_alert(
        sender,
        item.organisation,
        item.provider,
        state="dead",
        title=f"{sender.label}: {item.provider} delivery failed for good",
        description=f"Outbox item #{item.pk} ({item.operation}) gave up: {error}",
        severity=Severity.HIGH,
        kind="delivery_dead",
        impact=f"{item.operation} for {item.provider} was not delivered; it is kept for replay.",
        details={"item": item.pk},
    )


@receiver(signals.delivery_failed, dispatch_uid="alerts.delivery_failed")
def on_delivery_failed(sender, item, error, attempts, **kwargs):
    if attempts != settings.ALERTS_FAILING_DELIVERY_ATTEMPTS or item.organisation is None:
        return
    _integration_alert(
        sender,
        item.organisation,
        item.provider,
        state="failing",
        title=f"{sender.label}: {item.provider} is failing (retrying)",
        description=f"Outbox item #{item.pk} ({item.operation}) failed {attempts} times; last error: {error}",
        severity=Severity.MEDIUM,
        kind="integration_failing",
        impact=f"Deliveries to {item.provider} are delayed; they are retried automatically, in order.",
        details={"attempts": attempts},
    )


@receiver(signals.attention_needed, dispatch_uid="alerts.attention_needed")
def on_attention_needed(sender, notice: signals.Notice, **kwargs):
    raise_alert(
        organisation=notice.organisation,
        source=str(getattr(sender, "name", sender)),
        kind=notice.key.partition(":")[0] or "notice",
        dedup_key=notice.key,
        title=notice.title,
        description=notice.description,
        severity=notice.severity,
        impact=notice.impact,
        recovery_actions=list(notice.recovery_actions),
        details=notice.details,
    )


@receiver(signals.attention_cleared, dispatch_uid="alerts.attention_cleared")
def on_attention_cleared(sender, key: str, organisation=None, **kwargs):
    open_alerts = Alert.objects.filter(dedup_key=key, status__in=[AlertStatus.TRIGGERED, AlertStatus.ACKNOWLEDGED])
    for alert in open_alerts.filter(organisation=organisation):
        resolve(alert.pk, by=f"system:{getattr(sender, 'name', sender)}", via=ActionSource.AUTO)
