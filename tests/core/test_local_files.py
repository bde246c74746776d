"""The embedded default's local files: manage.py prepares them, settings only read them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _python(tmp_path, code: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "FIELD_ENCRYPTION_KEYS", "DJANGO_ENV"}}
    env.update(WEDSYNC_VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="wedsync_integrations.settings")
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_importing_the_settings_writes_nothing_and_names_what_to_run(tmp_path):
    result = _python(tmp_path, "import django; django.setup()")
    assert result.returncode != 0
    assert "run any manage.py command once" in result.stderr
    assert not (tmp_path / "var").exists()  # no folder, no secret written as a side effect


def test_manage_py_prepares_the_folders_and_private_secrets_once(tmp_path):
    code = "import runpy, sys; sys.argv = ['manage.py', 'check']; runpy.run_path('manage.py', run_name='__main__')"
    first = _python(tmp_path, code)
    assert first.returncode == 0, first.stderr
    var = tmp_path / "var"
    key = (var / "field_encryption_key").read_text()
    assert stat.S_IMODE((var / "secret_key").stat().st_mode) == 0o600
    assert all((var / folder).is_dir() for folder in ("static", "broker/queue", "celery-results"))
    assert _python(tmp_path, code).returncode == 0
    assert (var / "field_encryption_key").read_text() == key  # never replaced: it decrypts what is stored
