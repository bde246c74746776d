"""The inbound request pipeline:

    body size (413; a chunked body the server cannot end: 411) → source and organisation (404)
    → signature and timestamp (401, logged as a rejected attempt; past the client address's
      forgery budget 429, not logged) → rate limit of the source and organisation (429)
    → parse (400, logged) → dedupe + store → publish for processing → the vendor's 2xx

Signatures are checked before the tenant's rate limit so that forged requests never spend it:
verification is a cheap HMAC, and forgeries have a budget of their own (see ratelimit.py).
The raw body is read once, before anything parses it, and every scheme verifies those bytes.
An unknown source, an unknown organisation and a source the organisation has not configured all
get the same 404, so the endpoint does not reveal which one was wrong.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import time
from dataclasses import dataclass
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse

from wedsync_integrations.integrations import audit
from wedsync_integrations.integrations.secrets import SecretBag

from . import inbox, metrics, ratelimit
from .family import FAMILY
from .models import RejectedAttempt, RejectReason, WebhookConfig
from .providers.base import InboundSource, Parsed
from .verification import EnvironHeaders, InboundRequest, Malformed, Rejected

logger = logging.getLogger("wedsync.webhooks")

# Vendor headers worth keeping with an event (delivery ids, retry counters); never credentials.
KEPT_HEADERS = (
    "User-Agent",
    "X-Webhook-Id",
    "X-Slack-Retry-Num",
    "X-Slack-Retry-Reason",
    "I-Twilio-Idempotency-Token",
    "webhook-id",
    "webhook-timestamp",
)


@dataclass
class Target:
    """Who a request is for: the organisation (None at a global path) and its source config."""

    organisation: object | None
    config: WebhookConfig | None
    secrets: list[str]
    settings: dict


def source_class(source: str) -> type[InboundSource] | None:
    cls = FAMILY.providers.get(source)
    return cls if isinstance(cls, type) and issubclass(cls, InboundSource) else None


def receive(request: HttpRequest, source: str, org_slug: str | None = None) -> HttpResponse:
    source_cls = source_class(source)
    if source_cls is None or (org_slug is None and not source_cls.global_path):
        return _not_found(source)
    if _declared_length(request) > settings.WEBHOOK_MAX_BODY_BYTES:
        return _too_large(source)
    target = _resolve(source_cls, org_slug)
    if target is None:
        return _not_found(source)
    try:
        body = _read_body(request)
    except BodyTooLarge:
        return _too_large(source)
    except LengthRequired:
        return _length_required(source)

    inbound = InboundRequest(
        body=body,
        headers=EnvironHeaders(request.META),
        public_url=public_url(request),
        query={key: request.GET.get(key) for key in request.GET},
        content_type=request.META.get("CONTENT_TYPE", ""),
        received_at=time.time(),
    )
    client_ip = client_address(request)
    try:
        source_cls.authenticate(inbound, target.secrets, target.settings)
    except Rejected as exc:
        return _refuse_forgery(source, target, exc, client_ip, request, body)
    throttled = _throttle(source, target)
    if throttled is not None:
        return throttled
    try:
        parsed = source_cls.parse(inbound, target.settings)
        _refuse_unstorable(parsed, body)
    except Rejected as exc:  # verified, but refused on what it says (an unexpected handshake)
        return _refuse_unauthorised(source, target, exc, client_ip, request, body)
    except Malformed as exc:
        _record_rejection(source, target, RejectReason.MALFORMED, str(exc), client_ip, request, body)
        metrics.REQUESTS.labels(source, "malformed").inc()
        return JsonResponse({"error": "malformed", "detail": str(exc)}, status=400)
    return _accept(source_cls, target, parsed, request, client_ip, body)


def _refuse_forgery(source: str, target: Target, exc: Rejected, client_ip, request, body: bytes) -> HttpResponse:
    """A request that failed verification spends its client address's forgery budget, never the
    tenant's. Within the budget it is recorded and answered 401; past it, a 429 costs nothing more."""
    decision = ratelimit.hit_forged(client_ip)
    if not decision.allowed:
        metrics.REQUESTS.labels(source, "forged_throttled").inc()
        return _too_many(f"more than {decision.limit} unverified requests this minute", decision)
    return _refuse_unauthorised(source, target, exc, client_ip, request, body)


def _refuse_unauthorised(source: str, target: Target, exc: Rejected, client_ip, request, body: bytes) -> HttpResponse:
    _record_rejection(source, target, exc.reason, exc.detail, client_ip, request, body)
    metrics.REQUESTS.labels(source, "rejected").inc()
    return JsonResponse({"error": "unauthorised", "detail": exc.detail}, status=401)


