"""Slack: interactivity (button clicks: "block_actions"), slash commands and Events API callbacks.

Signing: SlackV0 over the raw body, ±5 min. The platform's app signs with SLACK_SIGNING_SECRET at
the global path /slack/; an organisation's own Slack app signs with its secret at /slack/<org>/.
Slack must get a 200 within 3 seconds: the endpoint verifies, stores and queues, then answers
with an empty body (the Events API url_verification handshake echoes its challenge instead).

Event types: interactivity payload "type" (e.g. "block_actions", "view_submission");
"slash_command"; Events API callbacks "event.<inner type>" (e.g. "event.app_mention").
Dedupe: block_actions on (container.message_ts, actions[0].action_ts, user.id) (Slack has no
interaction id); other interactions on trigger_id; slash commands on trigger_id; events on event_id.
The deprecated verification `token` is dropped from what we store.

Vendor facts: docs/vendors/slack.md ("Buttons and interactivity").
"""

from __future__ import annotations

from django.conf import settings as django_settings
from django.http import HttpResponse, JsonResponse
from rest_framework import serializers

from ..family import FAMILY
from ..verification import Malformed, SlackV0
from .base import (
    InboundSettings,
    InboundSource,
    Parsed,
    ParsedEvent,
    body_digest,
    checked_event_type,
    form_dict,
    json_from_form_field,
    require_object,
    require_str,
)


class SlackSettings(InboundSettings):
    team_id = serializers.RegexField(
        r"^[TE][A-Z0-9]{2,20}$", required=False, help_text="Only accept events from this workspace (T…)."
    )


@FAMILY.register
class Slack(InboundSource):
    name = "slack"
    label = "Slack"
    scheme = SlackV0()
    settings_serializer = SlackSettings
    global_path = True
    account_setting = "team_id"

    @classmethod
    def platform_secrets(cls) -> list[str]:
        secret = getattr(django_settings, "SLACK_SIGNING_SECRET", "")
        return [secret] if secret else []

    @classmethod
    def parse(cls, request, settings) -> Parsed:
        if request.is_json:
            return cls._parse_events_api(request)
        fields = form_dict(request.form_pairs, drop=("token",))
        if "payload" in fields:
            return Parsed([cls._interaction(json_from_form_field(fields, "payload"), request.body)])
        if "command" in fields:
            return Parsed(
                [
                    ParsedEvent(
                        event_type="slash_command",
                        external_id=require_str(fields, "trigger_id"),
                        payload=fields,
                        account=str(fields.get("team_id", "")),
                    )
                ]
            )
        raise Malformed("expected a Slack interactivity payload, slash command or Events API callback")

    @classmethod
    def _interaction(cls, payload: dict, body: bytes) -> ParsedEvent:
        payload.pop("token", None)
        kind = checked_event_type(require_str(payload, "type", "payload.type"))
        team = payload.get("team") if isinstance(payload.get("team"), dict) else {}
        return ParsedEvent(
            event_type=kind,
            external_id=_interaction_id(kind, payload, body),
            payload=payload,
            account=team.get("id", ""),
        )

    @classmethod
    def _parse_events_api(cls, request) -> Parsed:
        body = require_object(request.json)
        kind = body.get("type")
        if kind == "url_verification":
            return Parsed(handshake=JsonResponse({"challenge": require_str(body, "challenge")}))
        if kind != "event_callback":
            raise Malformed("unsupported Slack Events API type")
        event = require_object(body.get("event"), "event")
        body.pop("token", None)
        return Parsed(
            [
                ParsedEvent(
                    event_type="event." + checked_event_type(require_str(event, "type", "event.type")),
                    external_id=require_str(body, "event_id"),
                    payload=body,
                    account=str(body.get("team_id", "")),
                )
            ]
        )

    @classmethod
    def reply(cls, stored) -> HttpResponse:
        return HttpResponse(status=200)  # Slack wants an empty 200 within 3 s


def _interaction_id(kind: str, payload: dict, body: bytes) -> str:
    if kind == "block_actions":
        container = payload.get("container") if isinstance(payload.get("container"), dict) else {}
        actions = payload.get("actions") if isinstance(payload.get("actions"), list) else []
        user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
        first = actions[0] if actions and isinstance(actions[0], dict) else {}
        parts = [container.get("message_ts"), first.get("action_ts"), user.get("id")]
        if not all(isinstance(part, str) and part for part in parts):
            raise Malformed("block_actions needs container.message_ts, actions[0].action_ts and user.id")
        return ":".join(parts)
    trigger = payload.get("trigger_id")
    if isinstance(trigger, str) and trigger:
        return trigger
    return body_digest(body)
