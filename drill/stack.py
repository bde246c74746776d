"""The service as it runs for real, started for one drill: a database of its own, the vendor
sandbox, gunicorn and Celery workers; and Django set up in this process to seed data and to
read what was stored.

Backend: PostgreSQL, Redis (or RabbitMQ) when DATABASE_URL, CACHE_URL and CELERY_BROKER_URL name
them, else the embedded default (a SQLite file, the filesystem broker and a file cache, all in a
temporary directory). On PostgreSQL the drill creates and drops a database of its own next to
the named one; on a shared Redis it uses its own cache key prefix and Celery queue, so it never
meets another run's keys or messages, and it deletes nothing it did not write.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import CeleryWorker, Gunicorn, migrate, pg_database

RUN = uuid.uuid4().hex[:8]


@dataclass
class Stack:
    env: dict[str, str]  # every child process's environment
    backend: str
    var_dir: Path
    sandbox: object  # SandboxServer
    web: Gunicorn
    workers: dict[str, CeleryWorker] = field(default_factory=dict)

    @property
    def queue(self) -> str:
        """The run's default Celery queue (every task the service publishes goes there)."""
        return self.env["CELERY_TASK_DEFAULT_QUEUE"]

    def own_queue(self, worker: str) -> str:
        """A queue only `worker` consumes, to hand work to one worker in particular."""
        return f"{self.queue}.{worker}"

    def start_worker(self, name: str) -> CeleryWorker:
        worker = CeleryWorker(f"{self.queue},{self.own_queue(name)}", self.var_dir, self.env, name=name)
        self.workers[name] = worker.start().wait_ready(timeout=120)
        return worker

    def restart_web(self, **env_overrides: str) -> None:
        """Stop the web server and start it again on the same port (with these changes, if any)."""
        self.web.stop()
        self.web.start(**env_overrides)

    def stop(self) -> None:
        for worker in self.workers.values():
            worker.stop()
        self.web.stop()


def backend_name() -> str:
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        services = [os.environ.get(name, "").split(":", 1)[0] for name in ("CACHE_URL", "CELERY_BROKER_URL")]
        return "PostgreSQL, cache " + (services[0] or "file") + ", broker " + (services[1] or "filesystem")
    return "embedded default (SQLite file, filesystem broker, file cache)"


def child_environment(database_url: str, var_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="wedsync_integrations.settings",
        DJANGO_ENV="development",
        DJANGO_DEBUG="0",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        DATABASE_URL=database_url,
        WEDSYNC_VAR_DIR=str(var_dir),  # the embedded broker, cache and generated keys live here
        CACHE_KEY_PREFIX=f"drill-{RUN}",
        CELERY_TASK_DEFAULT_QUEUE=f"drill-{RUN}",
        OUTBOUND_URL_ALLOWLIST="127.0.0.1,localhost",  # every vendor is the loopback sandbox
        # a vendor holding the connection costs 2 s per attempt, not the production 20
        OUTBOUND_CONNECT_TIMEOUT="2",
        OUTBOUND_READ_TIMEOUT="2",
        WEBHOOK_TRUSTED_PROXY_COUNT="1",  # the flood's senders are told apart by X-Forwarded-For
        # An outage of five failures opens a vendor's circuit; the drill waits 2 s for the probe,
        # not the production minute (the breaker has its own tests; here what matters is arrival).
        CIRCUIT_RESET_SECONDS="2",
    )
    return env


@contextlib.contextmanager
def _database(var_dir: Path) -> Iterator[str]:
    """A migrated database of the drill's own: yields DATABASE_URL."""
    named = os.environ.get("DATABASE_URL", "")
    if named.startswith("postgres"):
        server, name = named.rsplit("/", 1)
        env = child_environment(named, var_dir)
        with pg_database(f"{name}_drill_{RUN}", admin_url=f"{server}/postgres", env=env) as url:
            yield url
        return
    url = f"sqlite:///{var_dir / 'drill.sqlite3'}"
    migrate(child_environment(url, var_dir))
    yield url


def _setup_django(env: dict[str, str]) -> None:
    import django

    # this process only seeds and reads: its notes (a token issued...) would clutter the output
    os.environ.update({**env, "LOG_LEVEL": "ERROR"})
    django.setup()


@contextlib.contextmanager
def running() -> Iterator[Stack]:
    """Everything started (database migrated, sandbox, web, one worker "first"); stopped after."""
    var_dir = Path(tempfile.mkdtemp(prefix=f"wsi-drill-{RUN}-"))
    try:
        with _database(var_dir) as database_url:
            env = child_environment(database_url, var_dir)
            _setup_django(env)
            from wedsync_integrations.sandbox.server import SandboxServer

            with SandboxServer(env=env) as sandbox:
                web = Gunicorn(env, workers=2, log_path=var_dir / "web.log")
                stack = Stack(env, backend_name(), var_dir, sandbox, web)
                try:
                    stack.web.start()
                    stack.start_worker("first")
                    yield stack
                finally:
                    stack.stop()
                    _close_django_connections()
    finally:
        shutil.rmtree(var_dir, ignore_errors=True)


def _close_django_connections() -> None:
    """Before the database is dropped: this process holds a connection to it too."""
    from django.db import connections

    connections.close_all()
