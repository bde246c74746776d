"""Where families register what to do with inbound webhook events.

    from webhooks.registry import handles

    @handles("pagerduty", "incident.acknowledged", "incident.resolved")
    def acknowledge_from_pagerduty(event):      # event: webhooks.models.InboundEvent
        ...

A handler receives the stored InboundEvent (source, organisation, event_type, external_id,
payload already parsed, received_at) after the request was verified, deduplicated and
acknowledged. It must be idempotent (an event can be processed again after a crash or a
staff "reprocess"); raising marks the event failed and queues it for retry, nothing is lost.
Each handler runs in its own database transaction; once it has succeeded for an event, a retry
of that event (because a later handler failed) does not run it again.
"*" as an event type matches every event of that source.

Event types per source (derived in webhooks/providers/<source>.py, as docs/vendors/*.md describe):

| source     | event_type                                                   | dedupe (event id)                       |
|------------|--------------------------------------------------------------|-----------------------------------------|
| slack      | interactivity payload "type": "block_actions",               | block_actions: container.message_ts +   |
|            | "view_submission", …; "slash_command"; Events API callbacks  | actions[0].action_ts + user.id; others: |
|            | "event.<event.type>" (e.g. "event.app_mention")              | trigger_id / event_id                   |
| pagerduty  | event.event_type ("incident.acknowledged", "…resolved", …)   | event.id (signed; X-Webhook-Id fallback)|
| twilio     | "message.status" (status callback), "message.inbound" (SMS)  | MessageSid+MessageStatus / MessageSid   |
| datadog    | "alert" (payload keeps alert_transition etc.)                | body "id" ($ID), or webhook-id          |
| newrelic   | "alert" (payload keeps state, issue id etc.)                 | issue id+state+updatedAt, or webhook-id |
| tave       | REST-hook event: "contact.created", "job.created",           | event + targetId                        |
|            | "order.booked", "payment.created" ("rest_hook" if unnamed)   |                                         |
| honeybook  | body "type" (e.g. "client.created", "project.booked")        | webhook-id                              |
| generic    | body "type" (e.g. "crm.client.created")                      | webhook-id                              |
| quickbooks | CloudEvents "type" ("qbo.bill.created.v1"); legacy entities  | CloudEvents id / realm+entity+id+op+time|
|            | are named the same way ("qbo.<entity>.<op past tense>.v1")   |                                         |
| xero       | "<eventcategory>.<eventtype>" ("invoice.create", …)          | resourceId + eventDateUtc + eventType   |
| freshbooks | form "name" ("expense.create", …); "callback.verify"         | name + object_id                        |

event.organisation is None only for the platform-wide Slack app (global path).

"A new client or a booking" is transport vocabulary, kept here so no family repeats it:
NEW_CLIENT_EVENTS names, per source, the event types that mean one, and `handles_new_client`
registers a handler for all of them (the CRM family syncs the organisation's CRMs, monitoring
its AI metrics, as the product rules ask).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

Handler = Callable[..., object]

_handlers: dict[tuple[str, str], list[Handler]] = defaultdict(list)


def handles(source: str, *event_types: str) -> Callable[[Handler], Handler]:
    if not event_types:
        raise ValueError("name at least one event type, or '*'")

    def decorator(func: Handler) -> Handler:
        for event_type in event_types:
            if func not in _handlers[(source, event_type)]:
                _handlers[(source, event_type)].append(func)
        return func

    return decorator


# Which inbound events mean "a new client or a booking". Tave's are its REST-hook events
# (docs/vendors/tave.md); HoneyBook's come from the studio's Zapier zap and the generic ones from
# partners, so those names are our documented convention (docs/vendors/honeybook.md).
NEW_CLIENT_EVENTS: dict[str, tuple[str, ...]] = {
    "tave": ("contact.created", "job.created", "order.booked"),
    "honeybook": ("client.created", "inquiry.created", "project.booked"),
    "generic": ("crm.client.created", "crm.booking.created"),
}


def handles_new_client(func: Handler) -> Handler:
    """Register `func` for every source's "new client / booking" events (NEW_CLIENT_EVENTS)."""
    for source, event_types in NEW_CLIENT_EVENTS.items():
        handles(source, *event_types)(func)
    return func


def handlers_for(source: str, event_type: str) -> list[Handler]:
    return [*_handlers.get((source, event_type), []), *_handlers.get((source, "*"), [])]


def registered() -> dict[tuple[str, str], list[Handler]]:
    return {key: list(value) for key, value in _handlers.items()}
