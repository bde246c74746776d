"""Talking to a running sandbox: what it recorded, and which faults it should inject next.

    from wedsync_integrations.sandbox.client import SandboxClient

    sandbox = SandboxClient("http://127.0.0.1:8900")       # e.g. the demo's sandbox
    sandbox.fault("/datadog", kind="retry_after", retry_after=2)
    ...
    (request,) = sandbox.requests("/datadog/api/v2/series")
    assert request.headers["DD-API-KEY"] == "…" and request.json()["series"][0]["metric"] == "…"

`SandboxServer` (server.py) starts its own sandbox process and offers the same methods.
This module imports neither Django nor the server, so any process can use it.
"""

from __future__ import annotations

import base64
import enum
import gzip
import json
import time
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from email.message import Message
from typing import Any
from urllib.parse import parse_qs, urlencode

import requests
from requests.structures import CaseInsensitiveDict

CONTROL_PREFIX = "/__sandbox"


class FaultKind(enum.StrEnum):
    """The faults a sandbox can inject (plain strings on the wire)."""

    STATUS = "status"  # answer with an error status (default 503)
    RETRY_AFTER = "retry_after"  # answer 429 (or the given status) with a Retry-After header
    SLOW = "slow"  # wait `delay` seconds, then answer normally
    TIMEOUT = "timeout"  # hold the connection `delay` seconds without answering, then close it
    DROP = "drop"  # close the connection without any response (the route never runs)
    # the route runs (the vendor acts on the request: a document created, a row stored), then the
    # connection closes before its answer leaves: the client cannot tell this from DROP
    REPLY_LOST = "reply_lost"


FAULT_KINDS: tuple[str, ...] = tuple(kind.value for kind in FaultKind)


class SandboxError(RuntimeError):
    """The sandbox refused a control call or could not be reached."""


class FormData(dict):
    """A decoded form body: `form["Body"]` is the last value of a field, `getlist` gives them all."""

    def __init__(self, lists: dict[str, list[str]]):
        super().__init__({key: values[-1] for key, values in lists.items()})
        self._lists = lists

    def getlist(self, key: str) -> list[str]:
        return list(self._lists.get(key, []))

    def lists(self) -> dict[str, list[str]]:
        return {key: list(values) for key, values in self._lists.items()}


class MatchGroups(dict):
    """Named groups of a route's path pattern: `request.match["sid"]` (or `.group("sid")`)."""

    def group(self, name: str) -> str | None:
        return self[name]

    def groupdict(self) -> dict[str, str | None]:
        return dict(self)


def decode_content(body: bytes, content_encoding: str | None) -> bytes:
    """Undo Content-Encoding (gzip, deflate; several are applied in order, so undone in reverse)."""
    encodings = [part.strip().lower() for part in (content_encoding or "").split(",") if part.strip()]
    for encoding in reversed(encodings):
        if encoding in ("gzip", "x-gzip"):
            body = gzip.decompress(body)
        elif encoding == "deflate":
            # RFC 9110 "deflate" is zlib-wrapped; some clients send raw deflate anyway
            try:
                body = zlib.decompress(body)
            except zlib.error:
                body = zlib.decompress(body, -zlib.MAX_WBITS)
        elif encoding != "identity":
            raise ValueError(f"sandbox cannot decode Content-Encoding {encoding!r}")
    return body


@dataclass
class RecordedRequest:
    """One request the sandbox received, exactly as it arrived.

    `peer` is the client's "host:port" (one port for many requests = a reused keep-alive connection).
    `body` is the raw bytes on the wire after de-chunking (a gzip body stays gzip);
    text()/json()/form() decode Content-Encoding first. `fault` names the fault injected into
    this request, if any; `status` is what the sandbox answered (None when it dropped or held
    the connection; for "reply_lost", what the route answered although the reply never left).
    Route handlers receive the same object, with `match` filled in.
    """

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: CaseInsensitiveDict = field(default_factory=CaseInsensitiveDict)
    body: bytes = b""
    received_at: datetime | None = None
    fault: str | None = None
    status: int | None = None
    route: str | None = None
    peer: str = ""
    id: str = ""
    seq: int = 0
    match: MatchGroups = field(default_factory=MatchGroups)

    @property
    def id_hex(self) -> str:
        """A per-request random hex id (32 characters), handy for vendor-style object ids."""
        return self.id

    @property
    def url_path(self) -> str:
        """Path with its query string, as the client sent it."""
        if not self.query:
            return self.path
        return f"{self.path}?{urlencode(self.query, doseq=True)}"

    def decoded_body(self) -> bytes:
        return decode_content(self.body, self.headers.get("Content-Encoding"))

    def text(self) -> str:
        return self.decoded_body().decode(self._charset(), errors="replace")

    def json(self) -> Any:
        try:
            return json.loads(self.text())
        except json.JSONDecodeError as exc:
            raise ValueError(f"{self.method} {self.path}: body is not JSON ({exc})") from exc

    def form(self) -> FormData:
        return FormData(parse_qs(self.text(), keep_blank_values=True))

    def _charset(self) -> str:
        message = Message()
        message["Content-Type"] = self.headers.get("Content-Type", "")
        return message.get_content_charset() or "utf-8"

    def __repr__(self) -> str:
        extra = f" fault={self.fault}" if self.fault else ""
        return f"<RecordedRequest #{self.seq} {self.method} {self.path} status={self.status}{extra}>"

    # -- wire format of the control API (bodies base64, headers as ordered pairs) ---------------
    def to_wire(self) -> dict:
        return {
            "seq": self.seq,
            "id": self.id,
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": list(self.headers.items()),
            "body_b64": base64.b64encode(self.body).decode("ascii"),
            "received_at": self.received_at.isoformat() if self.received_at else None,
            "fault": self.fault,
            "status": self.status,
            "route": self.route,
            "peer": self.peer,
            "match": dict(self.match),
        }

    @classmethod
    def from_wire(cls, data: dict) -> RecordedRequest:
        return cls(
            method=data["method"],
            path=data["path"],
            query={key: list(values) for key, values in data.get("query", {}).items()},
            headers=CaseInsensitiveDict(data.get("headers", [])),
            body=base64.b64decode(data.get("body_b64", "")),
            received_at=datetime.fromisoformat(data["received_at"]) if data.get("received_at") else None,
            fault=data.get("fault"),
            status=data.get("status"),
            route=data.get("route"),
            peer=data.get("peer", ""),
            match=MatchGroups(data.get("match") or {}),
            id=data.get("id", ""),
            seq=data.get("seq", 0),
        )


