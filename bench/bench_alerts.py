"""Alert delivery benchmark: from raising a critical Saturday alert to every channel's request
arriving at the vendor, with a real Celery worker, Redis broker and PostgreSQL.

    python -m bench alerts            (or: python -m bench.bench_alerts [--alerts 200])

On a fresh PostgreSQL database, one organisation with 23 weddings on a Saturday has all five
channels configured: Slack, Twilio, PagerDuty and the outbound webhook point at the vendor
sandbox (a separate process), email at a real local SMTP server (aiosmtpd). A Celery worker
subprocess (prefork, 5 processes) consumes from Redis (db 6).

For each of 200 alerts, one after the other: raise it in this process (routing, wedding
context, one outbox item per channel, committed, then one worker task per channel), and stop
the clock when the last of the five requests has arrived (sandbox receive time, SMTP DATA
time). "Saturday" is frozen by passing the instant to raise_alert (the routing input), not by
faking any clock, so the worker runs on real time.

Baseline in the same run: the round-trip of a no-op Celery task (delay → worker → result).
Goal (issue 5): p95 under 1 s.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

from bench.common import PYTHON, ROOT, bench_env, free_port, percentile, pg_database, report

DATABASE = "wsi_bench_alerts"
REDIS = os.environ.get("BENCH_ALERTS_REDIS", "redis://127.0.0.1:6379/6")
ALERTS = 200
PINGS = 50
GOAL_P95_SECONDS = 1.0
HTTP_CHANNELS = {"/slack/": "slack", "/twilio/": "sms", "/pagerduty/": "pagerduty", "/hooks/": "webhook"}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench alerts")
    parser.add_argument("--alerts", type=int, default=ALERTS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_measure(args.alerts)))
        return 0
    with pg_database(DATABASE) as url:
        proc = subprocess.run(
            [PYTHON, "-m", "bench.bench_alerts", "--child", "--alerts", str(args.alerts)],
            cwd=ROOT,
            env=_env(url),
            check=True,
            stdout=subprocess.PIPE,
            text=True,
        )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return 0 if _report(result) else 1


def _env(database_url: str, **extra) -> dict:
    return bench_env(
        database_url,
        CELERY_BROKER_URL=REDIS,
        CELERY_RESULT_BACKEND=REDIS,
        CACHE_URL=REDIS,
        OUTBOUND_URL_ALLOWLIST="127.0.0.1,localhost",
        EMAIL_BACKEND="django.core.mail.backends.smtp.EmailBackend",
        **extra,
    )


# -- the measuring child ----------------------------------------------------------------------------
class _Mailbox:
    """aiosmtpd handler: records when each message's DATA arrived."""

    def __init__(self):
        self.received: list[float] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received.append(time.time())
        return "250 Message accepted for delivery"


def _measure(alerts: int) -> dict:
    from aiosmtpd.controller import Controller

    mailbox = _Mailbox()
    smtp_port = free_port()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    os.environ.update(EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(smtp_port), EMAIL_TIMEOUT="5")
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wedsync_integrations.settings")
    django.setup()
    import redis

    from wedsync_integrations.sandbox.server import SandboxServer

    redis.Redis.from_url(REDIS).flushdb()  # this benchmark's own db: no stale tasks or locks
    try:
        with SandboxServer() as sandbox:
            organisation = _seed(sandbox)
            worker = _start_worker()
            try:
                pings = _ping_round_trips(PINGS)
                latencies, per_channel, missed = _raise_and_wait(organisation, sandbox, mailbox, alerts)
            finally:
                os.killpg(worker.pid, signal.SIGTERM)
                try:
                    worker.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(worker.pid, signal.SIGKILL)
    finally:
        smtp.stop()
    return {"alerts": alerts, "pings": pings, "latencies": latencies, "per_channel": per_channel, "missed": missed}


SATURDAY = "2026-06-13T13:02:00+00:00"  # 14:02 BST, peak season


