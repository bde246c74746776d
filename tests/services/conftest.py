"""Real Celery workers for service-level tests: subprocesses on the test database and the same broker."""

from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from bench.common import CeleryWorker

ROOT = Path(__file__).resolve().parents[2]
SERVICES = os.environ.get("WEDSYNC_SERVICES") == "1"


def services_skip_reason() -> str | None:
    if not SERVICES:
        return "needs WEDSYNC_SERVICES=1 (PostgreSQL + Redis, CI's second pass)"
    if connection.vendor != "postgresql":
        return "a worker process needs the test database on PostgreSQL (DATABASE_URL=postgres://...)"
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://", "amqp://")):
        return f"a worker process needs a real broker, not {settings.CELERY_BROKER_URL.split(':')[0]}://"
    return None


def database_url() -> str:
    """DATABASE_URL of the database this test runs on (pytest-django's test_… database)."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{db['NAME']}"


class Worker(CeleryWorker):
    """A test worker: also loads tests.services.worker_tasks (test tasks, the sandboxed provider)."""

    def __init__(self, queue: str, log_dir: Path, env: dict[str, str], *, name: str = "w", pool: str = "solo"):
        super().__init__(queue, log_dir, env, name=name, pool=pool, include=("tests.services.worker_tasks",))


class Beat(Worker):
    """`celery -A wedsync_integrations beat` (django-celery-beat's DatabaseScheduler on the test
    database), looking at its schedules every second. What it sends goes to Celery's default queue:
    start it with CELERY_TASK_DEFAULT_QUEUE set to the test's queue."""

    ready_marker = b"beat: Starting"

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "wedsync_integrations", "beat", "--loglevel", "INFO",
            "--max-interval", "1", "--pidfile", str(self.log_path.with_suffix(".pid")),
        ]  # fmt: skip


@pytest.fixture
def worker_queue() -> str:
    """A queue of this test's own: stale messages other tests left on the shared broker never
    reach these workers, and these tests' messages reach no one else."""
    return f"wsi-test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def start_worker(transactional_db, worker_queue, tmp_path):
    """start_worker(**env) -> a running Worker on the test database (kind=Beat: Celery beat); all
    stopped after the test (before the database is flushed, so no worker holds a connection to it)."""
    reason = services_skip_reason()
    if reason:
        pytest.skip(reason)
    workers: list[Worker] = []

    def start(name: str = "w", pool: str = "solo", kind: type[Worker] = Worker, **env: str) -> Worker:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "wedsync_integrations.test_settings",
            "DATABASE_URL": database_url(),
            "WSI_TEST_WORKER": "1",
            **env,
        }
        worker = kind(worker_queue, tmp_path, env, name=name, pool=pool)
        workers.append(worker.start())
        return worker

    yield start
    for worker in workers:
        worker.stop()
