"""Usage tokens: stored only as a hash, one active per organisation, rotation revokes the old one."""

from __future__ import annotations

import hashlib
import io
import logging

import pytest
from django.core.management import CommandError, call_command

from wedsync_integrations.usage.models import UsageToken
from wedsync_integrations.usage.tokens import issue_token, organisation_for_token

pytestmark = pytest.mark.django_db


def test_issued_token_is_stored_only_as_its_sha256_hash(organisation):
    raw = issue_token(organisation, created_by="admin:alice")

    token = UsageToken.objects.get()
    assert raw.startswith("wsu_") and len(raw) >= 40
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.prefix == raw[:12]
    assert token.created_by == "admin:alice"
    assert raw not in str(UsageToken.objects.values().get())  # nowhere in the row
    assert organisation_for_token(raw) == organisation


def test_issuing_again_revokes_the_previous_token(organisation):
    first = issue_token(organisation, created_by="test")
    second = issue_token(organisation, created_by="test")

    assert first != second
    assert organisation_for_token(first) is None
    assert organisation_for_token(second) == organisation
    assert UsageToken.objects.filter(organisation=organisation, revoked_at__isnull=True).count() == 1
    assert UsageToken.objects.filter(organisation=organisation).count() == 2


def test_tokens_of_other_organisations_are_untouched(organisation, make_organisation):
    other = make_organisation()
    theirs = issue_token(other, created_by="test")

    issue_token(organisation, created_by="test")
    issue_token(organisation, created_by="test")

    assert organisation_for_token(theirs) == other


def test_issuing_logs_the_prefix_and_actor_but_not_the_token(organisation, caplog):
    with caplog.at_level(logging.INFO, logger="wedsync.usage"):
        raw = issue_token(organisation, created_by="admin:alice")

    assert f"usage_token.issued org=acme prefix={raw[:12]} by=admin:alice" in caplog.text
    assert raw not in caplog.text


def test_usage_token_command_prints_a_new_token_and_revokes_the_old(organisation):
    old = issue_token(organisation, created_by="test")
    out, err = io.StringIO(), io.StringIO()

    call_command("usage_token", "acme", stdout=out, stderr=err)

    new = out.getvalue().strip()
    assert new.startswith("wsu_") and "\n" not in new  # stdout holds the token alone, for piping
    assert organisation_for_token(new) == organisation
    assert organisation_for_token(old) is None
    assert "shown only this once" in err.getvalue()
    assert UsageToken.objects.get(revoked_at__isnull=True).created_by.startswith("cli:")


def test_usage_token_command_can_revoke_without_issuing(organisation):
    old = issue_token(organisation, created_by="test")
    out, err = io.StringIO(), io.StringIO()

    call_command("usage_token", "acme", "--revoke-only", stdout=out, stderr=err)

    assert out.getvalue() == ""
    assert organisation_for_token(old) is None
    assert not UsageToken.objects.filter(revoked_at__isnull=True).exists()


def test_usage_token_command_rejects_an_unknown_slug(db):
    with pytest.raises(CommandError, match="No organisation with slug 'nobody'"):
        call_command("usage_token", "nobody", stdout=io.StringIO(), stderr=io.StringIO())
