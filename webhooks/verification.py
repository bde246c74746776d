"""Signature schemes for inbound webhooks: one class per scheme, exactly as each vendor documents it.

Every scheme works on an InboundRequest whose `body` is the raw bytes read before anything parsed
them, compares in constant time (signing.same), accepts any of several secrets (rotation), and
rejects with a Rejected(reason, detail) that never contains a secret or an expected signature.

| scheme              | header(s)                                        | MAC over                          | window |
|---------------------|--------------------------------------------------|-----------------------------------|--------|
| SlackV0             | X-Slack-Signature, X-Slack-Request-Timestamp     | "v0:{ts}:{body}", hex             | ±300 s |
| PagerDutyV3         | X-PagerDuty-Signature: v1=<hex>[,v1=<hex>…]      | body, hex                         | none   |
| TwilioSignature     | X-Twilio-Signature                               | URL + sorted params, SHA1 base64  | none   |
| XeroSignature       | x-xero-signature                                 | body, base64                      | none   |
| IntuitSignature     | intuit-signature                                 | body, base64                      | none   |
| FreshBooksSignature | X-FreshBooks-Hmac-SHA256                         | json.dumps(form fields), base64   | none   |
| StandardWebhooks    | webhook-id, webhook-timestamp, webhook-signature | "{id}.{ts}.{body}", whsec_, b64   | ±300 s |
| SharedSecretHeader  | Authorization: Bearer <secret> (or named header) | nothing: a shared secret          | none   |
| UrlToken            | ?token=<secret> in the subscribed URL            | nothing: an unguessable URL       | none   |

Where no timestamp is signed, the only replay guard is dedupe on an id inside the signed content,
which is why parsers take their dedupe keys from the body, not from unsigned headers.

Vendor facts per scheme: docs/vendors/<vendor>.md, and docs/vendors/inbound-signatures.md
for the accounting and CRM sources.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from wedsync_integrations.integrations.signing import (
    InvalidSecret,
    b64,
    hmac_digest,
    same,
    whsec_key,
)

from .models import RejectReason


class Rejected(Exception):
    """The request is not from who it claims to be (401). `detail` is safe to show the sender."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class Malformed(Exception):
    """Verified, but the body cannot be understood (400). `detail` names what is wrong."""


MAX_JSON_NESTING = 64  # far deeper than any vendor's payload, shallow enough to store and walk safely


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: str | bytes, what: str):
    """Strict JSON (RFC 8259): NaN and Infinity are refused, as JSON columns refuse them, and so
    is nesting deeper than MAX_JSON_NESTING (the database driver's encoder would overflow Python's
    stack storing it); either is Malformed (400), never a server error."""
    try:
        value = json.loads(raw, parse_constant=_no_constant)
    except RecursionError:
        raise Malformed(f"{what} is nested too deeply")
    except (ValueError, UnicodeDecodeError):
        raise Malformed(f"{what} is not valid JSON")
    opening = (b"[", b"{") if isinstance(raw, bytes) else ("[", "{")
    if raw.count(opening[0]) + raw.count(opening[1]) > MAX_JSON_NESTING and _nested_deeper(value, MAX_JSON_NESTING):
        raise Malformed(f"{what} is nested more than {MAX_JSON_NESTING} levels deep")
    return value


def _nested_deeper(value, limit: int) -> bool:
    """Iteratively (a recursive walk is what must be avoided here): any container below `limit` levels?"""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class EnvironHeaders(Mapping):
    """Request headers read straight from the WSGI environ, case-insensitively.

    Django's request.headers builds a dict of every header on first use; a scheme reads two or
    three, so on the endpoint's hot path they are looked up where they already are."""

    _UNPREFIXED = frozenset({"CONTENT_TYPE", "CONTENT_LENGTH"})

    def __init__(self, environ: Mapping[str, str]):
        self._environ = environ

    def _key(self, name: str) -> str:
        key = name.upper().replace("-", "_")
        return key if key in self._UNPREFIXED else "HTTP_" + key

    def __getitem__(self, name: str) -> str:
        return self._environ[self._key(name)]

    def get(self, name: str, default=None):
        return self._environ.get(self._key(name), default)

    def __contains__(self, name) -> bool:
        return isinstance(name, str) and self._key(name) in self._environ

    def __iter__(self):
        for key in self._environ:
            if key.startswith("HTTP_"):
                yield key[5:].replace("_", "-").title()
            elif key in self._UNPREFIXED:
                yield key.replace("_", "-").title()

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass
class InboundRequest:
    """What a scheme and a parser may look at: raw bytes, headers, the URL the vendor called."""

    body: bytes
    headers: Mapping[str, str]  # case-insensitive (EnvironHeaders, or Django's request.headers)
    public_url: str  # the externally visible URL, rebuilt from PUBLIC_BASE_URL (never from Host)
    query: Mapping[str, str] = field(default_factory=dict)
    content_type: str = ""
    received_at: float = field(default_factory=time.time)

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    @cached_property
    def form_pairs(self) -> list[tuple[str, str]]:
        """The url-encoded form fields in received order (repeats kept); raises Malformed."""
        try:
            text = self.body.decode("utf-8")
        except UnicodeDecodeError:
            raise Malformed("form body is not UTF-8")
        try:
            return parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=1000)
        except ValueError:
            raise Malformed("body is not a url-encoded form")

    @cached_property
    def json(self):
        return parse_json(self.body, "body")

    @property
    def is_json(self) -> bool:
        return self.content_type.split(";")[0].strip().lower() == "application/json"


