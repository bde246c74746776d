"""The one HTTP path to every vendor.

A VendorClient wraps a pooled requests.Session with explicit timeouts, the circuit breaker,
the SSRF guard (for URLs a tenant or staff member supplied) and one classification of failures:

    timeout, connection error, 408, 429, 5xx  -> RetryableError (429/503: Retry-After honoured)
    413                                       -> PayloadTooLarge (split and resend)
    401, 403                                  -> PermanentError(stops_config=True)
    any other 4xx                             -> PermanentError

Every call is logged with the correlation id, the vendor, method, host+path, status and
duration — never headers or bodies, and error text is scrubbed of the tenant's secret values —
and counted in /metrics (wedsync_vendor_calls_total by family, provider and status class or error).
"""

from __future__ import annotations

import datetime
import email.utils
import http.cookiejar
import logging
import math
import threading
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from wedsync_integrations.core.metrics import VENDOR_CALLS

from . import ratelimit
from .breaker import CircuitBreaker
from .errors import CircuitOpenError, PayloadTooLarge, PermanentError, RetryableError
from .secrets import redact, redaction_margin
from .ssrf import GuardedSession

logger = logging.getLogger("wedsync.http")

USER_AGENT = "WedSync-Integrations/1.0"
# Every 5xx is the vendor's trouble, not the request's (507, and a CDN's 520-530, included):
# every vendor's documented retry advice (docs/vendors/) retries them all, so none may turn an item dead.
RETRYABLE_STATUSES = frozenset({408, 425, 429, *range(500, 600)})
AUTH_STATUSES = frozenset({401, 403})
MAX_RETRY_AFTER_SECONDS = 24 * 3600.0
# how long a tenant's scope is blocked after a 429 that names no Retry-After
DEFAULT_429_BLOCK_SECONDS = 10.0
BODY_KEPT = 2000  # characters of a vendor's error body kept with the error (IntegrationError keeps as many)

_sessions: dict[tuple[str, bool], requests.Session] = {}
_sessions_lock = threading.Lock()


class _RefuseAllCookies(http.cookiejar.DefaultCookiePolicy):
    def set_ok(self, cookie, request):
        return False

    def return_ok(self, cookie, request):
        return False


_NO_COOKIES = _RefuseAllCookies()


def pooled_session(key: str, *, guarded: bool) -> requests.Session:
    """One pooled Session per (vendor, guarded) per process: connections are reused across calls."""
    with _sessions_lock:
        session = _sessions.get((key, guarded))
        if session is None:
            session = GuardedSession() if guarded else requests.Session()
            # One session serves every tenant of a vendor: a cookie one tenant's call received
            # (a login or load-balancer session) must never ride along on another tenant's call.
            session.cookies.set_policy(_NO_COOKIES)
            adapter = HTTPAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            session.headers["User-Agent"] = USER_AGENT
            _sessions[(key, guarded)] = session
        return session


def parse_retry_after(response: requests.Response) -> float | None:
    """Seconds to wait, from Retry-After (seconds or HTTP date) or Datadog's X-RateLimit-Reset."""
    for header in ("Retry-After", "X-RateLimit-Reset"):
        value = response.headers.get(header)
        if not value:
            continue
        value = value.strip()
        try:
            seconds = float(value)
        except ValueError:
            seconds = _seconds_until_http_date(value)
        if seconds is not None and math.isfinite(seconds):
            # A vendor asking for days (or a garbled header) must not push the item past any
            # sensible horizon, nor overflow the datetime arithmetic that schedules the retry.
            return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)
    return None


def _seconds_until_http_date(value: str) -> float | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:  # HTTP dates are GMT; "-0000" parses as naive
        when = when.replace(tzinfo=datetime.UTC)
    return when.timestamp() - time.time()


