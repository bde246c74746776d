"""Sources that speak Standard Webhooks with the recommended {"type", "timestamp", "data"} body
(docs/vendors/standard-webhooks.md)."""

from __future__ import annotations

from ..verification import StandardWebhooks
from .base import (
    InboundSource,
    Parsed,
    ParsedEvent,
    StandardWebhooksSecrets,
    checked_event_type,
    require_object,
    require_str,
)


class StandardWebhooksSource(InboundSource):
    scheme = StandardWebhooks()
    dispatch = "sweeper"  # CRM and partner events: published by the beat sweeper
    secrets_serializer = StandardWebhooksSecrets

    @classmethod
    def parse(cls, request, settings) -> Parsed:
        body = require_object(request.json)
        event_type = checked_event_type(require_str(body, "type"))
        return Parsed([ParsedEvent(event_type, request.header("webhook-id"), body)])
