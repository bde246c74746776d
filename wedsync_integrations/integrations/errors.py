"""The kernel's error vocabulary. Every vendor failure becomes exactly one of these.

The split decides what happens next: a RetryableError goes back on the retry queue with
backoff (honouring the vendor's Retry-After), a PermanentError goes straight to "dead", and one
with stops_config (bad credentials, revoked access) also stops the configuration with a clear
status, so a bad key is never retried forever.
"""

from __future__ import annotations


class IntegrationError(Exception):
    """Base class. `message` is safe to show staff and store: never put a secret in it."""

    def __init__(self, message: str, *, status: int | None = None, response_body: str = ""):
        super().__init__(message)
        self.message = message
        self.status = status
        self.response_body = response_body[:2000]
        # Set by a provider that delivered part of a payload before failing (e.g. after splitting
        # on 413): the outbox stores unsent_payload as the item's payload, so a retry sends only
        # what is left and a count metric is never sent twice, and keeps sent_payload (the part
        # that went out) as a succeeded row, so its rows still add up to everything delivered.
        self.unsent_payload = None
        self.sent_payload = None


class RetryableError(IntegrationError):
    """Try again later: timeouts, connection errors, 408, 429, 5xx, an open circuit."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class CircuitOpenError(RetryableError):
    """The circuit for this (organisation, provider) is open: no request was sent."""


class PermanentError(IntegrationError):
    """Retrying the same request cannot succeed (400, 404, other 4xx, a vendor-reported rejection)."""

    def __init__(self, message: str, *, stops_config: bool = False, **kwargs):
        super().__init__(message, **kwargs)
        self.stops_config = stops_config


class PayloadTooLarge(PermanentError):
    """413: the same payload will never fit; the caller splits it and sends the halves."""


class ConfigurationError(PermanentError):
    """The configuration itself is unusable (missing secret, unsafe URL): fix it, then replay."""

    def __init__(self, message: str, **kwargs):
        kwargs.setdefault("stops_config", True)
        super().__init__(message, **kwargs)


class UnsafeURLError(ConfigurationError):
    """An outbound URL failed the SSRF guard."""
