"""Twilio Programmable Messaging callbacks: SMS delivery status and inbound SMS replies.

Signing: TwilioSignature over the public URL (PUBLIC_BASE_URL + path + query, never the Host
header) plus the sorted form parameters. No timestamp is signed: replays are stopped by dedupe on
signed parameters.

Event types: "message.status" (a status callback: MessageStatus present and not "received"),
dedupe MessageSid + MessageStatus (callbacks can arrive out of order; the handler only moves a
message forward); "message.inbound" (an inbound SMS), dedupe MessageSid.
Reply: 200 with empty TwiML, which Twilio accepts for both.

Vendor facts: docs/vendors/twilio.md ("Status callbacks").
"""

from __future__ import annotations

from django.http import HttpResponse
from rest_framework import serializers

from ..family import FAMILY
from ..verification import Malformed, TwilioSignature
from .base import InboundSettings, InboundSource, Parsed, ParsedEvent, form_dict, require_object

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


class TwilioSettings(InboundSettings):
    account_sid = serializers.RegexField(
        r"^AC[0-9a-fA-F]{32}$", required=False, help_text="Only accept callbacks for this account (AC…)."
    )


@FAMILY.register
class Twilio(InboundSource):
    name = "twilio"
    label = "Twilio (SMS callbacks)"
    scheme = TwilioSignature()
    settings_serializer = TwilioSettings
    account_setting = "account_sid"

    @classmethod
    def parse(cls, request, settings) -> Parsed:
        fields = require_object(request.json) if request.is_json else form_dict(request.form_pairs)
        sid = fields.get("MessageSid") or fields.get("SmsSid")
        if not isinstance(sid, str) or not sid:
            raise Malformed("MessageSid is missing")
        status = fields.get("MessageStatus") or fields.get("SmsStatus")
        account = fields.get("AccountSid") if isinstance(fields.get("AccountSid"), str) else ""
        if isinstance(status, str) and status and status != "received":
            return Parsed([ParsedEvent("message.status", f"{sid}:{status}", fields, account)])
        return Parsed([ParsedEvent("message.inbound", sid, fields, account)])

    @classmethod
    def reply(cls, stored) -> HttpResponse:
        return HttpResponse(EMPTY_TWIML, content_type="text/xml", status=200)
