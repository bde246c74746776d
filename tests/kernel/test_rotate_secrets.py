"""Key rotation end to end: written under B, keys "A,B", rotate, then "A" alone still decrypts."""

from __future__ import annotations

import io

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection

from wedsync_integrations.integrations.management.commands.rotate_secrets import encrypted_fields
from wedsync_integrations.integrations.registry import get_family

pytestmark = pytest.mark.django_db

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()


def _raw(config) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT secrets FROM {config._meta.db_table} WHERE id = %s", [config.pk])
        return cursor.fetchone()[0]


def _run(*args) -> str:
    out = io.StringIO()
    call_command("rotate_secrets", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def written_under_b(settings, fake_provider, make_organisation):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_B]
    monitoring = get_family("monitoring").config_model
    alerts = get_family("alerts").config_model
    configs = []
    for n in range(5):
        org = make_organisation()
        configs.append(monitoring.objects.create(organisation=org, provider="fake", secrets={"api_key": f"key-{n}"}))
    # tokens a vendor issued (credentials.py) live in their own encrypted field, rotated alike
    configs[0].credential = {"access_token": "issued-access-0", "refresh_token": "issued-refresh-0"}
    configs[0].save()
    configs.append(alerts.objects.create(organisation=org, provider="slack", secrets={"webhook_url": "https://x/y"}))
    # an empty secrets object is stored encrypted too, and rotated like any other
    configs.append(monitoring.objects.create(organisation=make_organisation(), provider="fake", secrets={}))
    return configs


def test_every_encrypted_field_of_every_installed_model_is_found():
    labels = {f"{model._meta.label}.{field.name}" for model, field in encrypted_fields()}
    assert {"monitoring.MonitoringConfig.secrets", "alerts.AlertConfig.secrets"} <= labels


def test_the_whole_rotation_story(settings, written_under_b):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A, KEY_B]
    before = {config.pk: _raw(config) for config in written_under_b}

    check = _run("--check")
    assert "monitoring.MonitoringConfig.secrets: 0 under the first key, 6 under an older key" in check
    assert "alerts.AlertConfig.secrets: 0 under the first key, 1 under an older key" in check
    assert "run `manage.py rotate_secrets`" in check

    output = _run("--batch-size", "2")  # several batches per model
    assert "monitoring.MonitoringConfig.secrets: 6 re-encrypted, 0 empty" in output
    assert "alerts.AlertConfig.secrets: 1 re-encrypted, 0 empty" in output
    assert "monitoring.MonitoringConfig.credential: 6 re-encrypted, 0 empty" in output
    assert "key-0" not in output and "https://x/y" not in output and "issued-" not in output

    only_a = Fernet(KEY_A.encode())
    for config in written_under_b:
        raw = _raw(config)
        assert raw != before[config.pk] and "key-" not in raw
        only_a.decrypt(raw.encode())  # raises if not under A

    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    for n, config in enumerate(written_under_b[:5]):
        config.refresh_from_db()
        assert dict(config.secrets) == {"api_key": f"key-{n}"}
    assert written_under_b[0].credential["refresh_token"] == "issued-refresh-0"
    assert "every value decrypts under the first key" in _run("--check")


def test_dropping_the_old_key_before_rotating_is_caught_by_check(settings, written_under_b):
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A]
    # 7 configs × 2 encrypted fields (the secrets staff type, the credential a vendor issued)
    with pytest.raises(CommandError, match="14 stored value"):
        _run("--check")
    config = written_under_b[0]
    with pytest.raises(ImproperlyConfigured):
        config.refresh_from_db()


def test_a_value_no_key_decrypts_is_reported_by_id_and_the_rest_are_rotated(settings, written_under_b):
    broken = written_under_b[2]
    foreign = Fernet(Fernet.generate_key()).encrypt(b'{"api_key": "lost"}').decode()
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {broken._meta.db_table} SET secrets = %s WHERE id = %s", [foreign, broken.pk])
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A, KEY_B]

    out = io.StringIO()
    with pytest.raises(CommandError, match="1 stored value"):
        call_command("rotate_secrets", stdout=out)

    assert f"5 re-encrypted, 0 empty, 1 cannot be decrypted (ids {broken.pk})" in out.getvalue()
    assert _raw(broken) == foreign  # left exactly as it was
    Fernet(KEY_A.encode()).decrypt(_raw(written_under_b[0]).encode())


def test_a_row_saved_concurrently_is_not_overwritten_with_its_old_secret(settings, written_under_b, monkeypatch):
    from wedsync_integrations.integrations.management.commands import rotate_secrets

    config = written_under_b[0]
    stale = _raw(config)
    settings.FIELD_ENCRYPTION_KEYS = [KEY_A, KEY_B]
    config.secrets = {"api_key": "saved-meanwhile"}  # an admin edit between our read and our write
    config.save()
    monkeypatch.setattr(rotate_secrets, "_batches", lambda model, field, size: iter([[(config.pk, stale)]]))

    output = _run()

    assert "0 re-encrypted, 1 changed concurrently" in output
    config.refresh_from_db()
    assert dict(config.secrets) == {"api_key": "saved-meanwhile"}


def test_an_unusable_key_list_is_refused_before_anything_is_touched(settings, written_under_b):
    before = _raw(written_under_b[0])
    settings.FIELD_ENCRYPTION_KEYS = ["not-a-fernet-key", KEY_B]
    with pytest.raises(CommandError, match="not a Fernet key"):
        _run()
    assert _raw(written_under_b[0]) == before