OWS = " \t"  # optional whitespace around an HTTP field value (RFC 9110 §5.6.3), not part of it


def _need(request: InboundRequest, header: str) -> str:
    value = request.header(header)
    if not value:
        raise Rejected(RejectReason.MISSING_SIGNATURE, f"{header} header is missing")
    return value.strip(OWS)


def _signed_form_pairs(request: InboundRequest, header: str) -> list[tuple[str, str]]:
    """The form fields a scheme signs. A body that is not a form cannot carry a valid signature:
    that is a 401 (unauthenticated), never a 400 telling an unverified sender what we parse."""
    try:
        return request.form_pairs
    except Malformed as exc:
        raise Rejected(RejectReason.BAD_SIGNATURE, f"{header} cannot match: {exc}")


def unique_form_pairs(request: InboundRequest, header: str) -> list[tuple[str, str]]:
    """The form fields of a scheme that signs them as a JSON object, each name once. With a name
    repeated, the object signed keeps one value (json.dumps of a dict: the last) while the stored
    payload keeps them all, so values added after signing would verify: refused (401) before any
    MAC is computed. The sender is not told which name, as it is not told what else we parse."""
    pairs = _signed_form_pairs(request, header)
    if len({name for name, _ in pairs}) != len(pairs):
        raise Rejected(RejectReason.BAD_SIGNATURE, f"{header} cannot match: a form field is repeated")
    return pairs


def _check_timestamp(raw: str | None, now: float, tolerance: int, header: str) -> int:
    raw = (raw or "").strip(OWS)
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12:
        raise Rejected(RejectReason.STALE_TIMESTAMP, f"{header} must be Unix seconds")
    stamp = int(raw)
    if abs(now - stamp) > tolerance:
        raise Rejected(RejectReason.STALE_TIMESTAMP, f"{header} is more than {tolerance} s from now")
    return stamp


class VerificationScheme:
    """Base class: `verify` returns None when any secret matches, raises Rejected otherwise."""

    headers: dict[str, str] = {}  # header → what it carries, documented in the OpenAPI schema (webhooks.views)
    default_tolerance: int | None = None  # seconds, for schemes that sign a timestamp

    def verify(self, request: InboundRequest, secrets: Sequence[str], *, tolerance: int | None = None) -> None:
        raise NotImplementedError

    def _any_matches(self, candidates: Sequence[str], expected_for_secret, secrets: Sequence[str]) -> bool:
        """True if any candidate signature equals the expected one for any secret (all compared)."""
        matched = False
        for secret in secrets:
            expected = expected_for_secret(secret)
            for candidate in candidates:
                # no short-circuit: the time taken does not depend on which pair matched
                matched |= same(candidate, expected)
        return matched


class SlackV0(VerificationScheme):
    """Slack request signing: v0=hex(HMAC-SHA256(secret, "v0:{timestamp}:{raw body}")), ±5 min."""

    headers = {
        "X-Slack-Signature": "Slack: v0=<hex HMAC-SHA256 of v0:timestamp:body>",
        "X-Slack-Request-Timestamp": "Slack: Unix seconds (±300 s)",
    }
    default_tolerance = 300

    def verify(self, request, secrets, *, tolerance=None):
        signature = _need(request, "X-Slack-Signature")
        stamp = _check_timestamp(
            request.header("X-Slack-Request-Timestamp"),
            request.received_at,
            tolerance or self.default_tolerance,
            "X-Slack-Request-Timestamp",
        )
        base = b"v0:%d:%s" % (stamp, request.body)
        if not self._any_matches([signature], lambda s: "v0=" + hmac_digest(s, base).hex(), secrets):
            raise Rejected(RejectReason.BAD_SIGNATURE, "X-Slack-Signature does not match")


