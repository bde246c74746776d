"""Audit entries: append-only, and never holding a secret value."""

from __future__ import annotations

import json

import pytest
from django.core.exceptions import ValidationError

from wedsync_integrations.core.observability import correlation_scope
from wedsync_integrations.integrations import audit

pytestmark = pytest.mark.django_db

API_KEY = "live-api-key-5f1c0ffee"


@pytest.fixture
def config(fake_provider, make_config, organisation):
    return make_config("monitoring", organisation, "fake", secrets={"api_key": API_KEY})


def test_an_entry_records_who_did_what_to_which_row(family, config, django_user_model):
    user = django_user_model.objects.create_user("alice", password="x")
    with correlation_scope("req-77"):
        entry = audit.record(
            family,
            actor=audit.actor_for_user(user),
            user=user,
            action="change_config",
            target=config,
            changes={"enabled": [True, False]},
            summary="paused for the weekend",
        )
    entry.refresh_from_db()
    assert (entry.actor, entry.user, entry.action) == ("admin:alice", user, "change_config")
    assert (entry.target_type, entry.target_id) == ("MonitoringConfig", str(config.pk))
    assert entry.organisation == config.organisation  # taken from the target
    assert entry.changes == {"enabled": [True, False]}
    assert entry.correlation_id == "req-77"


def test_secrets_are_named_as_changed_never_with_values(family, config):
    by_names = audit.record(family, actor="system", action="x", target=config, changes={"secrets": ["api_key"]})
    by_values = audit.record(
        family, actor="system", action="x", target=config, changes={"secrets": {"api_key": API_KEY}}
    )
    by_field = audit.record(
        family,
        actor="system",
        action="x",
        target=config,
        changes={"token": ["old-token-value", "new-token-value"]},
        secret_fields=("token",),
    )
    assert by_names.changes == {"secrets": {"api_key": "(changed)"}}
    assert by_values.changes == {"secrets": {"api_key": "***"}}
    assert by_field.changes == {"token": "(changed)"}
    stored = json.dumps([e.changes for e in family.audit_model.objects.all()])
    assert API_KEY not in stored and "token-value" not in stored


def test_an_entry_cannot_be_edited_or_deleted_one_by_one_or_in_bulk(family, config):
    entry = audit.record(family, actor="system", action="create_config", target=config)
    entry.summary = "rewritten history"
    with pytest.raises(ValidationError, match="append-only"):
        entry.save()
    with pytest.raises(ValidationError, match="append-only"):
        entry.delete()
    with pytest.raises(ValidationError, match="append-only"):
        family.audit_model.objects.filter(pk=entry.pk).update(summary="rewritten")
    with pytest.raises(ValidationError, match="append-only"):
        family.audit_model.objects.all().delete()
    entry.refresh_from_db()
    assert entry.summary == ""


def test_deleting_the_organisation_keeps_its_audit_trail(family, config, organisation):
    entry = audit.record(family, actor="system", action="create_config", target=config)
    organisation.delete()
    entry.refresh_from_db()
    assert entry.organisation is None and entry.action == "create_config"
