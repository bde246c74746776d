"""Publishing an event's processing task: the one place that talks to the broker for inbound events.

The task is named, not imported (PROCESS_TASK, registered in tasks.py), so storing, processing and
retrying events never import the task module, and the task module imports them freely. A
signature by name still runs the registered task itself where it is loaded (eager in tests).
"""

from __future__ import annotations

import logging

from celery import current_app
from django.conf import settings

from .models import InboundEvent, Priority

logger = logging.getLogger("wedsync.webhooks")

PROCESS_TASK = "webhooks.process_event"
# Published tasks must never hold up the vendor's reply: a broker that is down costs at most
# a few hundred milliseconds before we give up and leave the event to the sweeper.
PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.1, "interval_max": 0.2}


def queue_for(priority: int) -> str | None:
    """The Celery queue for an event (None: Celery's default queue)."""
    if priority >= Priority.WEDDING_DAY and settings.WEBHOOK_PRIORITY_QUEUE:
        return settings.WEBHOOK_PRIORITY_QUEUE
    return settings.WEBHOOK_TASK_QUEUE or None


def publish(event_id: int, priority: int = Priority.NORMAL, *, countdown: float | None = None) -> bool:
    """Publish one processing task (after `countdown` seconds); a failure is logged and left to the
    sweeper, which finds every due event whose task never arrived."""
    try:
        current_app.signature(PROCESS_TASK, args=(event_id,)).apply_async(
            countdown=countdown,
            queue=queue_for(priority),
            retry=True,
            retry_policy=PUBLISH_RETRY_POLICY,
        )
        return True
    except Exception as exc:  # broker down: the stored row is the queue, the sweeper resends
        logger.warning("webhooks.publish_failed event=%s error=%s", event_id, type(exc).__name__)
        # No task is on its way, so the sweeper need not allow one its minute: its next run publishes.
        InboundEvent.objects.filter(pk=event_id).update(queued_at=None)
        return False