class PagerDutyV3(VerificationScheme):
    """PagerDuty webhooks v3: any of the comma-separated v1=<hex HMAC-SHA256(secret, body)> matches.

    Several values arrive during secret rotation; unknown versions are ignored."""

    headers = {"X-PagerDuty-Signature": "PagerDuty v3: v1=<hex>[,v1=<hex>]"}

    def verify(self, request, secrets, *, tolerance=None):
        header = _need(request, "X-PagerDuty-Signature")
        candidates = [part.strip(OWS) for part in header.split(",") if part.strip(OWS).startswith("v1=")]
        if not candidates:
            raise Rejected(RejectReason.MISSING_SIGNATURE, "X-PagerDuty-Signature has no v1 signature")
        if not self._any_matches(candidates, lambda s: "v1=" + hmac_digest(s, request.body).hex(), secrets):
            raise Rejected(RejectReason.BAD_SIGNATURE, "no X-PagerDuty-Signature v1 value matches")


class TwilioSignature(VerificationScheme):
    """Twilio: base64(HMAC-SHA1(auth token, URL + each sorted form "name"+"value")).

    The URL is the public one, query string included. JSON bodies are not signed directly: Twilio
    adds bodySHA256=<hex> to the query, signs the URL alone, and we check the body hash too. The
    official validator accepts the URL with or without the default port; so do we. "Webhook Rules"
    may switch the MAC to HMAC-SHA256 (announced by X-Twilio-Webhooks-Signature-Settings)."""

    headers = {"X-Twilio-Signature": "Twilio: base64 HMAC-SHA1 of URL + sorted params"}
    ALGORITHMS = {"HMAC_SHA1": "sha1", "HMAC_SHA256": "sha256"}

    def verify(self, request, secrets, *, tolerance=None):
        signature = _need(request, "X-Twilio-Signature")
        algorithm = self._algorithm(request)
        if "bodySHA256" in request.query:
            if not same(hashlib.sha256(request.body).hexdigest(), request.query["bodySHA256"].lower()):
                raise Rejected(RejectReason.BAD_SIGNATURE, "bodySHA256 does not match the body")
            params = ""
        elif request.body:
            params = "".join(name + value for name, value in sorted(_signed_form_pairs(request, "X-Twilio-Signature")))
        else:
            params = ""
        urls = _url_port_variants(request.public_url)
        candidates = [url + params for url in urls]
        matched = False
        for secret in secrets:
            for content in candidates:
                matched |= same(signature, b64(hmac_digest(secret, content, algorithm)))
        if not matched:
            raise Rejected(RejectReason.BAD_SIGNATURE, "X-Twilio-Signature does not match")

    def _algorithm(self, request) -> str:
        settings_header = request.header("X-Twilio-Webhooks-Signature-Settings") or ""
        options = dict(part.strip().partition("=")[::2] for part in settings_header.split(",") if "=" in part)
        name = options.get("algorithm", "HMAC_SHA1").strip().upper()
        if name not in self.ALGORITHMS:
            raise Rejected(RejectReason.BAD_SIGNATURE, "unknown Twilio signature algorithm")
        return self.ALGORITHMS[name]


def _url_port_variants(url: str) -> list[str]:
    """The URL as given, plus the same URL with the default port added or removed."""
    parts = urlsplit(url)
    default = {"https": 443, "http": 80}.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    if parts.port is None and default:
        other = parts._replace(netloc=f"{_userinfo(parts)}{host}:{default}")
    elif parts.port == default:
        other = parts._replace(netloc=f"{_userinfo(parts)}{host}")
    else:
        return [url]
    return [url, urlunsplit(other)]


def _userinfo(parts) -> str:
    if parts.username is None:
        return ""
    return parts.username + (f":{parts.password}" if parts.password is not None else "") + "@"


class _Base64BodyHmac(VerificationScheme):
    """base64(HMAC-SHA256(secret as UTF-8, raw body)) in one header."""

    header = ""

    def verify(self, request, secrets, *, tolerance=None):
        signature = _need(request, self.header)
        if not self._any_matches([signature], lambda s: b64(hmac_digest(s, request.body)), secrets):
            raise Rejected(RejectReason.BAD_SIGNATURE, f"{self.header} does not match")


class XeroSignature(_Base64BodyHmac):
    """Xero: x-xero-signature = base64(HMAC-SHA256(webhook key, body)). Also answers the
    Intent-to-Receive handshake: 200 for a good signature, 401 for a bad one."""

    header = "x-xero-signature"
    headers = {header: "Xero: base64 HMAC-SHA256 of the body"}


class IntuitSignature(_Base64BodyHmac):
    """QuickBooks Online: intuit-signature = base64(HMAC-SHA256(verifier token, body))."""

    header = "intuit-signature"
    headers = {header: "QuickBooks: base64 HMAC-SHA256 of the body"}


