"""Celery tasks: process one event, sweep up events a dead worker or a lost publish left behind,
match accounting confirmations that arrived before their export, purge old history. Every task is
idempotent (acks_late: a worker that dies mid-task leaves the message to be redelivered, and the
claim in processing.process makes a second run harmless)."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import inbox, processing
from .models import EventStatus, InboundEvent, RejectedAttempt
from .publishing import PROCESS_TASK

REJECTED_RETENTION_DAYS = 30


@shared_task(name=PROCESS_TASK, acks_late=True, ignore_result=True)
def process_event(event_id: int) -> str | None:
    return processing.process(event_id)


@shared_task(name="webhooks.sweep", ignore_result=True)
def sweep(limit: int = 500) -> int:
    """Publish events that are due and have no task on its way (beat, every 10 s by default):
    new events of SWEEPER sources, events a dead worker left (expired lease), and events whose
    publish failed or was lost."""
    now = timezone.now()
    processing.release_expired_leases(now)
    due = processing.due_event_ids(now, limit=limit)
    processing.mark_queued([event_id for event_id, _ in due], now)
    return sum(inbox.publish(event_id, priority) for event_id, priority in due)


@shared_task(name="webhooks.match_confirmations", ignore_result=True)
def match_confirmations(limit: int = 1000) -> int:
    """Link accounting confirmations to exports recorded after them (beat, hourly by default)."""
    from .handlers.accounting import match_unmatched

    return match_unmatched(limit)


@shared_task(name="webhooks.purge", ignore_result=True)
def purge() -> dict[str, int]:
    """Delete processed/unhandled events past WEBHOOK_RETENTION_DAYS and old rejected attempts.
    Failed and retrying events are kept until staff deal with them."""
    now = timezone.now()
    events, _ = InboundEvent.objects.filter(
        status__in=[EventStatus.PROCESSED, EventStatus.UNHANDLED],
        received_at__lt=now - timedelta(days=settings.WEBHOOK_RETENTION_DAYS),
    ).delete()
    rejected, _ = RejectedAttempt.objects.filter(at__lt=now - timedelta(days=REJECTED_RETENTION_DAYS)).delete()
    return {"events": events, "rejected": rejected}
