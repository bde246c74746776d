"""`manage.py run_demo`: the whole service on the embedded default, vendors played by the sandbox.

Migrates, seeds the demo (first run only), prints an admin login and an ingest token, starts
the vendor sandbox, the web server (gunicorn), a Celery worker and Celery beat, points every
demo integration at the sandbox, and keeps them running until Ctrl-C. `--smoke N` runs for N
seconds, checks that the service answers and that vendors received requests, then stops
(the end-to-end test of this command uses it).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from wedsync_integrations.core.demo_data import example_record
from wedsync_integrations.core.processes import die_with_parent

ROOT = Path(settings.BASE_DIR)
DEMO_CONFIG = ROOT / "demo" / "integrations.json"


def _ensure_free(port: int, what: str) -> None:
    """Fail before migrating or seeding anything if a port is taken (often a demo still running)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is not "taken"
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            raise CommandError(
                f"port {port} ({what}) is already in use: is another demo still running? "
                "Stop it, or run the demo on other ports: "
                ".venv/bin/python manage.py run_demo --port 8001 --sandbox-port 8901"
            ) from None


class Command(BaseCommand):
    help = "Run web + Celery worker + beat + vendor sandbox on the embedded default, with demo data."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--sandbox-port", type=int, default=8900)
        parser.add_argument("--days", type=int, default=None,
                            help="days of demo usage to seed on first run (default 30, or from last month's start)")
        parser.add_argument("--smoke", type=int, default=0, metavar="SECONDS",
                            help="run for SECONDS, verify the service end to end, then stop")  # fmt: skip

    def handle(self, *args, port, sandbox_port, days, smoke, **options):
        _ensure_free(port, "web, --port")
        _ensure_free(sandbox_port, "vendor sandbox, --sandbox-port")
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        web_url = f"http://127.0.0.1:{port}"
        env = self._child_env(sandbox_url, web_url)
        processes = []
        try:
            self._prepare(days)
            password = self._admin_login()
            token = self._ingest_token()
            processes.append(self._start("sandbox", [sys.executable, "-m", "wedsync_integrations.sandbox",
                                                     "--port", str(sandbox_port)], env))  # fmt: skip
            self._wait(sandbox_url + "/__sandbox/health", processes)
            self._apply_demo_integrations(sandbox_url)
            self._connect_demo_ledgers(sandbox_url)
            processes.append(self._start("web", self._gunicorn(port), env))
            processes.append(self._start("worker", self._celery("worker", "-c", "2", "-l", "INFO"), env))
            processes.append(self._start("beat", self._celery("beat", "-l", "INFO"), env))
            self._wait(web_url + "/healthz", processes)
            self._export_last_month()
            self._banner(web_url, sandbox_url, password, token)
            if smoke:
                self._smoke(web_url, sandbox_url, token, smoke, processes)
            else:
                self._supervise(processes)
        except KeyboardInterrupt:
            # Ctrl-C while migrating, seeding or starting (once running, _supervise handles it)
            raise CommandError(
                "interrupted: everything the demo started is stopped; `make demo` starts again "
                "(a seed that did not finish is redone)"
            ) from None
        finally:
            self._stop(processes)
            # the web workers' metric files: a fresh directory per run, nothing to keep
            shutil.rmtree(env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)

    # -- set-up ----------------------------------------------------------------------------------
    def _child_env(self, sandbox_url: str, web_url: str) -> dict:
        allow = {"127.0.0.1", "localhost", *settings.OUTBOUND_URL_ALLOWLIST}
        # this process validates the demo config too, so it needs the same allowlist
        settings.OUTBOUND_URL_ALLOWLIST = sorted(allow)
        # and so does a manage.py command run by hand against the demo (shown in the banner)
        self._allowlist = ",".join(sorted(allow))
        multiproc = Path(tempfile.mkdtemp(prefix="wsi-demo-prom-"))
        return {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "wedsync_integrations.settings",
            "OUTBOUND_URL_ALLOWLIST": self._allowlist,
            "SANDBOX_URL": sandbox_url,
            "PUBLIC_BASE_URL": web_url,
            "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
            "PYTHONUNBUFFERED": "1",
            # months close at once, so the CRMs show last month's value report on the first start
            "CRM_MONTH_CLOSE_DAYS": os.environ.get("CRM_MONTH_CLOSE_DAYS", "0"),
        }

    def _prepare(self, days: int | None) -> None:
        self.stdout.write("Migrating the database ...")
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        from wedsync_integrations.usage.models import AIUsageRecord

        if not AIUsageRecord.objects.exists():
            self.stdout.write("Seeding demo data (first run only) ...")
            call_command("seed_demo", days=days, stdout=self.stdout)

    def _admin_login(self) -> str:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group

        user, _ = get_user_model().objects.get_or_create(username="admin", defaults={"email": "admin@example.com"})
        password = secrets.token_urlsafe(12)
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        on_call = Group.objects.filter(name="On-call").first()
        if on_call:
            user.groups.add(on_call)
        return password

    def _ingest_token(self) -> str:
        from wedsync_integrations.tenants.models import Organisation
        from wedsync_integrations.usage.tokens import issue_token

        organisation = Organisation.objects.order_by("slug").first()
        return issue_token(organisation, created_by="run_demo") if organisation else ""

    def _apply_demo_integrations(self, sandbox_url: str) -> None:
        from wedsync_integrations.integrations import config_io

        text = DEMO_CONFIG.read_text().replace("${SANDBOX_URL}", sandbox_url)
        report = config_io.apply(json.loads(text), actor="cli:run_demo")
        self.stdout.write(f"Demo integrations pointed at the sandbox: {report.lines()[-1]}")
        for note in report.notes:  # e.g. a configuration stopped by an earlier run: it sends nothing until resumed
            self.stdout.write(self.style.WARNING(f"  note: {note}"))

    def _connect_demo_ledgers(self, sandbox_url: str) -> None:
        """Connect the demo's ledgers headlessly: each accounting configuration gets a refresh token
        the sandbox's authorization server issues (its OAuth playground), as `integrations apply`
        would set one from a vendor's playground; the service renews it at its first call. The
        sandbox forgets its tokens when it stops, so every start connects again."""
        from wedsync_integrations.integrations import config_io
        from wedsync_integrations.integrations.models import ConfigStatus, CredentialStatus
        from wedsync_integrations.integrations.outbox import resume_config
        from wedsync_integrations.integrations.registry import get_family

        family = get_family("accounting")
        organisations: dict[str, list] = {}
        connected: list[int] = []
        for config in family.config_model.objects.select_related("organisation").order_by("organisation__slug"):
            if not config.settings.get("base_url", "").startswith(sandbox_url):
                continue  # not a demo ledger: leave it alone
            playground = {"issue_refresh_token": {"client_id": config.secrets.get("client_id", "")}}
            token = json.loads(self._post(f"{sandbox_url}/{config.provider}/__oauth", playground))["refresh_token"]
            integration = {"family": family.name, "provider": config.provider, "secrets": {"refresh_token": token}}
            organisations.setdefault(config.organisation.slug, []).append(integration)
            connected.append(config.pk)
        if not organisations:
            return
        slugs = [{"slug": slug, "integrations": items} for slug, items in organisations.items()]
        config_io.apply({"organisations": slugs}, actor="cli:run_demo")
        # one stopped for want of a connection (the previous sandbox's grant) carries on, as a
        # "Connect" in admin would have it
        lost = family.config_model.objects.filter(
            status=ConfigStatus.STOPPED, credential_status=CredentialStatus.RECONNECT, pk__in=connected
        )
        for config in lost:
            resume_config(config)
        self.stdout.write(f"Demo ledgers connected to the sandbox: {len(connected)}")

    @staticmethod
    def _post(url: str, body: dict) -> bytes:
        request = urllib.request.Request(  # noqa: S310 (the local sandbox)
            url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
            return reply.read()

    def _export_last_month(self) -> None:
        """Beat exports closed months each morning; the demo asks the worker for it once at start."""
        from wedsync_integrations.celery import app

        app.send_task("accounting.month_end")

    # -- processes -------------------------------------------------------------------------------
    def _gunicorn(self, port: int) -> list[str]:
        return [sys.executable, "-m", "gunicorn", "wedsync_integrations.wsgi:application",
                "--bind", f"127.0.0.1:{port}", "--workers", "2", "--log-level", "warning",
                "--config", str(ROOT / "wedsync_integrations" / "gunicorn_conf.py")]  # fmt: skip

    def _celery(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "celery", "-A", "wedsync_integrations", *args]

    def _start(self, name: str, cmd: list[str], env: dict) -> tuple[str, subprocess.Popen]:
        self.stdout.write(f"Starting {name} ...")
        # Its own session (Ctrl-C reaches only us, and we stop the children in order), and it
        # dies with us if we are killed outright, so no orphan keeps the demo's ports.
        return name, subprocess.Popen(  # noqa: S603 (our own commands)
            cmd, cwd=ROOT, env=env, start_new_session=True, preexec_fn=die_with_parent()
        )

    def _wait(self, url: str, processes, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._check_alive(processes)
            try:
                with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (local demo URL)
                    return
            except OSError:
                time.sleep(0.3)
        raise CommandError(f"{url} did not answer within {timeout:.0f}s")

    @staticmethod
    def _check_alive(processes) -> None:
        for name, proc in processes:
            if proc.poll() is not None:
                raise CommandError(f"{name} exited unexpectedly with code {proc.returncode}")

    def _supervise(self, processes) -> None:
        stop = {"now": False}
        for sig in (signal.SIGTERM, signal.SIGHUP):  # kill, or the terminal closed
            signal.signal(sig, lambda *_: stop.update(now=True))
        try:
            while not stop["now"]:
                self._check_alive(processes)
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        self.stdout.write("\nStopping ...")

    @staticmethod
    def _stop(processes) -> None:
        """Stop in reverse start order, each gracefully: beat first (no new work), the worker
        finishes its task (warm shutdown), then the web server, the sandbox last."""
        for _, proc in reversed(processes):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    # -- smoke check -----------------------------------------------------------------------------
    def _smoke(self, web_url: str, sandbox_url: str, token: str, seconds: int, processes) -> None:
        """Prove each process does its job: web ingests usage, the worker delivers an alert to
        the vendors (sandbox), beat has sent its scheduled tasks, and /readyz is green."""
        from wedsync_integrations.sandbox.client import SandboxClient

        deadline = time.monotonic() + seconds
        checks = {"web ingests usage": self._smoke_ingest(web_url, token)}
        hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        alert_paths = self._smoke_raise_alert()
        sandbox = SandboxClient(sandbox_url)
        seen: set[str] = set()
        while time.monotonic() < deadline:
            self._check_alive(processes)
            seen = {r.path for r in sandbox.requests()}
            delivered = all(any(path.startswith(p) for path in seen) for p in alert_paths)
            if delivered and self._beat_rolled_up(hour):
                break
            time.sleep(1)
        checks["worker delivers an alert to " + ", ".join(alert_paths)] = all(
            any(path.startswith(p) for path in seen) for p in alert_paths
        )
        checks["beat runs the scheduled rollup (the smoke record is counted)"] = self._beat_rolled_up(hour)
        with urllib.request.urlopen(web_url + "/readyz", timeout=5) as reply:  # noqa: S310 (local demo URL)
            checks["readyz"] = json.loads(reply.read())["status"] == "ready"
        for name, ok in checks.items():
            self.stdout.write(f"  [{'ok' if ok else 'FAILED'}] {name}")
        # vendor names only: a recorded path can carry a credential (Slack webhook URLs do)
        self.stdout.write("  vendors called: " + ", ".join(sorted({path.split("/")[1] for path in seen})))
        if not all(checks.values()):
            raise CommandError("smoke check failed")
        self.stdout.write(self.style.SUCCESS("smoke check passed"))

    def _smoke_ingest(self, web_url: str, token: str) -> bool:
        record = example_record(f"smoke-{uuid.uuid4().hex}")
        request = urllib.request.Request(  # noqa: S310 (local demo URL)
            web_url + "/api/v1/usage/",
            data=json.dumps({"records": [record]}).encode(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
            return json.loads(reply.read())["accepted"] == 1

    @staticmethod
    def _smoke_raise_alert() -> list[str]:
        from django.db import transaction
        from django.utils import timezone

        from alerts import lifecycle
        from wedsync_integrations.tenants.models import Organisation

        organisation = Organisation.objects.get(slug="cotswold-lens")
        with transaction.atomic():
            lifecycle.raise_alert(
                organisation=organisation, title="Demo smoke check", severity="critical",
                description="Raised by run_demo --smoke to prove the worker delivers alerts.",
                source="test", kind="test", dedup_key=f"smoke:{uuid.uuid4().hex}", impact="none: demo",
                at=timezone.now(), is_test=True,
            )  # fmt: skip
        return ["/slack/", "/pagerduty/", "/twilio/"]

    @staticmethod
    def _beat_rolled_up(hour) -> bool:
        """Only beat schedules the rollup task: once it has run, the hour the smoke record
        marked dirty is clean again and its rollup exists."""
        from wedsync_integrations.usage.models import RollupDirtyHour, UsageRollup

        clean = not RollupDirtyHour.objects.filter(hour=hour).exists()
        return clean and UsageRollup.objects.filter(hour=hour).exists()

    def _banner(self, web_url: str, sandbox_url: str, password: str, token: str) -> None:
        self.stdout.write(self.style.SUCCESS("\nWedSync Integrations is running on the embedded default"))
        self.stdout.write(f"  Admin:          {web_url}/admin/   user: admin   password: {password}")
        self.stdout.write(f"  Operations:     {web_url}/admin/console/  (what needs a person now, the trends)")
        self.stdout.write(f"  Health:         {web_url}/healthz  {web_url}/readyz")
        self.stdout.write(f"  Metrics:        {web_url}/metrics")
        self.stdout.write(f"  API schema:     {web_url}/api/schema/")
        self.stdout.write(f"  Vendor sandbox: {sandbox_url}/__sandbox/requests  (what the vendors received)")
        self.stdout.write(
            f"  Ledgers:        {sandbox_url}/quickbooks/__ledger  {sandbox_url}/xero/__ledger  "
            f"{sandbox_url}/freshbooks/__ledger  (last month's AI costs, once the worker has exported them)"
        )
        if token:
            # a real record, so the example shows the wire format; sending it twice shows the dedupe
            body = json.dumps({"records": [example_record(f"try-{uuid.uuid4().hex[:12]}")]})
            self.stdout.write(
                f"  Ingest token (shown once, replaced on each run): {token}\n"
                f"  Send usage:     curl -s -X POST {web_url}/api/v1/usage/ -H 'Authorization: Bearer {token}' "
                f"-H 'Content-Type: application/json' -d '{body}'"
            )
        # A command run by hand calls the vendors itself: without the sandbox allowed, the SSRF
        # guard refuses the call and the configuration stops.
        self.stdout.write(
            f"  Raise an alert: OUTBOUND_URL_ALLOWLIST={self._allowlist} .venv/bin/python manage.py "
            "alerts test --org cotswold-lens --severity critical"
        )
        self.stdout.write("  Ctrl-C stops everything.\n")
