"""Celery tasks of the alerts family. They take ids, re-read state and are safe to run twice."""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.models import RetryState

from . import lifecycle, monitors
from .family import FAMILY
from .notify import DELIVER_TASK

logger = logging.getLogger("wedsync.alerts")


@shared_task(name=DELIVER_TASK, bind=True, max_retries=None, acks_late=True)
def deliver_channel(self, organisation_id: int, provider: str) -> dict:
    """Drain one (organisation, channel) pair now. If another worker holds the pair's drain lock
    (it may have read the queue before our item was committed), come back in a moment instead
    of leaving the item for the periodic drain."""
    counts = outbox.drain_pair(FAMILY, organisation_id, provider)
    busy = counts == {"succeeded": 0, "pending": 0, "dead": 0, "skipped": 1}
    may_wait = self.request.retries < settings.ALERTS_DISPATCH_MAX_RETRIES
    if busy and may_wait and _has_due_items(organisation_id, provider):
        raise self.retry(countdown=settings.ALERTS_DISPATCH_RETRY_SECONDS)
    return counts


def _has_due_items(organisation_id: int, provider: str) -> bool:
    config = FAMILY.config_model.objects.filter(organisation_id=organisation_id, provider=provider).first()
    if config is None or not config.is_usable:
        return False  # a stopped or disabled channel holds its items until staff resume it
    return FAMILY.retry_model.objects.filter(
        organisation_id=organisation_id,
        provider=provider,
        state=RetryState.PENDING,
        next_attempt_at__lte=timezone.now(),
    ).exists()


@shared_task(name="alerts.escalate_due")
def escalate_due() -> int:
    """Beat, every 10 seconds: escalate unacknowledged high/critical alerts whose time has come."""
    return lifecycle.escalate_due()


@shared_task(name="alerts.check_error_rates")
def check_error_rates() -> dict:
    """Beat, every 5 minutes: raise (or auto-resolve) error-rate alerts from the usage rollups."""
    return monitors.check_error_rates()


@shared_task(name="alerts.ping")
def ping() -> str:
    """A no-op: the benchmark's baseline for one Celery round-trip."""
    return "pong"
