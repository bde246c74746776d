"""Fake endpoints for the alert channels' vendors, shaped like their documented answers.

- /slack/services/…            incoming webhook: 200 "ok"
- /slack/actions/…             an interaction's response_url: 200 {"ok": true}
- /twilio/…/Messages.json      POST: 201 Message JSON (sid, status "queued", num_segments);
                               GET: the messages sent so far, newest first (the ambiguous-timeout lookup)
- /twilio/…/Accounts/AC….json  account lookup (health check)
- /pagerduty/v2/enqueue        202 {"status": "success", "message": "Event processed", "dedup_key": …}
- /hooks/…                     any outbound-webhook receiver: 200
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qs

from wedsync_integrations.sandbox.routes import Reply, on_reset, route

from .sms_text import count

route("POST", r"/slack/services/.+", body="ok")
route("POST", r"/slack/actions/.+", json={"ok": True})
route("POST", r"/hooks/.*", json={"received": True})

_messages: list[dict] = []
_lock = threading.Lock()


@on_reset
def _forget_messages() -> None:
    """Each test starts with an empty Twilio message log (the list endpoint reads it)."""
    with _lock:
        _messages.clear()


def _form(request) -> dict:
    return dict(request.form())


@route("POST", r"/twilio/2010-04-01/Accounts/(?P<sid>AC\w+)/Messages\.json")
def twilio_send(request):
    form = _form(request)
    missing = [name for name in ("To", "Body") if not form.get(name)]
    if missing or not (form.get("From") or form.get("MessagingServiceSid")):
        return Reply(
            400,
            json={
                "code": 21604,
                "message": f"missing {', '.join(missing) or 'From'}",
                "more_info": "https://www.twilio.com/docs/errors/21604",
                "status": 400,
            },
        )
    with _lock:
        sid = f"SM{len(_messages) + 1:032x}"
        message = {
            "sid": sid,
            "account_sid": request.match["sid"],
            "to": form["To"],
            "from": form.get("From"),
            "body": form["Body"],
            "status": "queued",
            "num_segments": str(count(form["Body"]).segments),
            "date_created": format_datetime(datetime.now(UTC), usegmt=True),
            "error_code": None,
            "error_message": None,
            "uri": f"/2010-04-01/Accounts/{request.match['sid']}/Messages/{sid}.json",
        }
        _messages.append(message)
    return Reply(201, json=message)


@route("GET", r"/twilio/2010-04-01/Accounts/(?P<sid>AC\w+)/Messages\.json")
def twilio_list(request):
    query = request.query if isinstance(request.query, dict) else parse_qs(str(request.query or ""))
    params = {key: values[-1] for key, values in query.items() if values}
    wanted = {field.lower(): params[field] for field in ("To", "From") if field in params}
    with _lock:
        found = [m for m in reversed(_messages) if all(m.get(k) == v for k, v in wanted.items())]
    return Reply(200, json={"messages": found[: int(params.get("PageSize", 50))], "page": 0})


route("GET", r"/twilio/2010-04-01/Accounts/(AC\w+)\.json", json={"status": "active", "type": "Full"})


@route("POST", r"/pagerduty/v2/enqueue")
def pagerduty_enqueue(request):
    try:
        event = json.loads(request.body or b"{}")
    except ValueError:
        return Reply(
            400, json={"status": "invalid event", "message": "Event object is invalid", "errors": ["invalid JSON"]}
        )
    errors = []
    if not event.get("routing_key"):
        errors.append("'routing_key' is missing or blank")
    if event.get("event_action") not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' is invalid")
    if event.get("event_action") != "trigger" and not event.get("dedup_key"):
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if event.get("event_action") == "trigger":
        payload = event.get("payload") or {}
        errors += [f"'payload.{f}' is missing" for f in ("summary", "source", "severity") if not payload.get(f)]
    if errors:
        return Reply(400, json={"status": "invalid event", "message": "Event object is invalid", "errors": errors})
    return Reply(202, json={"status": "success", "message": "Event processed", "dedup_key": event.get("dedup_key")})
