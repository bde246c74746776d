"""Shared benchmark machinery: a fresh PostgreSQL database, a gunicorn server, timing and reports."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

from wedsync_integrations.core.processes import die_with_parent

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PG_ADMIN_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_env(database_url: str, **extra: str) -> dict[str, str]:
    """Environment for a server or script under benchmark: production-like (DEBUG off)."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="wedsync_integrations.settings",
        DJANGO_ENV="development",
        DJANGO_DEBUG="0",
        DATABASE_URL=database_url,
        LOG_LEVEL="WARNING",
        WEDSYNC_VAR_DIR=str(Path(tempfile.gettempdir()) / "wsi-bench-var"),
    )
    env.update(extra)
    return env


@contextlib.contextmanager
def pg_database(name: str, *, admin_url: str = PG_ADMIN_URL, env: dict[str, str] | None = None):
    """A freshly created and migrated PostgreSQL database on `admin_url`'s server, dropped
    afterwards. Yields its URL. `env`: the environment to migrate in (default bench_env)."""
    import psycopg

    admin = admin_url.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    migrate(bench_env(url) if env is None else {**env, "DATABASE_URL": url})
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(env: dict[str, str]) -> None:
    """`manage.py migrate` on the database env names."""
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)


def run_child(module: str, *args: str, env: dict[str, str]) -> dict:
    """Run `python -m <module> --child <args>` (a benchmark's measuring half, in a process of its
    own with the settings in `env`) and return the JSON object it printed last."""
    proc = subprocess.run(
        [PYTHON, "-m", module, "--child", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def gunicorn_command(
    port: int, *, workers: int = 2, threads: int = 1, app: str = "wedsync_integrations.wsgi"
) -> list[str]:
    return [
        PYTHON, "-m", "gunicorn", f"{app}:application", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--threads", str(threads), "--worker-class", "sync" if threads == 1 else "gthread",
        "--log-level", "warning", "--backlog", "2048", "--keep-alive", "5",
        "--config", str(ROOT / "wedsync_integrations" / "gunicorn_conf.py"),
    ]  # fmt: skip


class Gunicorn:
    """gunicorn on one port, in its own process group: started, stopped, killed and started again
    on the same port (the drill's web faults); `base` is its URL."""

    def __init__(
        self,
        env: dict[str, str],
        *,
        workers: int = 2,
        threads: int = 1,
        app: str = "wedsync_integrations.wsgi",
        log_path: Path | None = None,  # its output goes there (default: this process's)
    ):
        self.log_path = log_path
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = env
        self.command = gunicorn_command(self.port, workers=workers, threads=threads, app=app)
        self.process: subprocess.Popen | None = None
        self._multiproc: str | None = None

    def start(self, **env_overrides: str) -> Gunicorn:
        """Start it (with these environment changes, if any) and wait until /healthz answers."""
        self._multiproc = tempfile.mkdtemp(prefix="wsi-prom-")
        env = {**self.env, **env_overrides, "PROMETHEUS_MULTIPROC_DIR": self._multiproc}
        output = self.log_path.open("ab") if self.log_path else None
        try:
            self.process = subprocess.Popen(
                self.command,
                cwd=ROOT,
                env=env,
                start_new_session=True,
                stdout=output,
                stderr=output,
                preexec_fn=die_with_parent(),  # no orphan server when the benchmark or drill is killed
            )
        finally:
            if output is not None:
                output.close()  # the server holds its own copy
        _wait_http(self.base + "/healthz", self.process)
        return self

    def worker_pids(self) -> list[int]:
        """The pids of gunicorn's worker processes (the master's children)."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(pid) for pid in children.read_text().split()] if children.exists() else []

    def send_signal(self, sig: int) -> None:
        """Send `sig` to the whole server (master and workers), as a machine or an operator would."""
        os.killpg(self.process.pid, sig)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.send_signal(signal.SIGKILL)
                self.process.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)  # workers orphaned by a killed master
        shutil.rmtree(self._multiproc, ignore_errors=True)
        self.process = None


@contextlib.contextmanager
def gunicorn(env: dict[str, str], *, workers: int = 2, threads: int = 1, app: str = "wedsync_integrations.wsgi"):
    """Run gunicorn on a free port; yields the base URL. Waits until /healthz answers."""
    server = Gunicorn(env, workers=workers, threads=threads, app=app).start()
    try:
        yield server.base
    finally:
        server.stop()


_running: set[CeleryWorker] = set()
atexit.register(lambda: [worker.stop() for worker in list(_running)])


class CeleryWorker:
    """`celery -A wedsync_integrations worker` in its own process group, logging to a file; it
    dies with the process that started it."""

    def __init__(
        self,
        queue: str,
        log_dir: Path,
        env: dict[str, str],
        *,
        name: str = "w",
        pool: str = "solo",
        include: tuple[str, ...] = (),
    ):
        self.queue = queue
        self.pool = pool
        self.env = env
        self.include = include
        self.name = f"{name}-{uuid.uuid4().hex[:8]}"
        self.hostname = f"{self.name}@{socket.gethostname()}"
        self.log_path = log_dir / f"{self.name}.log"
        self.process: subprocess.Popen | None = None

    ready_marker = b" ready."  # what the process logs once it takes work

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "celery", "-A", "wedsync_integrations", "worker",
            "--pool", self.pool, "--concurrency", "1", "--queues", self.queue, "--hostname", self.hostname,
            *(option for module in self.include for option in ("--include", module)), "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]  # fmt: skip

    def start(self) -> CeleryWorker:
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

    def wait_ready(self, timeout: float = 60.0) -> CeleryWorker:
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


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 (local benchmark server)
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up in {timeout}s")


@dataclass
class Timing:
    label: str
    seconds: float
    count: int = 0
    unit: str = "items"

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else float("inf")


def percentile(values: list[float], q: float) -> float:
    """Linear-interpolated percentile (q in 0..100)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=100, method="inclusive")[max(0, min(98, round(q) - 1))]


def report(title: str, rows: list[tuple[str, str]], *, verdicts: list[tuple[str, bool]] = ()) -> bool:
    """Print a small aligned table and the goal verdicts; return True when every goal is met."""
    width = max(len(label) for label, _ in rows) if rows else 0
    print(f"\n== {title}")
    for label, value in rows:
        print(f"  {label.ljust(width)}  {value}")
    ok = True
    for goal, met in verdicts:
        ok &= met
        print(f"  [{'MET' if met else 'MISSED'}] {goal}")
    return ok
