"""Real Celery workers for service-level tests: subprocesses on the test database and the same broker."""

from __future__ import annotations

import atexit
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from wedsync_integrations.core.processes import die_with_parent

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


_running: set[Worker] = set()
atexit.register(lambda: [worker.stop() for worker in list(_running)])


class Worker:
    """`celery -A wedsync_integrations worker` in its own process group, logging to a file."""

    def __init__(self, queue: str, log_dir: Path, env: dict[str, str], *, name: str = "w", pool: str = "solo"):
        self.queue = queue
        self.pool = pool
        self.env = env
        self.name = f"{name}-{uuid.uuid4().hex[:8]}"
        self.hostname = f"{self.name}@{socket.gethostname()}"
        self.log_path = log_dir / f"{self.name}.log"
        self.process: subprocess.Popen | None = None

    ready_marker = b" ready."

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "wedsync_integrations", "worker",
            "--pool", self.pool, "--concurrency", "1", "--queues", self.queue, "--hostname", self.hostname,
            "--include", "tests.services.worker_tasks", "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip

    def start(self) -> Worker:
        cmd = self.command()
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # a crashed test session leaves no worker holding the test database open
            preexec_fn=die_with_parent(signal.SIGKILL),
        )
        _running.add(self)
        return self

    def wait_ready(self, timeout: float = 60.0) -> Worker:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ready_marker in self.log_path.read_bytes():
                return self
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited with {self.process.returncode}:\n{self.log()}")
            time.sleep(0.1)
        raise AssertionError(f"worker not ready within {timeout}s:\n{self.log()}")

    def kill(self) -> None:
        """SIGKILL the whole worker (as when a machine dies): no chance to ack or requeue."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        _running.discard(self)

    def stop(self) -> None:
        _running.discard(self)
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def log(self, limit: int = 6000) -> str:
        return self.log_path.read_text(errors="replace")[-limit:]


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
