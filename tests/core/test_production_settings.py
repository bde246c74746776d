"""Settings checks. DJANGO_ENV=production: real secrets required, Django's deploy checks clean, local-only
services flagged. The embedded default: no warnings at all.

Each case runs `manage.py` in a fresh process with the production environment (settings are read
once per process). `check --deploy` opens no connection, so service URLs need no running server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SECRETS = {"SECRET_KEY": "prod-" + "k7" * 30, "FIELD_ENCRYPTION_KEYS": "cHJvZHVjdGlvbi10ZXN0LWtleS0wMDAwMDAwMDAwMDA="}
DEPLOY_CHECK = ("check", "--deploy", "--fail-level", "WARNING")
SERVICES = {
    "DATABASE_URL": "postgres://wedsync@db.internal:5432/wedsync",
    "CELERY_BROKER_URL": "redis://redis.internal:6379/0",
    "CACHE_URL": "redis://redis.internal:6379/1",
}


def _manage(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {
        key: value
        for key, value in os.environ.items()
        if key not in {*SERVICES, *SECRETS, "CELERY_RESULT_BACKEND", "DJANGO_SETTINGS_MODULE"}
    }
    clean.update(
        DJANGO_SETTINGS_MODULE="wedsync_integrations.settings",
        DJANGO_ENV="production",
        WEDSYNC_VAR_DIR=str(tmp_path),
        ALLOWED_HOSTS="integrations.wedsync.example",
        PUBLIC_BASE_URL="https://integrations.wedsync.example",
        **env,
    )
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def test_a_fully_configured_production_passes_every_deploy_check(tmp_path):
    result = _manage(tmp_path, *DEPLOY_CHECK, **SECRETS, **SERVICES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_on_the_embedded_services_is_flagged(tmp_path):
    result = _manage(tmp_path, *DEPLOY_CHECK, **SECRETS)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    for check_id in ("wedsync.W001", "wedsync.W002", "wedsync.W003"):  # SQLite, local broker, local cache
        assert check_id in output
    assert "security.W" not in output  # Django's own deploy checks stay clean


@pytest.mark.parametrize("missing", ["SECRET_KEY", "FIELD_ENCRYPTION_KEYS"])
def test_production_refuses_to_start_without_secrets_from_the_environment(tmp_path, missing):
    secrets = {key: value for key, value in SECRETS.items() if key != missing}
    result = _manage(tmp_path, "check", **secrets, **SERVICES)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert missing in result.stderr
    # nothing was generated into var/ as a fallback
    assert not (tmp_path / "secret_key").exists() and not (tmp_path / "field_encryption_key").exists()


def test_production_refuses_to_start_with_debug_on(tmp_path):
    """DEBUG's error pages print the settings, and Django's filter hides only names that look
    secret: CELERY_BROKER_URL and CACHE_URL would show their passwords to whoever hits a 500."""
    result = _manage(tmp_path, "check", DJANGO_DEBUG="true", **SECRETS, **SERVICES)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "DJANGO_DEBUG" in result.stderr


def test_the_embedded_default_passes_the_system_checks_without_a_warning(db):
    """What `make demo` and every manage.py command a new user runs would print (database checks included)."""
    from django.core.management import call_command

    call_command("check", databases=["default"], fail_level="WARNING")
