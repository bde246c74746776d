"""Tave (now VSCO Workspace) REST hooks: contact.created, job.created, order.booked, payment.created.

Tave documents no signature, timestamp or retry policy, and for security its postback carries
only a `targetId`. So (docs/vendors/inbound-signatures.md): the subscription URL holds an unguessable per-organisation
token, /tave/<org>/?token=<signing_secret>[&event=<event>], checked in constant time (UrlToken);
the body is only a hint. Handlers never act on its content: a CRM event only triggers that
organisation's syncs, which read their data from the source of truth.

Event type: the body's "event" if present, else the URL's ?event= (subscribe one URL per event,
since the postback shape beyond targetId is unverified), else "rest_hook".
Dedupe: event + targetId (one "new client" per contact).
"""

from __future__ import annotations

import re

from rest_framework import serializers

from ..family import FAMILY
from ..verification import Malformed, UrlToken
from .base import InboundSource, Parsed, ParsedEvent, SigningSecrets, checked_event_type, require_object

TAVE_EVENTS = ("contact.created", "job.created", "order.booked", "payment.created")


class TaveSecrets(SigningSecrets):
    signing_secret = serializers.RegexField(
        r"^[A-Za-z0-9_-]{32,128}$",
        help_text="An unguessable URL token: 32+ letters, digits, '-' or '_' (e.g. secrets.token_urlsafe(32)).",
    )
    previous_signing_secret = serializers.RegexField(r"^[A-Za-z0-9_-]{32,128}$", required=False, allow_blank=True)


@FAMILY.register
class Tave(InboundSource):
    name = "tave"
    dispatch = "sweeper"  # minutes are fine: published by the beat sweeper
    label = "Tave / VSCO Workspace (REST hooks)"
    scheme = UrlToken()
    secrets_serializer = TaveSecrets

    @classmethod
    def parse(cls, request, settings) -> Parsed:
        body = require_object(request.json)
        target = body.get("targetId")
        if not isinstance(target, str) or not re.fullmatch(r"[0-9a-zA-Z]{10,40}", target):
            raise Malformed("targetId is missing or not a Tave id")
        event = body.get("event") or request.query.get("event") or "rest_hook"
        if not isinstance(event, str):
            raise Malformed("event must be a string")
        event = checked_event_type(event)
        return Parsed([ParsedEvent(event, f"{event}:{target.lower()}", {"targetId": target.lower(), "event": event})])
