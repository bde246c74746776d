"""QuickBooks Online webhooks (entity changes: Purchase, Bill, … created/updated/deleted/voided).

Signing: IntuitSignature (base64 HMAC-SHA256 of the raw body with the app's verifier token).
Intuit wants a 200 within 3 s and holds later events until the failing one is acknowledged.

Two body formats, both accepted (CloudEvents is mandatory from 2026; legacy still arrives):
- CloudEvents: a JSON array of {"specversion", "id", "type", "time", "intuitentityid",
  "intuitaccountid", "data"}. Event type: "type" (e.g. "qbo.purchase.created.v1"); dedupe: "id".
- legacy: {"eventNotifications": [{"realmId", "dataChangeEvent": {"entities": [{"name", "id",
  "operation", "lastUpdated"}]}}]}. Each entity becomes one event, named like CloudEvents
  ("qbo.<entity>.<operation, past tense>.v1") so handlers see one vocabulary; dedupe:
  realm + entity + id + operation + lastUpdated.
Both payloads are thin: handlers fetch the entity if they need more.

Vendor facts: docs/vendors/inbound-signatures.md ("QuickBooks Online").
"""

from __future__ import annotations

from rest_framework import serializers

from ..family import FAMILY
from ..verification import IntuitSignature, Malformed
from .base import InboundSettings, InboundSource, Parsed, ParsedEvent, checked_event_type, require_object, require_str

LEGACY_OPERATIONS = {
    "create": "created",
    "update": "updated",
    "delete": "deleted",
    "void": "voided",
    "merge": "merged",
    "emailed": "emailed",
}
MAX_EVENTS_PER_REQUEST = 500


class QuickBooksSettings(InboundSettings):
    realm_id = serializers.RegexField(r"^\d{1,20}$", required=False, help_text="This organisation's company (realmId).")


@FAMILY.register
class QuickBooks(InboundSource):
    name = "quickbooks"
    dispatch = "sweeper"  # minutes are fine: published by the beat sweeper
    label = "QuickBooks Online"
    scheme = IntuitSignature()
    settings_serializer = QuickBooksSettings
    account_setting = "realm_id"

    @classmethod
    def parse(cls, request, settings) -> Parsed:
        body = request.json
        if isinstance(body, list):
            events = [cls._cloud_event(item) for item in body]
        elif isinstance(body, dict) and "eventNotifications" in body:
            events = cls._legacy(body)
        else:
            raise Malformed("expected a CloudEvents array or a legacy eventNotifications object")
        if len(events) > MAX_EVENTS_PER_REQUEST:
            raise Malformed(f"more than {MAX_EVENTS_PER_REQUEST} events in one request")
        return Parsed(events)

    @staticmethod
    def _cloud_event(item) -> ParsedEvent:
        item = require_object(item, "each CloudEvent")
        return ParsedEvent(
            event_type=checked_event_type(require_str(item, "type")),
            external_id=require_str(item, "id"),
            payload=item,
            account=str(item.get("intuitaccountid") or ""),
        )

    @staticmethod
    def _legacy(body: dict) -> list[ParsedEvent]:
        notifications = body.get("eventNotifications")
        if not isinstance(notifications, list):
            raise Malformed("eventNotifications must be a list")
        events = []
        for notification in notifications:
            notification = require_object(notification, "each eventNotification")
            realm = require_str(notification, "realmId")
            change = require_object(notification.get("dataChangeEvent"), "dataChangeEvent")
            entities = change.get("entities")
            if not isinstance(entities, list):
                raise Malformed("dataChangeEvent.entities must be a list")
            for entity in entities:
                entity = require_object(entity, "each entity")
                name, entity_id = require_str(entity, "name"), require_str(entity, "id")
                operation = require_str(entity, "operation")
                past = LEGACY_OPERATIONS.get(operation.lower(), operation.lower())
                last_updated = str(entity.get("lastUpdated") or "")
                events.append(
                    ParsedEvent(
                        event_type=checked_event_type(f"qbo.{name.lower()}.{past}.v1"),
                        external_id=f"legacy:{realm}:{name}:{entity_id}:{operation}:{last_updated}",
                        payload={"format": "legacy", "realmId": realm, "entity": entity},
                        account=realm,
                    )
                )
        return events
