"""HMAC signing primitives shared by inbound verification (webhooks) and outbound signing (alerts).

One place computes vendor MACs so that every family encodes keys and digests the same way and
every comparison is constant-time:

    mac = hmac_digest("secret", body)                        # HMAC-SHA256 bytes
    same(candidate_header, base64.b64encode(mac).decode())   # constant-time, never raises

Standard Webhooks (https://www.standardwebhooks.com/, used by our outbound webhooks and by the
inbound `generic` source): the signed content is "{id}.{timestamp}.{body}", the key is the
base64-decoded part of a `whsec_…` secret, the signature is "v1,<standard base64>".
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

WHSEC_PREFIX = "whsec_"


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def hmac_digest(key: str | bytes, message: str | bytes, algorithm: str = "sha256") -> bytes:
    """HMAC of `message` under `key` (a str key is used as its UTF-8 bytes, as most vendors do)."""
    return hmac.new(_bytes(key), _bytes(message), getattr(hashlib, algorithm)).digest()


def same(a: str | bytes | None, b: str | bytes | None) -> bool:
    """Constant-time equality that never raises on odd input (non-ASCII, None, mixed types)."""
    if a is None or b is None:
        return False
    return hmac.compare_digest(_bytes(a), _bytes(b))


def b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode("ascii")


# -- Standard Webhooks ------------------------------------------------------------------------
class InvalidSecret(ValueError):
    """The secret is not a usable Standard Webhooks secret (the message never echoes it)."""


def whsec_key(secret: str) -> bytes:
    """The HMAC key of a Standard Webhooks secret: base64-decode what follows `whsec_`."""
    encoded = secret.removeprefix(WHSEC_PREFIX)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidSecret("not a whsec_ secret: the part after 'whsec_' must be standard base64")
    if not key:
        raise InvalidSecret("not a whsec_ secret: the key is empty")
    return key


def standard_webhooks_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value ("v1,<base64>") for one secret."""
    signed = b"%s.%d.%s" % (_bytes(msg_id), int(timestamp), _bytes(body))
    return "v1," + b64(hmac_digest(whsec_key(secret), signed))


def standard_webhooks_headers(secrets: str | list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers; several secrets give one signature each (rotation)."""
    secrets = [secrets] if isinstance(secrets, str) else secrets
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": " ".join(standard_webhooks_signature(s, msg_id, timestamp, body) for s in secrets),
    }