def json_object(response: requests.Response) -> dict:
    """A vendor's JSON object reply, or {} when it sent anything else (empty, HTML, a list)."""
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@dataclass
class VendorClient:
    """A vendor's HTTP client for one (family, organisation, provider).

    base_url: the vendor's documented host, or the tenant's override. Set `guarded=True`
    whenever any part of the URL came from configuration rather than from our code.
    """

    family: str
    provider: str
    base_url: str
    organisation_id: int | None = None
    guarded: bool = True
    secrets: Iterable[str] = ()
    default_headers: dict[str, str] = field(default_factory=dict)
    connect_timeout: float | None = None
    read_timeout: float | None = None
    use_breaker: bool = True
    # a CredentialManager (credentials.py) when the vendor issued the token: it is put on every
    # request, and a 401 renews it once and retries the request once
    credentials: Any = None
    # the vendor's limits on this tenant (and app), shared by every process (ratelimit.py): each
    # send waits for its turn, and a 429 blocks the first scope (the tenant's) for its Retry-After
    rate_limits: tuple[ratelimit.RateLimit, ...] = ()

    def __post_init__(self):
        self.session = pooled_session(f"{self.family}:{self.provider}", guarded=self.guarded)
        self.breaker = CircuitBreaker(self.family, self.organisation_id, self.provider)
        self._hidden = list(self.secrets)

    @property
    def timeout(self) -> tuple[float, float]:
        return (
            self.connect_timeout or settings.OUTBOUND_CONNECT_TIMEOUT,
            self.read_timeout or settings.OUTBOUND_READ_TIMEOUT,
        )

    def url(self, path: str) -> str:
        if path.startswith(("https://", "http://")):
            return path
        if not path:  # the base URL is the endpoint itself (a Slack webhook URL): no trailing slash
            return self.base_url
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def request(
        self, method: str, path: str, *, accept_statuses: Collection[int] = (), **kwargs
    ) -> requests.Response:
        """Send one request and return the 2xx response (or one whose status is in
        `accept_statuses`), or raise a classified IntegrationError."""
        url = self.url(path)
        where = self._where(url)
        if self.use_breaker and not self.breaker.allow_request():
            raise CircuitOpenError(
                f"{self.provider}: circuit open after repeated failures; next try in "
                f"{self.breaker.seconds_until_retry():.0f}s",
                retry_after=self.breaker.seconds_until_retry(),
            )
        headers = {**self.default_headers, **(kwargs.pop("headers", None) or {})}
        kwargs.setdefault("allow_redirects", False)
        if self.credentials is None:
            response = self._send(method, url, where, headers, kwargs)
        else:
            response = self._send_with_credential(method, url, where, headers, kwargs)
        if response.status_code in accept_statuses:
            self._succeeded()
            return response
        return self._classify(response, where)

    def _send_with_credential(self, method, url, where, headers, kwargs) -> requests.Response:
        """Send with the current token; on a 401 renew it once and send once more (a second
        401 is classified like any refused credential: the configuration stops)."""
        token = self.credentials.current()
        self._hidden.extend([token.access_token, token.refresh_token])
        response = self._send(method, url, where, {**headers, **self.credentials.scheme.headers(token)}, kwargs)
        if response.status_code != 401:
            return response
        logger.info("vendor.token_refused provider=%s org=%s: renewing once", self.provider, self.organisation_id)
        token = self.credentials.renew(rejected=token.access_token)
        self._hidden.extend([token.access_token, token.refresh_token])
        return self._send(method, url, where, {**headers, **self.credentials.scheme.headers(token)}, kwargs)

    def _send(self, method: str, url: str, where: str, headers: dict, kwargs: dict) -> requests.Response:
        lease = ratelimit.acquire(self.rate_limits, lease_seconds=sum(self.timeout) + 5) if self.rate_limits else None
        try:
            return self._send_now(method, url, where, headers, kwargs)
        finally:
            if lease is not None:
                lease.release()

    def _send_now(self, method: str, url: str, where: str, headers: dict, kwargs: dict) -> requests.Response:
        started = time.monotonic()
        try:
            response = self.session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
        except requests.Timeout as exc:
            self._failed()
            self._log(method, where, None, started, "timeout")
            raise RetryableError(f"{self.provider}: request timed out ({where})") from exc
        except requests.ConnectionError as exc:
            self._failed()
            self._log(method, where, None, started, "connection error")
            raise RetryableError(f"{self.provider}: connection failed ({where})") from exc
        except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
            # the connection broke or garbled mid-response: the same request may well succeed
            self._failed()
            self._log(method, where, None, started, type(exc).__name__)
            raise RetryableError(f"{self.provider}: response broken off ({where})") from exc
        except requests.RequestException as exc:
            # Invalid URL or header, too many redirects...: sending it again cannot help. Only the
            # exception's type is shown: its text can quote the full URL, credentials included.
            self._log(method, where, None, started, type(exc).__name__)
            raise PermanentError(f"{self.provider}: request failed: {type(exc).__name__} ({where})") from exc
        self._log(method, where, response.status_code, started)
        return response

    # -- internals ---------------------------------------------------------------------------
    def _classify(self, response: requests.Response, where: str) -> requests.Response:
        status = response.status_code
        if 200 <= status < 300:
            self._succeeded()
            return response
        # Redact before cutting to the kept length: a secret straddling the cut would no longer
        # match and its first part would be stored (last_error, sync log, Delivery.response).
        body = redact(response.text[: BODY_KEPT + redaction_margin(self._hidden)], self._hidden)[:BODY_KEPT]
        summary = f"{self.provider}: HTTP {status} from {where}"
        if body.strip():
            summary += f": {body.strip()[:300]}"
        if status in RETRYABLE_STATUSES:
            self._failed()
            retry_after = parse_retry_after(response)
            if status == 429 and self.rate_limits:
                ratelimit.block(self.rate_limits[0], retry_after or DEFAULT_429_BLOCK_SECONDS)
            raise RetryableError(summary, status=status, retry_after=retry_after, response_body=body)
        # The vendor answered: it is reachable, so the circuit stays closed.
        self._succeeded()
        if status == 413:
            raise PayloadTooLarge(summary, status=status, response_body=body)
        if status in AUTH_STATUSES:
            raise PermanentError(summary, status=status, stops_config=True, response_body=body)
        if 300 <= status < 400:
            raise PermanentError(f"{summary} (redirects are not followed)", status=status, response_body=body)
        raise PermanentError(summary, status=status, response_body=body)

    def _succeeded(self):
        if self.use_breaker:
            self.breaker.record_success()

    def _failed(self):
        if self.use_breaker:
            self.breaker.record_failure()

    def _where(self, url: str) -> str:
        parts = urlsplit(url)
        # Host and path only: query strings can carry credentials. A path can be one too (Slack
        # webhook URLs), so secrets are redacted before truncating: a truncated secret would no
        # longer match and half of it would be shown.
        path = redact(parts.path, self._hidden)
        path = path if len(path) <= 40 else path[:40] + "…"
        return f"{parts.hostname}{path}"

    def _log(self, method: str, where: str, status: int | None, started: float, error: str = "") -> None:
        outcome = f"{status // 100}xx" if status is not None else error.replace(" ", "_")
        VENDOR_CALLS.labels(self.family, self.provider, outcome).inc()
        logger.info(
            "vendor.call family=%s provider=%s org=%s %s %s status=%s ms=%.0f%s",
            self.family,
            self.provider,
            self.organisation_id,
            method,
            redact(where, self._hidden),
            status if status is not None else "-",
            (time.monotonic() - started) * 1000,
            f" error={error}" if error else "",
        )