def _seed(sandbox):
    from datetime import date

    from alerts.models import AlertConfig
    from wedsync_integrations.tenants.models import Organisation, Wedding

    organisation = Organisation.objects.create(slug="bench-acme", name="Bench Acme Photography")
    Wedding.objects.bulk_create(
        [Wedding(organisation=organisation, date=date(2026, 6, 13), venue=f"Venue {n}") for n in range(23)]
    )
    base = sandbox.url
    configs = {
        "slack": ({}, {"webhook_url": f"{base}/slack/services/T0001/B0001/benchbenchbenchbench"}),
        "email": ({"recipients": ["oncall@bench.example"], "management_recipients": ["boss@bench.example"]}, {}),
        "sms": (
            {"from_number": "+447700900001", "to_numbers": ["+447700900123"], "base_url": f"{base}/twilio"},
            {"account_sid": "AC" + "0" * 32, "auth_token": "bench-token-0001"},
        ),
        "pagerduty": ({"base_url": f"{base}/pagerduty"}, {"routing_key": "R" * 32}),
        "webhook": ({"url": f"{base}/hooks/bench"}, {"signing_secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
    }
    for provider, (settings, secrets) in configs.items():
        AlertConfig.objects.create(organisation=organisation, provider=provider, settings=settings, secrets=secrets)
    return organisation


def _start_worker() -> subprocess.Popen:
    cmd = [PYTHON, "-m", "celery", "-A", "wedsync_integrations", "worker", "--loglevel", "warning",
           "--concurrency", "5", "--pool", "prefork", "--without-gossip", "--without-mingle",
           "--without-heartbeat", "--prefetch-multiplier", "1"]  # fmt: skip
    worker = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ), start_new_session=True)
    from alerts.tasks import ping

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if worker.poll() is not None:
            raise RuntimeError(f"celery worker exited with {worker.returncode}")
        try:
            ping.delay().get(timeout=2)
            return worker
        except Exception:  # not consuming yet
            time.sleep(0.2)
    raise RuntimeError("celery worker did not answer a ping within 60 s")


def _ping_round_trips(count: int) -> list[float]:
    from alerts.tasks import ping

    times = []
    for _ in range(count):
        started = time.perf_counter()
        ping.delay().get(timeout=10)
        times.append(time.perf_counter() - started)
    return times


def _raise_and_wait(organisation, sandbox, mailbox, alerts: int):
    from datetime import datetime

    from django.db import transaction

    from alerts.lifecycle import raise_alert

    saturday = datetime.fromisoformat(SATURDAY)
    latencies: list[float] = []
    per_channel: dict[str, list[float]] = {name: [] for name in (*HTTP_CHANNELS.values(), "email")}
    missed = 0
    seq = max((r.seq for r in sandbox.requests()), default=0)
    for n in range(alerts):
        mails_before = len(mailbox.received)
        started = time.time()
        with transaction.atomic():  # workers are told on commit, as in production
            raise_alert(
                organisation=organisation,
                title=f"Bench alert {n}: payments AI failing",
                severity="critical",
                dedup_key=f"bench:{n}",
                impact="Deposits cannot be taken",
                at=saturday,
            )
        arrived = _wait_for_channels(sandbox, mailbox, seq, mails_before, deadline=started + 10)
        if arrived is None:
            missed += 1
        else:
            for channel, at in arrived.items():
                per_channel[channel].append(at - started)
            latencies.append(max(arrived.values()) - started)
        seq = max((r.seq for r in sandbox.requests()), default=seq)
    return latencies, per_channel, missed


def _wait_for_channels(sandbox, mailbox, seq: int, mails_before: int, *, deadline: float) -> dict | None:
    while time.time() < deadline:
        arrived = {}
        for request in sandbox.requests(since=seq):
            for prefix, channel in HTTP_CHANNELS.items():
                if request.path.startswith(prefix) and request.status and request.status < 300:
                    arrived.setdefault(channel, request.received_at.timestamp())
        with mailbox.lock:
            if len(mailbox.received) > mails_before:
                arrived["email"] = mailbox.received[mails_before]
        if len(arrived) == len(HTTP_CHANNELS) + 1:
            return arrived
        time.sleep(0.003)
    return None


# -- reporting ------------------------------------------------------------------------------------------
def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def _report(result: dict) -> bool:
    latencies, pings = result["latencies"], result["pings"]
    if not latencies:
        print("no alert completed")
        return False
    p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
    rows = [
        ("alerts raised (critical, Saturday, 5 channels)", str(result["alerts"])),
        ("completed within 10 s", f"{len(latencies)} ({result['missed']} missed)"),
        ("celery no-op round-trip p50 / p95", f"{_ms(percentile(pings, 50))} / {_ms(percentile(pings, 95))}"),
        ("raise → every channel received p50", _ms(p50)),
        ("raise → every channel received p95", _ms(p95)),
        ("raise → every channel received max", _ms(max(latencies))),
        ("mean", _ms(statistics.fmean(latencies))),
    ]
    for channel, values in result["per_channel"].items():
        if values:
            rows.append((f"  {channel} p50 / p95", f"{_ms(percentile(values, 50))} / {_ms(percentile(values, 95))}"))
    rows.append(("p95 / no-op round-trip p95", f"{p95 / max(percentile(pings, 95), 1e-9):.1f}×"))
    return report(
        "Alert delivery: raise → Slack, email, SMS, PagerDuty and webhook received",
        rows,
        verdicts=[(f"p95 under {GOAL_P95_SECONDS:.0f} s", p95 < GOAL_P95_SECONDS and result["missed"] == 0)],
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
