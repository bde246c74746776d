"""Declarative configuration: `integrations apply` / `integrations export` and config_io behind them."""

from __future__ import annotations

import copy
import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from wedsync_integrations.integrations import config_io
from wedsync_integrations.integrations.registry import get_family
from wedsync_integrations.tenants.models import Organisation

from .conftest import API_KEY, APP_KEY

pytestmark = pytest.mark.django_db

NEW_KEY = "dd-api-key-rotated-00000000"


def _doc(**integration_overrides) -> dict:
    integration = {
        "family": "monitoring",
        "provider": "keyed",
        "enabled": True,
        "settings": {"site": "datadoghq.eu", "env": "prod"},
        "secrets": {"api_key": API_KEY, "app_key": APP_KEY},
    }
    integration.update(integration_overrides)
    return {
        "organisations": [
            {
                "slug": "acme",
                "name": "Acme Photography",
                "vendor_type": "photographer",
                "value_per_request_gbp": "3.75",
                "integrations": [integration],
            }
        ]
    }


def _config(slug="acme"):
    return get_family("monitoring").config_model.objects.get(organisation__slug=slug, provider="keyed")


def _audit():
    return list(get_family("monitoring").audit_model.objects.order_by("id"))


def _apply_cmd(document, *args) -> str:
    out = io.StringIO()
    call_command("integrations", "apply", "-", *args, stdin=io.StringIO(json.dumps(document)), stdout=out)
    return out.getvalue()


def _export_cmd(*args) -> dict:
    out = io.StringIO()
    call_command("integrations", "export", *args, stdout=out)
    return json.loads(out.getvalue())


def test_apply_creates_the_organisation_and_config_with_encrypted_secrets_and_an_audit_entry(keyed_provider):
    output = _apply_cmd(_doc())

    organisation = Organisation.objects.get(slug="acme")
    assert organisation.name == "Acme Photography"
    assert organisation.value_per_request_gbp == Decimal("3.75")
    config = _config()
    assert config.enabled is True
    assert config.settings == {"site": "datadoghq.eu", "env": "prod"}
    assert dict(config.secrets) == {"api_key": API_KEY, "app_key": APP_KEY}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secrets FROM {config._meta.db_table} WHERE id = %s", [config.pk])
        (stored,) = cursor.fetchone()
    assert API_KEY not in stored and APP_KEY not in stored

    assert "created organisation acme" in output
    assert "created monitoring/keyed for acme" in output
    assert "2 created, 0 updated, 0 unchanged" in output
    (entry,) = _audit()
    assert entry.actor == "cli:integrations-apply"
    assert entry.action == "create_config"
    assert entry.target_id == str(config.pk) and entry.organisation == organisation
    assert entry.changes["secrets"] == {"api_key": "(changed)", "app_key": "(changed)"}
    assert API_KEY not in json.dumps(entry.changes) + entry.summary


def test_settings_are_normalised_through_the_provider_serializer(keyed_provider):
    config_io.apply(_doc(settings={"env": "prod", "base_url": ""}))
    # the serializer's default site is stored; the blank base_url is dropped
    assert _config().settings == {"site": "datadoghq.com", "env": "prod"}


def test_applying_the_same_file_twice_changes_nothing(keyed_provider):
    config_io.apply(_doc())
    before = _config().updated_at

    report = config_io.apply(_doc())

    assert report.created == [] and report.updated == []
    assert report.unchanged == ["organisation acme", "monitoring/keyed for acme"]
    assert _config().updated_at == before
    assert len(_audit()) == 1


def test_export_redacts_secrets_and_export_then_apply_round_trips_without_wiping_them(keyed_provider):
    config_io.apply(_doc())

    exported = _export_cmd()

    (organisation,) = exported["organisations"]
    assert organisation["slug"] == "acme" and organisation["vendor_type"] == "photographer"
    assert organisation["value_per_request_gbp"] == "3.75"
    assert organisation["timezone"] == "Europe/London" and organisation["vat_registered"] is False
    assert organisation["integrations"] == [
        {
            "family": "monitoring",
            "provider": "keyed",
            "enabled": True,
            "settings": {"site": "datadoghq.eu", "env": "prod"},
            "secrets": {"api_key": "***", "app_key": "***"},
        }
    ]
    assert API_KEY not in json.dumps(exported)

    report = config_io.apply(exported)

    assert report.updated == [] and report.created == []
    assert dict(_config().secrets) == {"api_key": API_KEY, "app_key": APP_KEY}


