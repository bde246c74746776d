"""Where families register what to do with inbound webhook events.

    from webhooks.registry import handles

    @handles("pagerduty", "incident.acknowledged", "incident.resolved")
    def acknowledge_from_pagerduty(event):      # event: webhooks.models.InboundEvent
        ...

A handler receives the stored InboundEvent (source, organisation, event_type, external_id,
payload already parsed, received_at) after the request was verified, deduplicated and
acknowledged. It must be idempotent (an event can be processed again after a crash or a
staff "reprocess"); raising marks the event failed and queues it for retry, nothing is lost.
"*" as an event type matches every event of that source.
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


def handlers_for(source: str, event_type: str) -> list[Handler]:
    return [*_handlers.get((source, event_type), []), *_handlers.get((source, "*"), [])]


def registered() -> dict[tuple[str, str], list[Handler]]:
    return {key: list(value) for key, value in _handlers.items()}
