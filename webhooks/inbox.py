"""The durable inbox: store verified events exactly once, then hand them to Celery.

    stored = inbox.store("pagerduty", organisation, parsed_events, client_ip=..., headers=...)
    # -> [(event id, duplicate?)]; new events are published for processing after commit

Dedupe is a unique key over (source, organisation, the vendor's event id): a vendor retry or a
replayed request finds the row already there and is acknowledged without a second event. The
stored row *is* the queue: if publishing to the broker fails (or WEBHOOK_DISPATCH="sweeper"), the
row stays "received" and the beat sweeper publishes it; nothing depends on the publish succeeding.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from wedsync_integrations import calendar

from .models import InboundEvent, Priority

logger = logging.getLogger("wedsync.webhooks")

# Published tasks must never hold up the vendor's reply: a broker that is down costs at most
# a few hundred milliseconds before we give up and leave the event to the sweeper.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}


def dedupe_key(source: str, organisation_id: int | None, external_id: str) -> str:
    raw = f"{source}\x1f{organisation_id or '-'}\x1f{external_id}"
    return hashlib.sha256(raw.encode()).hexdigest()


def priority_at(now=None) -> int:
    """Events arriving in the wedding-day window (Fri 18:00 – Sun 23:00, London) go first."""
    return Priority.WEDDING_DAY if calendar.is_wedding_day_mode(now) else Priority.NORMAL


def store(
    source: str,
    organisation,
    events: Iterable,
    *,
    client_ip: str | None = None,
    headers: dict | None = None,
    now=None,
) -> list[tuple[int, bool]]:
    """Insert each parsed event unless its dedupe key exists. Returns (id, duplicate?) per event."""
    now = now or timezone.now()
    priority = priority_at(now)
    publishing_now = settings.WEBHOOK_DISPATCH != "sweeper"
    organisation_id = organisation.pk if organisation is not None else None
    results: list[tuple[int, bool]] = []
    new_ids: list[int] = []
    for parsed in events:
        key = dedupe_key(source, organisation_id, parsed.external_id)
        event = InboundEvent(
            source=source,
            organisation_id=organisation_id,
            event_type=parsed.event_type,
            external_id=parsed.external_id,
            dedupe_key=key,
            payload=parsed.payload,
            headers=headers or {},
            client_ip=client_ip,
            priority=priority,
            received_at=now,
            next_attempt_at=now,
            queued_at=now if publishing_now else None,
        )
        if _insert(event):
            results.append((event.pk, False))
            new_ids.append(event.pk)
        else:
            existing = InboundEvent.objects.filter(dedupe_key=key).values_list("pk", flat=True).first()
            results.append((existing, True))
    if new_ids:
        transaction.on_commit(lambda: dispatch(new_ids, priority))
    return results


def _insert(event: InboundEvent) -> bool:
    """INSERT, False on a dedupe conflict. In autocommit (how requests run) that is one
    statement; inside an outer transaction a savepoint keeps the failure contained."""
    try:
        if connection.in_atomic_block:
            with transaction.atomic():
                event.save(force_insert=True)
        else:
            event.save(force_insert=True)
        return True
    except IntegrityError:
        return False


def dispatch(event_ids: list[int], priority: int = Priority.NORMAL) -> int:
    """After a request stored new events: publish their tasks now, unless the sweeper does it."""
    if settings.WEBHOOK_DISPATCH == "sweeper":
        return 0
    return sum(publish(event_id, priority) for event_id in event_ids)


def publish(event_id: int, priority: int = Priority.NORMAL) -> bool:
    """Publish one processing task; a failure is logged and left to the sweeper."""
    from .tasks import process_event

    try:
        process_event.apply_async((event_id,), queue=queue_for(priority), retry=True, retry_policy=PUBLISH_RETRY_POLICY)
        return True
    except Exception as exc:  # broker down: the stored row is the queue, the sweeper resends
        logger.warning("webhooks.publish_failed event=%s error=%s", event_id, type(exc).__name__)
        return False


def queue_for(priority: int) -> str | None:
    """The Celery queue for an event (None: Celery's default queue)."""
    if priority >= Priority.WEDDING_DAY and settings.WEBHOOK_PRIORITY_QUEUE:
        return settings.WEBHOOK_PRIORITY_QUEUE
    return settings.WEBHOOK_TASK_QUEUE or None
