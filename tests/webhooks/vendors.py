"""How each vendor signs a request, written independently of webhooks.verification (plain hmac
and hashlib, straight from docs/vendors/), so the tests prove the endpoint against the vendors'
formats rather than against itself."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from urllib.parse import parse_qsl, urlencode

API = "/api/webhooks/ai-integrations"


def now() -> int:
    return int(time.time())


def slack_headers(secret: str, body: bytes, timestamp: int | None = None) -> dict:
    timestamp = now() if timestamp is None else timestamp
    base = b"v0:" + str(timestamp).encode() + b":" + body
    signature = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Signature": signature, "X-Slack-Request-Timestamp": str(timestamp)}


def pagerduty_headers(secrets: list[str] | str, body: bytes, webhook_id: str = "wh-1") -> dict:
    secrets = [secrets] if isinstance(secrets, str) else secrets
    values = ",".join("v1=" + hmac.new(s.encode(), body, hashlib.sha256).hexdigest() for s in secrets)
    return {"X-PagerDuty-Signature": values, "X-Webhook-Id": webhook_id}


def twilio_signature(token: str, url: str, params: list[tuple[str, str]] | dict) -> str:
    pairs = list(params.items()) if isinstance(params, dict) else list(params)
    content = url + "".join(k + v for k, v in sorted(pairs))
    return base64.b64encode(hmac.new(token.encode(), content.encode(), hashlib.sha1).digest()).decode()


def b64_body_hmac(secret: str, body: bytes) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def freshbooks_signature(verifier: str, form_body: str) -> str:
    message = json.dumps(dict(parse_qsl(form_body, keep_blank_values=True)))
    return base64.b64encode(hmac.new(verifier.encode(), message.encode(), hashlib.sha256).digest()).decode()


def standard_headers(secret: str, msg_id: str, body: bytes, timestamp: int | None = None) -> dict:
    timestamp = now() if timestamp is None else timestamp
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    signature = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": f"v1,{signature}"}


def form(fields: dict | list) -> bytes:
    return urlencode(fields).encode()


def as_json(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def parse_form(body: bytes) -> list[tuple[str, str]]:
    return parse_qsl(body.decode(), keep_blank_values=True)