def _throttle(source: str, target: Target) -> HttpResponse | None:
    organisation_id = target.organisation.pk if target.organisation is not None else None
    decision = ratelimit.hit(source, organisation_id, ratelimit.limit_for(target.settings))
    if decision.allowed:
        return None
    metrics.REQUESTS.labels(source, "throttled").inc()
    return _too_many(f"more than {decision.limit} requests this minute", decision)


def _too_many(detail: str, decision: ratelimit.Decision) -> HttpResponse:
    response = JsonResponse({"error": "rate_limited", "detail": detail}, status=429)
    response["Retry-After"] = str(decision.retry_after)
    return response


class BodyTooLarge(Exception):
    """Over WEBHOOK_MAX_BODY_BYTES (413)."""


class LengthRequired(Exception):
    """A chunked body this server cannot tell the end of (411)."""


def _read_body(request: HttpRequest) -> bytes:
    """The raw bytes, read before anything parses them, at most WEBHOOK_MAX_BODY_BYTES."""
    if _is_chunked(request):
        return _read_chunked(request)
    try:
        body = request.body
    except RequestDataTooBig:
        raise BodyTooLarge
    if len(body) > settings.WEBHOOK_MAX_BODY_BYTES:
        raise BodyTooLarge
    return body


def _is_chunked(request: HttpRequest) -> bool:
    return "CONTENT_LENGTH" not in request.META and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()