def test_secrets_given_are_set_omitted_and_placeholder_keep_their_values(keyed_provider):
    config_io.apply(_doc())

    report = config_io.apply(_doc(secrets={"api_key": NEW_KEY}))  # app_key omitted
    assert dict(_config().secrets) == {"api_key": NEW_KEY, "app_key": APP_KEY}
    assert report.updated == ["monitoring/keyed for acme (secrets: api_key)"]

    config_io.apply(_doc(secrets={"api_key": "***", "app_key": "***"}))
    assert dict(_config().secrets) == {"api_key": NEW_KEY, "app_key": APP_KEY}

    entry = _audit()[-1]
    assert entry.action == "change_config"
    assert entry.changes == {"secrets": {"api_key": "(changed)"}}
    assert NEW_KEY not in json.dumps(entry.changes) + entry.summary


def test_changing_settings_and_enabled_is_audited_with_old_and_new_values(keyed_provider):
    config_io.apply(_doc())

    report = config_io.apply(_doc(enabled=False, settings={"site": "datadoghq.com"}))

    config = _config()
    assert config.enabled is False and config.settings == {"site": "datadoghq.com"}
    assert report.updated == ["monitoring/keyed for acme (enabled; settings)"]
    changes = _audit()[-1].changes
    assert changes["enabled"] == [True, False]
    assert changes["settings"] == [{"site": "datadoghq.eu", "env": "prod"}, {"site": "datadoghq.com"}]


def test_integrations_and_organisations_not_in_the_file_are_left_alone(keyed_provider, fake_provider, make_config):
    config_io.apply(_doc())
    other = Organisation.objects.create(slug="other", name="Other", vendor_type="venue")
    make_config("monitoring", Organisation.objects.get(slug="acme"), "fake")

    document = _doc()
    del document["organisations"][0]["integrations"][0]["settings"]
    config_io.apply(document)

    assert get_family("monitoring").config_model.objects.filter(organisation__slug="acme").count() == 2
    assert Organisation.objects.filter(pk=other.pk).exists()
    assert _config().settings == {"site": "datadoghq.eu", "env": "prod"}  # omitted settings are kept


def test_every_error_is_reported_with_its_path_and_nothing_is_applied(keyed_provider):
    document = _doc(settings={"site": "datadoghq.example", "colour": "blue"}, secrets={})
    document["organisations"][0]["integrations"] += [
        {"family": "nosuch", "provider": "x"},
        {"family": "monitoring", "provider": "nosuch"},
        {"family": "monitoring", "provider": "keyed", "settings": ["not", "an", "object"], "secrets": {}},
        "not an object",
    ]
    document["organisations"].append({"slug": "valid-org", "name": "Valid", "vendor_type": "venue"})

    with pytest.raises(config_io.ConfigFileError) as caught:
        config_io.apply(document)

    errors = caught.value.errors
    assert "organisations[0].integrations[0].settings.colour: unknown setting" in errors
    assert any(e.startswith("organisations[0].integrations[0].settings.site: ") and "valid choice" in e for e in errors)
    assert "organisations[0].integrations[0].secrets.api_key: This field is required." in errors
    assert any(e.startswith("organisations[0].integrations[1].family: unknown family 'nosuch'") for e in errors)
    assert any(
        e.startswith("organisations[0].integrations[2].provider: unknown provider 'nosuch'") and "keyed" in e
        for e in errors
    )
    assert "organisations[0].integrations[3].settings: must be a JSON object" in errors
    assert "organisations[0].integrations[4]: must be a JSON object" in errors
    # the valid organisation in the same file was not created either
    assert not Organisation.objects.exists()


def test_organisation_fields_are_validated(keyed_provider):
    document = {
        "organisations": [
            {"slug": "a", "name": "A", "vendor_type": "astronaut"},
            {"slug": "b", "name": "B", "vendor_type": "venue", "timezone": "Mars/Olympus", "shoe_size": 9},
            {"slug": "c", "name": "C", "vendor_type": "venue", "vat_registered": True},
            {"slug": "d"},
            {"slug": "a", "name": "A again", "vendor_type": "venue"},
            {"name": "no slug"},
        ]
    }
    with pytest.raises(config_io.ConfigFileError) as caught:
        config_io.validate(document)
    errors = caught.value.errors
    assert any(e.startswith("organisations[0].vendor_type: ") for e in errors)
    assert any(e.startswith("organisations[1].timezone: ") and "IANA" in e for e in errors)
    assert "organisations[1].shoe_size: unknown organisation field" in errors
    assert any(e.startswith("organisations[2].vat_number: ") for e in errors)
    assert "organisations[3].name: required to create organisation 'd'" in errors
    assert "organisations[3].vendor_type: required to create organisation 'd'" in errors
    assert "organisations[4].slug: 'a' already appears at organisations[0]" in errors
    assert "organisations[5].slug: required (a non-empty string)" in errors


