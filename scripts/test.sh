#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it: lint, Django checks, migrations up to date, pytest.
set -uo pipefail
cd "$(dirname "$0")/.."
export DJANGO_SETTINGS_MODULE=wedsync_integrations.test_settings
PY=.venv/bin/python
fail() { echo "FAILED: $1" >&2; exit 1; }

echo "== ruff"; $PY -m ruff check . || fail "ruff"
echo "== manage.py check"; $PY manage.py check || fail "manage.py check"
echo "== makemigrations --check"; $PY manage.py makemigrations --check --dry-run >/dev/null || fail "missing migrations"
echo "== pytest (database: ${DATABASE_URL:-embedded SQLite}, broker: ${CELERY_BROKER_URL:-in-memory})"
$PY -m pytest "$@"
rc=$?
if [ $rc -eq 5 ]; then
  fail "pytest collected no tests (exit code 5)"
fi
[ $rc -eq 0 ] || fail "pytest (exit code $rc)"
echo "== all green"