def _read_chunked(request: HttpRequest) -> bytes:
    """Django reads a body without Content-Length as empty (its stream stops at the declared
    length, 0), so a genuine chunked delivery failed its signature and was logged as a forgery.
    A server that de-chunks the body and ends the stream says so with wsgi.input_terminated
    (gunicorn does): read it to its end, one byte past the cap at most. Any other server (the
    development server) cannot be read safely without a length: 411, as the usage API answers."""
    if not request.META.get("wsgi.input_terminated"):
        raise LengthRequired
    limit = settings.WEBHOOK_MAX_BODY_BYTES
    body = request.META["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        raise BodyTooLarge
    return body


def _accept(source_cls, target: Target, parsed: Parsed, request, client_ip, body: bytes) -> HttpResponse:
    """Verified and understood: store (deduplicated), and answer the way the vendor expects."""
    source = source_cls.name
    events = _own_account_only(source_cls, parsed, target, client_ip, request, body)
    if parsed.adopt_secret:
        _adopt_secret(source, target, parsed.adopt_secret)
    stored = inbox.store(source, target.organisation, events, client_ip=client_ip, headers=_kept_headers(request.META))
    all_duplicates = bool(stored) and all(duplicate for _, duplicate in stored)
    metrics.REQUESTS.labels(source, "duplicate" if all_duplicates else "accepted").inc()
    response = parsed.handshake or source_cls.reply(stored)
    if stored:
        response["X-Inbound-Event-Ids"] = ",".join(str(event_id) for event_id, _ in stored)
    return response


# Only these can put text PostgreSQL cannot store (NUL, a lone UTF-16 surrogate) into a parsed
# payload: a JSON escape, a form's %00, the raw byte. Most bodies have none, so most are not walked.
_UNSTORABLE_MARKERS = (b"\\u0000", b"%00", b"\x00", b"\\ud", b"\\uD")


def _refuse_unstorable(parsed: Parsed, body: bytes) -> None:
    """A verified body the inbox could not store is a 400 naming why, not a server error the
    vendor would retry forever (valid JSON may escape either; SQLite would take it, PostgreSQL not)."""
    if not any(marker in body for marker in _UNSTORABLE_MARKERS):
        return
    for event in parsed.events:
        if _holds_unstorable_text([event.event_type, event.external_id, event.payload]):
            raise Malformed(
                "the body holds a NUL character or an unpaired surrogate (\\u0000, \\ud800…), which cannot be stored"
            )


def _holds_unstorable_text(value) -> bool:
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate
            return True
        return False
    if isinstance(value, dict):
        return any(_holds_unstorable_text(key) or _holds_unstorable_text(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_unstorable_text(item) for item in value)
    return False


# -- steps ------------------------------------------------------------------------------------------
def _resolve(source_cls: type[InboundSource], org_slug: str | None) -> Target | None:
    if org_slug is None:
        secrets = source_cls.platform_secrets()
        return Target(None, None, secrets, {}) if secrets else None
    key = (source_cls.name, org_slug)
    now = time.monotonic()
    cached = _targets.get(key)
    if cached is not None and cached[0] > now:
        return cached[1]
    target = _load_target(source_cls, org_slug)
    if len(_targets) >= TARGET_CACHE_MAX:
        _targets.clear()  # bounded: random slugs cannot grow it without limit
    _targets[key] = (now + settings.WEBHOOK_CONFIG_CACHE_SECONDS, target)
    return target


def _load_target(source_cls: type[InboundSource], org_slug: str) -> Target | None:
    config = (
        WebhookConfig.objects.select_related("organisation")
        .filter(provider=source_cls.name, organisation__slug=org_slug, enabled=True, organisation__is_active=True)
        .first()
    )
    if config is None:
        return None
    secrets = source_cls.secrets_from(config)
    if not secrets and source_cls.requires_secret:
        return None
    return Target(config.organisation, config, secrets, dict(config.settings or {}))


# Per-process cache of (source, organisation) → Target, for WEBHOOK_CONFIG_CACHE_SECONDS: it saves
# a query and a decryption per request. A change saved in this process clears it at once; other
# processes see it within the TTL (keep previous_signing_secret during a rotation).
TARGET_CACHE_MAX = 10_000
_targets: dict[tuple[str, str], tuple[float, Target | None]] = {}


def forget_targets(**_kwargs) -> None:
    _targets.clear()


def _own_account_only(source_cls, parsed: Parsed, target: Target, client_ip, request, body) -> list:
    """Drop events for a vendor account this organisation has not claimed (settings.<account>)."""
    expected = target.settings.get(source_cls.account_setting) if source_cls.account_setting else None
    if not expected:
        return parsed.events
    mine = [event for event in parsed.events if not event.account or event.account == str(expected)]
    foreign = len(parsed.events) - len(mine)
    if foreign:
        detail = f"{foreign} event(s) for another {source_cls.account_setting} were ignored"
        _record_rejection(source_cls.name, target, RejectReason.FOREIGN_ACCOUNT, detail, client_ip, request, body)
    return mine


def _adopt_secret(source: str, target: Target, secret: str) -> None:
    """A verification handshake delivered the signing secret (FreshBooks): store it encrypted,
    once. The row is locked so two concurrent handshakes cannot both win."""
    with transaction.atomic():
        config = WebhookConfig.objects.select_for_update().get(pk=target.config.pk)
        if config.secrets.get("signing_secret"):
            return
        config.secrets = SecretBag({**config.secrets, "signing_secret": secret})
        config.settings = {k: v for k, v in (config.settings or {}).items() if k != "pending_callback_id"}
        config.save(update_fields=["secrets", "settings", "updated_at"])
        audit.record(
            FAMILY,
            actor=source,
            action="adopt_signing_secret",
            target=config,
            changes={"secrets": ["signing_secret"]},
            summary=f"{source} verification handshake: signing secret stored for {config.organisation.slug}",
        )


def _record_rejection(source, target: Target, reason, detail, client_ip, request, body: bytes) -> None:
    RejectedAttempt.objects.create(
        source=source,
        organisation=target.organisation,
        reason=reason,
        detail=detail[:500],
        client_ip=client_ip,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        body_bytes=len(body),
        body_sha256=hashlib.sha256(body).hexdigest(),
    )
    logger.warning(
        "webhooks.rejected source=%s org=%s reason=%s ip=%s detail=%s",
        source,
        getattr(target.organisation, "slug", "-"),
        reason,
        client_ip,
        detail,
    )


# -- helpers ------------------------------------------------------------------------------------------
def public_url(request: HttpRequest) -> str:
    """The URL as the vendor called it, from PUBLIC_BASE_URL (the Host header is not trusted)."""
    return settings.PUBLIC_BASE_URL.rstrip("/") + request.get_full_path()


def client_address(request: HttpRequest) -> str | None:
    hops = settings.WEBHOOK_TRUSTED_PROXY_COUNT
    if hops > 0:
        forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
        if len(forwarded) >= hops:
            return _valid_ip(forwarded[-hops])  # supplied by a client: checked
    return _valid_ip(request.META.get("REMOTE_ADDR"))


@lru_cache(maxsize=4096)  # vendors post from a handful of addresses
def _valid_ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def _declared_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


_KEPT_ENVIRON_KEYS = tuple((name, "HTTP_" + name.upper().replace("-", "_")) for name in KEPT_HEADERS)


def _kept_headers(environ) -> dict:
    return {name: environ[key][:200] for name, key in _KEPT_ENVIRON_KEYS if key in environ}


def _not_found(source: str) -> HttpResponse:
    metrics.REQUESTS.labels(source if source_class(source) else "unknown", "not_found").inc()
    return JsonResponse({"error": "not_found", "detail": "no such webhook endpoint"}, status=404)


def _length_required(source: str) -> HttpResponse:
    metrics.REQUESTS.labels(source, "length_required").inc()
    detail = "send a Content-Length header: this server cannot read a chunked request body"
    return JsonResponse({"error": "length_required", "detail": detail}, status=411)


def _too_large(source: str) -> HttpResponse:
    metrics.REQUESTS.labels(source, "too_large").inc()
    return JsonResponse({"error": "payload_too_large", "limit_bytes": settings.WEBHOOK_MAX_BODY_BYTES}, status=413)