class SandboxClient:
    """Control API of a sandbox that is already running at `url`."""

    def __init__(self, url: str, *, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()
        # The sandbox is on loopback: never send control calls through an environment proxy.
        self._session.trust_env = False

    def vendor_url(self, vendor: str) -> str:
        """The base_url a config uses to talk to `vendor` in this sandbox: "<sandbox>/<vendor>"."""
        return f"{self.url}/{vendor.strip('/')}"

    # -- recorded requests ---------------------------------------------------------------------
    def requests(self, path_prefix: str | None = None, *, since: int = 0) -> list[RecordedRequest]:
        """Requests received so far (oldest first), optionally only those under `path_prefix`
        and after sequence number `since`."""
        params = {"since": since}
        if path_prefix:
            params["prefix"] = path_prefix
        data = self._call("GET", "/requests", params=params)
        return [RecordedRequest.from_wire(item) for item in data["requests"]]

    def wait_for(self, path_prefix: str | None = None, *, count: int = 1, timeout: float = 10.0):
        """Poll until at least `count` requests under `path_prefix` arrived; returns them.

        For work done by another process (a Celery worker) that the test cannot join."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.requests(path_prefix)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"sandbox: expected {count} request(s) under {path_prefix or '/'} within {timeout}s, "
                    f"got {len(found)}: {found!r}"
                )
            time.sleep(0.05)

    def clear(self) -> None:
        self._call("DELETE", "/requests")

    # -- faults ------------------------------------------------------------------------------------
    def fault(
        self,
        path_prefix: str,
        kind: str = FaultKind.STATUS,
        *,
        status: int | None = None,
        retry_after: float | str = 30,
        delay: float | None = None,
        times: int = 1,
        method: str = "",
    ) -> dict:
        """Inject a fault into the next `times` requests under `path_prefix` (0 = until cleared).

        status: the status answered (kind "status": default 503; "retry_after": default 429).
        delay: seconds for "slow" (default 2) and "timeout" (default 60, beyond a client's read timeout).
        method: only requests of this method (e.g. a vendor's POSTs, not the reads around them); default any.
        Faults queue in the order they were added: two faults on one prefix fire one after the other.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r} (one of {', '.join(FAULT_KINDS)})")
        spec = {"prefix": path_prefix, "kind": str(kind), "retry_after": retry_after, "times": times}
        if method:
            spec["method"] = method
        if status is not None:
            spec["status"] = status
        if delay is not None:
            spec["delay"] = delay
        return self._call("POST", "/faults", json=spec)

    def faults(self) -> list[dict]:
        return self._call("GET", "/faults")["faults"]

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    # -- run-time routes ------------------------------------------------------------------------
    def route(
        self,
        method: str,
        path: str,
        *,
        status: int = 200,
        json: Any = None,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer `method` + `path` (a full-match regular expression) with a fixed reply until the
        next reset, overriding any declared route: e.g. a vendor's validation error for one test."""
        spec: dict[str, Any] = {"method": method, "path": path, "status": status, "headers": headers or {}}
        if json is not None:
            spec["json"] = json
        else:
            raw = body.encode() if isinstance(body, str) else body
            spec["body_b64"] = base64.b64encode(raw).decode("ascii")
        self._call("POST", "/routes", json=spec)

    def clear_routes(self) -> None:
        """Drop the run-time routes (declared routes stay)."""
        self._call("DELETE", "/routes")

    def reset(self) -> None:
        """Forget recorded requests, faults and run-time routes in one call (done before every test)."""
        self._call("POST", "/reset")

    # -- introspection -----------------------------------------------------------------------------
    def health(self) -> dict:
        return self._call("GET", "/health")

    def routes(self) -> list[dict]:
        return self._call("GET", "/routes")["routes"]

    def _call(self, method: str, path: str, **kwargs) -> Any:
        url = self.url + CONTROL_PREFIX + path
        try:
            response = self._session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise SandboxError(f"sandbox at {self.url} is not reachable: {exc}") from exc
        if response.status_code >= 400:
            raise SandboxError(f"sandbox refused {method} {path}: HTTP {response.status_code} {response.text[:300]}")
        return response.json() if response.content else {}

    def close(self) -> None:
        self._session.close()
