"""Processing a stored event through the handler registry, with retries and crash recovery.

    processing.process(event_id)        # what the Celery task runs; safe to run twice

- A worker claims the event with a conditional UPDATE (status → processing, a lease, attempts+1),
  so two workers never run it at once and a crash still counts as an attempt (a poison event
  cannot loop forever). A worker that dies leaves the lease to expire; the sweeper re-queues it.
- Each handler runs in its own transaction, and the fact that it succeeded is saved in that same
  transaction (handlers_done): a retry after a later handler failed does not run it again.
- A handler that raises leaves the event stored as "retrying" with backoff (kernel RetryPolicy;
  the urgent policy for wedding-day events), then "failed" after max attempts, for staff to see
  and reprocess. No handler registered: "unhandled" (kept; reprocess once a family registers one).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from wedsync_integrations.core.observability import correlation_scope
from wedsync_integrations.integrations.retry import URGENT, RetryPolicy

from . import metrics, publishing, registry
from .models import EventStatus, InboundEvent, Priority

logger = logging.getLogger("wedsync.webhooks")

LEASE = timedelta(minutes=5)
# A published task not picked up within this long is presumed lost (broker restart, purge) and
# the sweeper publishes it again; a duplicate is harmless (the claim lets one run).
REPUBLISH_AFTER = timedelta(seconds=60)
POLICY = RetryPolicy(base_seconds=15.0, cap_seconds=1800.0, max_attempts=8)
IN_PROGRESS = "in progress"  # reprocess outcome: a worker holds the event's lease right now
WEDDING_DAY_POLICY = URGENT  # 5 s doubling to 5 min: an acknowledgement cannot wait half an hour


def policy_for(event: InboundEvent) -> RetryPolicy:
    return WEDDING_DAY_POLICY if event.priority >= Priority.WEDDING_DAY else POLICY


def due_filter(now) -> Q:
    return Q(status__in=[EventStatus.RECEIVED, EventStatus.RETRYING], next_attempt_at__lte=now) | Q(
        status=EventStatus.PROCESSING, leased_until__lt=now
    )


def claim(event_id: int, now) -> bool:
    return bool(
        InboundEvent.objects.filter(pk=event_id)
        .filter(due_filter(now))
        .update(status=EventStatus.PROCESSING, leased_until=now + LEASE, attempts=F("attempts") + 1)
    )


def handler_name(handler) -> str:
    return f"{getattr(handler, '__module__', '?')}.{getattr(handler, '__qualname__', repr(handler))}"


def process(event_id: int, *, now=None) -> str | None:
    """Run the event's handlers if it is due. Returns the new status, or None if not claimed."""
    now = now or timezone.now()
    if not claim(event_id, now):
        return None
    event = InboundEvent.objects.select_related("organisation").get(pk=event_id)
    handlers = registry.handlers_for(event.source, event.event_type)
    with correlation_scope(event.correlation_id):
        if not handlers:
            return _finish(event, EventStatus.UNHANDLED)
        done = list(event.handlers_done or [])
        for handler in handlers:
            name = handler_name(handler)
            if name in done:
                continue
            try:
                with transaction.atomic():
                    handler(event)
                    done.append(name)
                    InboundEvent.objects.filter(pk=event.pk).update(handlers_done=done)
            except Exception as exc:
                return _fail(event, name, exc, now)
        return _finish(event, EventStatus.PROCESSED)


def _finish(event: InboundEvent, status: str) -> str:
    InboundEvent.objects.filter(pk=event.pk).update(
        status=status, processed_at=timezone.now(), leased_until=None, last_error=""
    )
    metrics.EVENTS.labels(event.source, status).inc()
    return status


def _fail(event: InboundEvent, handler: str, exc: Exception, now) -> str:
    message = f"{handler}: {type(exc).__name__}: {exc}"[:2000]
    policy = policy_for(event)
    if event.attempts >= event.max_attempts:
        status = EventStatus.FAILED
        InboundEvent.objects.filter(pk=event.pk).update(status=status, leased_until=None, last_error=message)
        logger.error("webhooks.event_failed event=%s source=%s error=%s", event.pk, event.source, message)
    else:
        status = EventStatus.RETRYING
        delay = policy.delay(event.attempts)
        due_at = now + timedelta(seconds=delay)
        # queued_at = when the countdown message arrives: the sweeper only resends if it is lost
        InboundEvent.objects.filter(pk=event.pk).update(
            status=status, leased_until=None, last_error=message, next_attempt_at=due_at, queued_at=due_at
        )
        logger.warning("webhooks.event_retry event=%s attempt=%s in=%.0fs error=%s", event.pk, event.attempts, delay,
                       message)  # fmt: skip
        _schedule_retry(event, delay)
    metrics.EVENTS.labels(event.source, status).inc()
    return status


def _schedule_retry(event: InboundEvent, delay: float) -> None:
    """Ask Celery to come back after the backoff; if that fails the sweeper finds it when due."""
    publishing.publish(event.pk, event.priority, countdown=delay)


def reprocess(events, *, now=None) -> dict[str, int]:
    """Staff "reprocess": make each event due with fresh attempts and run it now.

    A processed event is run again from scratch (its handlers are idempotent by contract). An
    event a worker is running right now (live lease) is left to it: two runs never overlap."""
    now = now or timezone.now()
    totals: dict[str, int] = {}
    for event in events:
        from_scratch = event.status in (EventStatus.PROCESSED, EventStatus.UNHANDLED)
        made_due = (
            InboundEvent.objects.filter(pk=event.pk)
            .exclude(status=EventStatus.PROCESSING, leased_until__gt=now)
            .update(
                status=EventStatus.RECEIVED,
                next_attempt_at=now,
                leased_until=None,
                queued_at=now,
                max_attempts=event.attempts + policy_for(event).max_attempts,
                handlers_done=[] if from_scratch else event.handlers_done,
            )
        )
        status = (process(event.pk, now=now) or "skipped") if made_due else IN_PROGRESS
        totals[status] = totals.get(status, 0) + 1
    return totals


def release_expired_leases(now=None) -> int:
    """Events whose worker died mid-run (lease expired) become due again; the attempt counted."""
    now = now or timezone.now()
    return InboundEvent.objects.filter(status=EventStatus.PROCESSING, leased_until__lt=now).update(
        status=EventStatus.RETRYING, leased_until=None, next_attempt_at=now, queued_at=None
    )


def due_event_ids(now=None, *, limit: int = 500) -> list[tuple[int, int]]:
    """(id, priority) of events to (re)publish: received or retrying, due, and with no task
    published in the last REPUBLISH_AFTER (a task may simply be waiting in a busy queue).
    Wedding-day events first."""
    now = now or timezone.now()
    not_recently_queued = Q(queued_at__isnull=True) | Q(queued_at__lte=now - REPUBLISH_AFTER)
    due = Q(status__in=[EventStatus.RECEIVED, EventStatus.RETRYING], next_attempt_at__lte=now) & not_recently_queued
    return list(InboundEvent.objects.filter(due).order_by("-priority", "id").values_list("id", "priority")[:limit])


def mark_queued(event_ids, now=None) -> None:
    InboundEvent.objects.filter(pk__in=list(event_ids)).update(queued_at=now or timezone.now())