class FreshBooksSignature(VerificationScheme):
    """FreshBooks: X-FreshBooks-Hmac-SHA256 = base64(HMAC-SHA256(verifier, json.dumps(fields))).

    Not the raw body: the form fields, as strings, in received order, serialised with Python's
    default json.dumps separators. The verifier is the code FreshBooks POSTed when the callback
    was registered (see providers/freshbooks.py for that handshake)."""

    headers = {"X-FreshBooks-Hmac-SHA256": "FreshBooks: base64 HMAC-SHA256 of the form fields as JSON"}

    header = "X-FreshBooks-Hmac-SHA256"

    @classmethod
    def signed_message(cls, request: InboundRequest) -> str:
        return json.dumps(dict(unique_form_pairs(request, cls.header)))

    def verify(self, request, secrets, *, tolerance=None):
        signature = _need(request, "X-FreshBooks-Hmac-SHA256")
        message = self.signed_message(request)
        if not self._any_matches([signature], lambda s: b64(hmac_digest(s, message)), secrets):
            raise Rejected(RejectReason.BAD_SIGNATURE, "X-FreshBooks-Hmac-SHA256 does not match")


class StandardWebhooks(VerificationScheme):
    """Standard Webhooks v1: "v1,<b64 HMAC-SHA256(whsec key, '{id}.{ts}.{body}')>" among the
    space-separated webhook-signature values; webhook-timestamp within ±5 minutes."""

    headers = {
        "webhook-id": "Standard Webhooks: message id (dedupe key)",
        "webhook-timestamp": "Standard Webhooks: Unix seconds (±300 s)",
        "webhook-signature": "Standard Webhooks: v1,<base64> [v1,<base64> …]",
    }
    default_tolerance = 300

    def verify(self, request, secrets, *, tolerance=None):
        msg_id = _need(request, "webhook-id")
        signature_header = _need(request, "webhook-signature")
        stamp = _check_timestamp(
            request.header("webhook-timestamp"),
            request.received_at,
            tolerance or self.default_tolerance,
            "webhook-timestamp",
        )
        if "." in msg_id:
            raise Rejected(RejectReason.BAD_SIGNATURE, "webhook-id must not contain '.'")
        candidates = [part for part in signature_header.split(" ") if part.startswith("v1,")]
        if not candidates:
            raise Rejected(RejectReason.MISSING_SIGNATURE, "webhook-signature has no v1 signature")
        signed = b"%s.%d.%s" % (msg_id.encode(), stamp, request.body)
        keys = []
        for secret in secrets:
            try:
                keys.append(whsec_key(secret))
            except InvalidSecret:
                continue  # validated on save; an unusable stored secret simply matches nothing
        if not self._any_matches(candidates, lambda key: "v1," + b64(hmac_digest(key, signed)), keys):
            raise Rejected(RejectReason.BAD_SIGNATURE, "no webhook-signature v1 value matches")


class SharedSecretHeader(VerificationScheme):
    """For senders that can only attach a fixed header (Datadog and New Relic webhooks): the
    secret itself arrives as "Authorization: Bearer <secret>" or in a configured header. Weaker
    than a MAC (no body integrity, no replay window): TLS protects it in transit, dedupe stops
    replays of one delivery. Prefer StandardWebhooks where the sender (or a relay) can sign."""

    headers = {"Authorization": "Datadog, New Relic: Bearer <shared secret> (or in a header the source names)"}

    def __init__(self, header: str = "Authorization"):
        self.header = header

    def verify(self, request, secrets, *, tolerance=None):
        supplied = _need(request, self.header)
        if self.header.lower() == "authorization":
            scheme, _, token = supplied.partition(" ")
            if scheme.lower() != "bearer" or not token:
                raise Rejected(RejectReason.MISSING_SIGNATURE, "Authorization must be 'Bearer <secret>'")
            supplied = token.strip(OWS)
        if not self._any_matches([supplied], lambda s: s, secrets):
            raise Rejected(RejectReason.BAD_SIGNATURE, f"{self.header} does not match")


class UrlToken(VerificationScheme):
    """For senders with no signature at all (Tave REST hooks): the subscription URL carries an
    unguessable per-organisation token (?token=…). The body is then only a hint: handlers act on
    "something changed" and re-read the vendor's API, never on the body's content."""

    headers: dict[str, str] = {}  # the token is a query parameter

    def verify(self, request, secrets, *, tolerance=None):
        token = request.query.get("token")
        if not token:
            raise Rejected(RejectReason.MISSING_SIGNATURE, "the token query parameter is missing")
        if not self._any_matches([token], lambda s: s, secrets):
            raise Rejected(RejectReason.BAD_SIGNATURE, "the token does not match")
