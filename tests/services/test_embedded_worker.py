"""The embedded default needs no server: SQLite file, filesystem broker, file result backend.

Proves the demo's "one command, nothing to install" promise across real processes: a migrated
SQLite database, a worker subprocess, and a task queued and awaited from a third process.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import uuid

import pytest

from .conftest import ROOT, Worker

pytestmark = pytest.mark.slow

# Everything that would point the settings at a service (or at the test suite's in-memory broker).
SERVICE_VARIABLES = (
    "DATABASE_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "CACHE_URL",
    "CELERY_TASK_ALWAYS_EAGER",
    "SECRET_KEY",
    "FIELD_ENCRYPTION_KEYS",
    "WSI_TEST_WORKER",
    "WSI_TEST_VISIBILITY_TIMEOUT",
)

CLIENT = """
import sys, django
django.setup()
from tests.services.worker_tasks import create_organisation
from wedsync_integrations.core.observability import correlation_scope
with correlation_scope(sys.argv[2]):
    result = create_organisation.apply_async(args=["embedded-venue", "Embedded Venue"], queue=sys.argv[1])
print(result.get(timeout=30, interval=0.2))
"""


def test_a_task_queued_by_one_process_runs_on_a_worker_with_no_services(tmp_path):
    var_dir = tmp_path / "var"
    env = {key: value for key, value in os.environ.items() if key not in SERVICE_VARIABLES}
    env.update(
        WEDSYNC_VAR_DIR=str(var_dir),
        DJANGO_SETTINGS_MODULE="wedsync_integrations.settings",
        DJANGO_ENV="development",
        LOG_LEVEL="WARNING",
    )

    def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
        )

    migrate = run("manage.py", "migrate", "--noinput", "-v", "0")
    assert migrate.returncode == 0, migrate.stderr

    queue = f"wsi-embedded-{uuid.uuid4().hex[:8]}"
    correlation_id = f"embedded-{uuid.uuid4().hex}"
    worker = Worker(queue, tmp_path, env, name="embedded").start()
    try:
        worker.wait_ready()
        client = run("-c", CLIENT, queue, correlation_id, timeout=60)
        assert client.returncode == 0, f"{client.stderr}\n--- worker log ---\n{worker.log()}"
        organisation_pk = int(client.stdout.strip().splitlines()[-1])
    finally:
        worker.stop()

    # the worker really used the server-less broker, through the transport that writes messages atomically
    assert "transport:   wedsync_integrations.core.broker:Transport://" in worker.log()
    # the publisher's correlation id is in the worker's log lines for that task
    assert f"[cid={correlation_id}] tests.worker created organisation embedded-venue" in worker.log()
    with sqlite3.connect(var_dir / "wedsync.sqlite3") as db:
        row = db.execute("SELECT slug, name FROM tenants_organisation WHERE id = ?", (organisation_pk,)).fetchone()
    assert row == ("embedded-venue", "Embedded Venue")
    assert any((var_dir / "celery-results").iterdir())  # the result travelled through file://
