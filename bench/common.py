"""Shared benchmark machinery: a fresh PostgreSQL database, a gunicorn server, timing and reports."""

from __future__ import annotations

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
from dataclasses import dataclass
from pathlib import Path

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
def pg_database(name: str):
    """A freshly created and migrated PostgreSQL database, dropped afterwards. Yields its URL."""
    import psycopg

    admin = PG_ADMIN_URL.replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=bench_env(url), check=True)
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_child(module: str, *args: str, env: dict[str, str]) -> dict:
    """Run `python -m <module> --child <args>` (a benchmark's measuring half, in a process of its
    own with the settings in `env`) and return the JSON object it printed last."""
    proc = subprocess.run(
        [PYTHON, "-m", module, "--child", *args], cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


@contextlib.contextmanager
def gunicorn(env: dict[str, str], *, workers: int = 2, threads: int = 1, app: str = "wedsync_integrations.wsgi"):
    """Run gunicorn on a free port; yields the base URL. Waits until /healthz answers."""
    port = free_port()
    multiproc = tempfile.mkdtemp(prefix="wsi-prom-")
    env = {**env, "PROMETHEUS_MULTIPROC_DIR": multiproc}
    cmd = [
        PYTHON, "-m", "gunicorn", f"{app}:application", "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers), "--threads", str(threads), "--worker-class", "sync" if threads == 1 else "gthread",
        "--log-level", "warning", "--backlog", "2048", "--keep-alive", "5",
        "--config", str(ROOT / "wedsync_integrations" / "gunicorn_conf.py"),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(base + "/healthz", proc)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        shutil.rmtree(multiproc, ignore_errors=True)


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