def test_an_existing_organisation_can_be_updated_with_only_some_fields(keyed_provider):
    config_io.apply(_doc())
    report = config_io.apply(
        {"organisations": [{"slug": "acme", "vat_registered": True, "vat_number": "gb 123 456 789"}]}
    )
    organisation = Organisation.objects.get(slug="acme")
    assert organisation.vat_registered and organisation.vat_number == "GB123456789"
    assert organisation.name == "Acme Photography"
    assert report.updated == ["organisation acme (vat_registered, vat_number)"]


def test_placeholder_for_a_secret_that_was_never_stored_is_an_error(keyed_provider):
    with pytest.raises(config_io.ConfigFileError) as caught:
        config_io.apply(_doc(secrets={"api_key": "***"}))
    assert "organisations[0].integrations[0].secrets.api_key: '***' keeps the stored value, but none is stored" in (
        caught.value.errors
    )


def test_unknown_secret_is_an_error_and_a_rejected_secret_value_is_never_echoed(keyed_provider):
    leaked = "tiny-1"  # too short for app_key
    with pytest.raises(config_io.ConfigFileError) as caught:
        config_io.apply(_doc(secrets={"api_key": API_KEY, "app_key": leaked, "token": "sekrit-token-value"}))
    text = str(caught.value)
    assert "organisations[0].integrations[0].secrets.token: unknown secret for keyed" in text
    assert "organisations[0].integrations[0].secrets.app_key: " in text
    assert leaked not in text and "sekrit-token-value" not in text


def test_dry_run_validates_and_reports_without_writing(keyed_provider):
    output = _apply_cmd(_doc(), "--dry-run")
    assert "would create organisation acme" in output
    assert "would create monitoring/keyed for acme" in output
    assert "dry run, nothing written" in output
    assert not Organisation.objects.exists()
    assert _audit() == []


def test_the_command_reports_all_errors_and_exits_non_zero(keyed_provider, tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_doc(settings={"colour": "blue"}, secrets={})))
    with pytest.raises(CommandError) as caught:
        call_command("integrations", "apply", str(path), stdout=io.StringIO())
    message = str(caught.value)
    assert message.startswith(f"{path}: 2 errors; nothing was applied")
    assert "organisations[0].integrations[0].settings.colour: unknown setting" in message
    assert "organisations[0].integrations[0].secrets.api_key: This field is required." in message


def test_malformed_json_and_a_wrong_top_level_shape_are_clear_errors(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"organisations": [\n  {"slug": "a",}\n]}')
    with pytest.raises(CommandError, match=r"line 2 column 16: invalid JSON"):
        call_command("integrations", "apply", str(path), stdout=io.StringIO())
    with pytest.raises(config_io.ConfigFileError, match="organisations: must be a list"):
        config_io.validate({"organisations": {"slug": "a"}, "extra": 1})
    with pytest.raises(CommandError, match="cannot read"):
        call_command("integrations", "apply", str(tmp_path / "missing.json"), stdout=io.StringIO())


def test_export_one_organisation_and_unknown_slug(keyed_provider):
    document = _doc()
    second = copy.deepcopy(document["organisations"][0])
    second.update(slug="bloom", name="Bloom Florists", vendor_type="florist", integrations=[])
    document["organisations"].append(second)
    config_io.apply(document)

    exported = _export_cmd("--org", "bloom")
    assert [org["slug"] for org in exported["organisations"]] == ["bloom"]
    assert exported["organisations"][0]["integrations"] == []
    with pytest.raises(CommandError, match="unknown organisation 'nope'"):
        _export_cmd("--org", "nope")


def test_an_unsafe_base_url_is_rejected_with_its_path(keyed_provider):
    with pytest.raises(config_io.ConfigFileError) as caught:
        config_io.apply(_doc(settings={"base_url": "http://169.254.169.254/latest/meta-data"}))
    (error,) = caught.value.errors
    assert error.startswith("organisations[0].integrations[0].settings.base_url: ")
    assert "https" in error


def test_a_stopped_config_is_pointed_out_after_its_key_is_replaced(keyed_provider):
    config_io.apply(_doc())
    _config().stop("datadog: HTTP 403 from api.datadoghq.com")

    lines = config_io.apply(_doc(secrets={"api_key": NEW_KEY})).lines()

    assert (
        "note: monitoring/keyed for acme is stopped (datadog: HTTP 403 from api.datadoghq.com); "
        "once its credentials are right, resume it in admin to send what it holds"
    ) in lines
    assert _config().status == "stopped"  # a file never resumes a config by itself
