"""Xero webhooks (INVOICE/CONTACT/CREDITNOTE/… CREATE/UPDATE events; ACCPAY bills are INVOICE).

Signing: XeroSignature (base64 HMAC-SHA256 of the raw body with the webhook key). Xero requires
200 with an empty body (and no cookies) for a good signature and 401 for a bad one, within 5 s.
That is also the whole Intent-to-Receive handshake: Xero posts {"events": [], …} some correctly
and some incorrectly signed and checks we answer 200 / 401 accordingly; nothing is stored.

Event type: "<eventcategory>.<eventtype>" lower-cased (e.g. "invoice.update").
Dedupe: resourceId + eventDateUtc + eventType. Payloads are thin: handlers GET resourceUrl.

Vendor facts: docs/vendors/inbound-signatures.md ("Xero").
"""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework import serializers

from ..family import FAMILY
from ..verification import Malformed, XeroSignature
from .base import InboundSettings, InboundSource, Parsed, ParsedEvent, checked_event_type, require_object, require_str

MAX_EVENTS_PER_REQUEST = 500


class XeroSettings(InboundSettings):
    tenant_id = serializers.UUIDField(required=False, format="hex_verbose", help_text="This organisation's tenantId.")

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if "tenant_id" in value:
            value["tenant_id"] = str(value["tenant_id"])  # stored as JSON
        return value


@FAMILY.register
class Xero(InboundSource):
    name = "xero"
    dispatch = "sweeper"  # minutes are fine: published by the beat sweeper
    label = "Xero"
    scheme = XeroSignature()
    settings_serializer = XeroSettings
    account_setting = "tenant_id"

    @classmethod
    def parse(cls, request, settings) -> Parsed:
        body = require_object(request.json)
        events = body.get("events")
        if not isinstance(events, list):
            raise Malformed("events must be a list")
        if len(events) > MAX_EVENTS_PER_REQUEST:
            raise Malformed(f"more than {MAX_EVENTS_PER_REQUEST} events in one request")
        return Parsed([cls._event(item) for item in events])  # [] = Intent to Receive

    @staticmethod
    def _event(item) -> ParsedEvent:
        item = require_object(item, "each event")
        category, kind = require_str(item, "eventCategory"), require_str(item, "eventType")
        resource, at = require_str(item, "resourceId"), require_str(item, "eventDateUtc")
        return ParsedEvent(
            event_type=checked_event_type(f"{category}.{kind}".lower()),
            external_id=f"{resource}:{at}:{kind}",
            payload=item,
            account=str(item.get("tenantId") or ""),
        )

    @classmethod
    def reply(cls, stored) -> HttpResponse:
        return HttpResponse(status=200)  # Xero: empty body, no cookies
