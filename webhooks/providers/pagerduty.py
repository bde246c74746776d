"""PagerDuty webhooks v3 (incident acknowledged/resolved/… for alerts raised through Events v2).

Signing: PagerDutyV3 (any v1=<hex> of X-PagerDuty-Signature; several during rotation). No
timestamp is signed, so replays are stopped by dedupe on event.id, which is inside the signed
body (X-Webhook-Id is used only when the body has no id: an unsigned header could be changed by
someone replaying a captured delivery). Reply 202 with an empty body within 5 s.

Event type: event.event_type (e.g. "incident.acknowledged", "incident.resolved").

Vendor facts: docs/vendors/pagerduty.md ("Webhooks v3").
"""

from __future__ import annotations

from django.http import HttpResponse

from ..family import FAMILY
from ..verification import PagerDutyV3
from .base import InboundSource, Parsed, ParsedEvent, checked_event_type, require_object, require_str


@FAMILY.register
class PagerDuty(InboundSource):
    name = "pagerduty"
    label = "PagerDuty"
    scheme = PagerDutyV3()
    success_status = 202

    @classmethod
    def parse(cls, request, settings) -> Parsed:
        body = require_object(request.json)
        event = require_object(body.get("event"), "event")
        event_type = checked_event_type(require_str(event, "event_type", "event.event_type"))
        external_id = event.get("id") if isinstance(event.get("id"), str) and event.get("id") else None
        if external_id is None:
            external_id = require_str({"X-Webhook-Id": request.header("X-Webhook-Id")}, "X-Webhook-Id", "event.id")
        return Parsed([ParsedEvent(event_type=event_type, external_id=external_id, payload=body)])

    @classmethod
    def reply(cls, stored) -> HttpResponse:
        return HttpResponse(status=202)
