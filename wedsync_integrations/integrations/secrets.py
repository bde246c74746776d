"""Secrets at rest: a JSON object encrypted with MultiFernet, and a mapping that never prints itself.

- FIELD_ENCRYPTION_KEYS (environment) lists Fernet keys; the first encrypts, every one decrypts,
  so a new key is introduced by putting it first and running `manage.py rotate_secrets`.
- In Python the decrypted value is a SecretBag: a dict whose repr/str show only the key names,
  so a secret that slips into a log line, an exception or a template shows as '***'.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

MASK = "***"


class SecretBag(dict):
    """A dict of secrets whose printable forms never include a value."""

    def __repr__(self) -> str:
        return "SecretBag(" + ", ".join(f"{key}={MASK}" for key in sorted(self)) + ")"

    __str__ = __repr__

    def redacted(self) -> dict:
        """The shape for exports and audit entries: keys kept, values masked. An empty value (an
        optional secret cleared with "") stays empty: it hides nothing, and exporting it as "***"
        ("keep the stored value") would make the export refused when applied back."""
        return {key: self[key] if self[key] in (None, "") else MASK for key in sorted(self)}

    def values_to_hide(self) -> list[str]:
        """Every string that must never be shown: each value, and for URL-valued secrets
        (Slack webhook URLs) the path too, which is where their credential lives."""
        hidden = []
        for value in self.values():
            if value in (None, ""):
                continue
            text = str(value)
            hidden.append(text)
            if text.startswith(("https://", "http://")):
                path = urlsplit(text).path
                if len(path) > 1:
                    hidden.append(path)
        return hidden


@lru_cache(maxsize=4)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty")
    try:
        return MultiFernet([Fernet(key.strip().encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS holds a value that is not a Fernet key") from exc


def fernet() -> MultiFernet:
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt_json(value: dict) -> str:
    return fernet().encrypt(json.dumps(value, sort_keys=True).encode()).decode()


def decrypt_json(token: str) -> SecretBag:
    try:
        return SecretBag(json.loads(fernet().decrypt(token.encode())))
    except InvalidToken as exc:
        # Never echo the ciphertext or anything derived from it.
        raise ImproperlyConfigured(
            "a stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS (was a key removed?)"
        ) from exc


def rotate_token(token: str) -> str:
    """Re-encrypt a stored token under the first (newest) key."""
    return fernet().rotate(token.encode()).decode()


class EncryptedJSONField(models.TextField):
    """A JSON object of secrets, Fernet-encrypted in the database, a SecretBag in Python."""

    description = "Encrypted JSON object"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", dict)
        kwargs.setdefault("blank", True)
        kwargs.setdefault("editable", False)  # admin edits go through write-only form fields
        super().__init__(*args, **kwargs)

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return SecretBag()
        return decrypt_json(value)

    def to_python(self, value):
        if isinstance(value, SecretBag):
            return value
        if value in (None, ""):
            return SecretBag()
        if isinstance(value, dict):
            return SecretBag(value)
        return decrypt_json(value)

    def get_prep_value(self, value):
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise TypeError("EncryptedJSONField holds a dict of secrets")
        return encrypt_json(dict(value))

    def value_to_string(self, obj):
        # dumpdata/serialisation gets the ciphertext, never the plaintext
        return self.get_prep_value(self.value_from_object(obj))


_MIN_SECRET_LENGTH_TO_REDACT = 4
# The longest spelling of one character that redact() recognises: a 4-byte UTF-8 character
# percent-encoded (%F0%9F%8E%89) or as a JSON surrogate pair (\ud83c\udf89), 12 characters.
LONGEST_CHARACTER_FORM = 12


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of any secret value in `text` with '***'.

    Used on vendor error bodies and exception messages before they are logged or stored:
    some vendors echo the key they rejected, and not always as we sent it. So each character of
    a secret matches in any case and in any of the forms an encoder may give it: as is,
    percent-encoded (%2F or %2f), as a JSON \\u escape, or backslash-escaped ("\\/" from an
    encoder that escapes slashes) — whatever mix of them a vendor's echo holds.
    """
    hidden = tuple(sorted({s for s in secrets if s and len(s) >= _MIN_SECRET_LENGTH_TO_REDACT}, key=len, reverse=True))
    if not hidden or not text:
        return text
    return _any_form_of(hidden).sub(MASK, text)


def redaction_margin(secrets: Iterable[str]) -> int:
    """How far past a cut redact() may need to read to see a whole secret in its longest form
    (redact first, then cut: a secret straddling the cut would otherwise leave its first part)."""
    return max((len(secret) for secret in secrets), default=0) * LONGEST_CHARACTER_FORM


@lru_cache(maxsize=256)
def _any_form_of(secrets: tuple[str, ...]) -> re.Pattern:
    # longest first: where one secret contains another, the longer one is hidden whole
    return re.compile("|".join("".join(_character_forms(char) for char in secret) for secret in secrets), re.IGNORECASE)


@lru_cache(maxsize=1024)
def _character_forms(char: str) -> str:
    """A pattern matching `char` as is, percent-encoded, as a JSON \\u escape, or escaped with a
    backslash (JSON's \\/, \\" and \\\\); IGNORECASE covers its case and the escapes' hex digits."""
    utf8 = char.encode("utf-8")
    utf16 = char.encode("utf-16-be")
    forms = {
        char,
        "".join(f"%{byte:02x}" for byte in utf8),
        "".join(f"\\u{utf16[i]:02x}{utf16[i + 1]:02x}" for i in range(0, len(utf16), 2)),
    }
    if char in '/\\"':
        forms.add("\\" + char)
    if char == " ":
        forms.add("+")  # a form-encoded space
    return "(?:" + "|".join(re.escape(form) for form in sorted(forms, key=len, reverse=True)) + ")"
