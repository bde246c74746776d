"""Usage-ingest tokens: one active bearer token per organisation, stored only as a SHA-256 hash.

A token is shown once, when issued; afterwards only its prefix is kept in clear so staff can
tell which token a client holds. Issuing a new token revokes the previous one in the same
transaction, so an organisation never has two active tokens and a rotation is atomic.
"""

from __future__ import annotations

import hashlib
import logging
import secrets

from django.db import transaction
from django.utils import timezone

from wedsync_integrations.tenants.models import Organisation

from .models import UsageToken

logger = logging.getLogger("wedsync.usage.tokens")

TOKEN_PREFIX = "wsu_"
PREFIX_LENGTH = 12  # "wsu_" + 8 random characters: enough to recognise, useless to guess with
MAX_TOKEN_LENGTH = 256


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(organisation: Organisation, *, created_by: str) -> str:
    """Create a new active token for `organisation`, revoke any previous one, return the raw token.

    The caller must show the returned value to its user once and never store or log it.
    """
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        # Locking the organisation serialises concurrent rotations, which would otherwise both
        # revoke nothing and then collide on the one-active-token constraint.
        Organisation.objects.select_for_update().filter(pk=organisation.pk).first()
        revoked = UsageToken.objects.filter(organisation=organisation, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        token = UsageToken.objects.create(
            organisation=organisation,
            token_hash=hash_token(raw),
            prefix=raw[:PREFIX_LENGTH],
            created_by=created_by[:150],
        )
    logger.warning(
        "usage_token.issued org=%s prefix=%s by=%s revoked_previous=%d",
        organisation.slug,
        token.prefix,
        created_by,
        revoked,
    )
    return raw


def revoke_tokens(organisation: Organisation, *, revoked_by: str) -> int:
    """Revoke the organisation's active token (if any) without issuing a new one."""
    revoked = UsageToken.objects.filter(organisation=organisation, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    logger.warning("usage_token.revoked org=%s by=%s count=%d", organisation.slug, revoked_by, revoked)
    return revoked


def organisation_for_token(raw: str) -> Organisation | None:
    """The organisation an active token belongs to, or None for a missing/unknown/revoked token.

    The lookup is by hash, so the comparison an attacker could time is between hashes of their
    own guesses, which tells them nothing about a real token.
    """
    if not raw or len(raw) > MAX_TOKEN_LENGTH:
        return None
    token = (
        UsageToken.objects.select_related("organisation")
        .filter(token_hash=hash_token(raw), revoked_at__isnull=True)
        .first()
    )
    return token.organisation if token is not None else None
