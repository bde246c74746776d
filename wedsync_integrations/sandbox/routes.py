"""How a family declares fake vendor endpoints for the sandbox.

In `<app>/sandbox.py`:

    from wedsync_integrations.sandbox.routes import Reply, route

    route("POST", "/datadog/api/v2/series", status=202, json={"errors": []})
    route("GET", "/datadog/api/v1/validate", json={"valid": True})

    @route("POST", r"/twilio/2010-04-01/Accounts/(?P<sid>AC\\w+)/Messages.json")
    def twilio_message(request):               # dynamic reply
        return Reply(201, json={"sid": "SM" + request.id_hex[:32], "status": "queued"})

Every vendor lives under its own path prefix (/datadog, /newrelic, /slack, /twilio, /pagerduty, …),
so one sandbox serves them all and a config's base_url is simply "<sandbox>/<vendor>".
Paths are full-match regular expressions; named groups are passed in request.match.

A fake that keeps state between requests (messages "sent" so far, say) registers a hook that
forgets it; the sandbox runs every hook on reset, i.e. before each test that uses it:

    @on_reset
    def _forget_messages():
        _messages.clear()
"""

from __future__ import annotations

import json as jsonlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if self.json is not None:
            headers.setdefault("Content-Type", "application/json")
            return jsonlib.dumps(self.json).encode(), headers
        body = self.body.encode() if isinstance(self.body, str) else self.body
        if body:
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return body, headers


@dataclass
class Route:
    method: str
    pattern: re.Pattern
    reply: Reply | None = None
    handler: Callable[..., Reply] | None = None

    def matches(self, method: str, path: str) -> re.Match | None:
        if method.upper() != self.method:
            return None
        return self.pattern.fullmatch(path)


ROUTES: list[Route] = []
RESET_HOOKS: list[Callable[[], None]] = []


def route(
    method: str,
    path: str,
    *,
    status: int = 200,
    json: Any = None,
    body: bytes | str = b"",
    headers: dict[str, str] | None = None,
):
    """Declare a fake endpoint. Use as a plain call for a fixed reply, or as a decorator for a
    handler(request) -> Reply computed per request."""
    entry = Route(method.upper(), re.compile(path), Reply(status, body, headers or {}, json))
    ROUTES.append(entry)

    def decorator(handler: Callable[..., Reply]) -> Callable[..., Reply]:
        entry.handler = handler
        return handler

    return decorator


def find(method: str, path: str, entries: list[Route] | None = None) -> tuple[Route, re.Match] | None:
    """The route answering method + path among `entries` (default: the declared ROUTES).
    Later entries win, so a test module can override a family's default."""
    for entry in reversed(ROUTES if entries is None else entries):
        match = entry.matches(method, path)
        if match:
            return entry, match
    return None


def on_reset(hook: Callable[[], None]) -> Callable[[], None]:
    """Register hook() to run whenever the sandbox is reset (its state forgotten)."""
    RESET_HOOKS.append(hook)
    return hook
