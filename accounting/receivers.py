"""The kernel's outbox signals, applied to the exports they concern."""

from __future__ import annotations

from django.dispatch import receiver

from wedsync_integrations.integrations.signals import delivery_dead

from .exporter import mark_failed
from .family import FAMILY


@receiver(delivery_dead, dispatch_uid="accounting.export_failed")
def export_failed(sender, item, error, **kwargs):
    """An export's outbox item gave up: the export shows failed until staff replay it (the alerts
    family already raises the alert for any dead delivery)."""
    if sender is FAMILY:
        mark_failed(item, error)
