"""Operations dashboard benchmark: `/admin/console/` with 100,000 sync-log rows and 1,000
organisations, on PostgreSQL.

    python -m bench dashboard          (or: python -m bench.bench_dashboard [--logs 100000 --organisations 1000])

A fresh database holds 1,000 organisations with three integrations each (monitoring, alerts,
accounting), 60 of them stopped and 40 with dead items; 100,000 sync-log rows over the last
60 hours spread over the families; 20,000 retry items (delivered, pending, dead); 2,000 alerts
over 30 days (100 still open); 20,000 inbound webhooks and 2,000 rejected attempts; 30 days of
hourly AI-usage rollups (120,000 rows) and 500 records waiting for an exchange rate.

The page is requested through Django's test client as a signed-in superuser, in one process with
the real middleware, templates and a local-memory cache:
- cold: the charts' cache emptied before each request, so every trend is computed;
- warm: the charts cached (what a second person, or a refresh within a minute, gets); what needs
  a person is read live either way.
The queries of one request are counted.

Baseline in the same run: the stock admin index page (session, permissions, the app list:
Django's own floor for an admin page) and the sync log's admin list (what staff opened before
the dashboard). Goal (issue 13): under 300 ms.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import time
from datetime import timedelta

from bench.common import PYTHON, ROOT, bench_env, percentile, pg_database, report

DATABASE = "wsi_bench_dashboard"
LOGS = 100_000
ORGANISATIONS = 1_000
REQUESTS = 30
GOAL_MS = 300.0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench dashboard")
    parser.add_argument("--logs", type=int, default=LOGS)
    parser.add_argument("--organisations", type=int, default=ORGANISATIONS)
    parser.add_argument("--requests", type=int, default=REQUESTS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_measure(args.logs, args.organisations, args.requests)))
        return 0
    env = bench_env("", CACHE_URL="locmemcache://", ALLOWED_HOSTS="testserver,localhost")
    with pg_database(DATABASE, env=env) as url:
        child = [PYTHON, "-m", "bench.bench_dashboard", "--child", "--logs", str(args.logs),
                 "--organisations", str(args.organisations), "--requests", str(args.requests)]  # fmt: skip
        proc = subprocess.run(child, cwd=ROOT, env={**env, "DATABASE_URL": url}, check=True,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    return 0 if _report(json.loads(proc.stdout.strip().splitlines()[-1])) else 1


# -- the measuring child --------------------------------------------------------------------------
def _measure(logs: int, organisations: int, requests: int) -> dict:
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.cache import cache
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    call_command("collectstatic", interactive=False, verbosity=0)  # DEBUG off: pages name hashed files
    seeded = _seed(logs, organisations)
    user = User.objects.create_superuser("bench", "bench@example.com", "bench-password-1")
    client = Client()
    client.force_login(user)

    def timed(path: str, *, cold: bool) -> list[float]:
        client.get(path)  # warm the connection, templates and session
        times = []
        for _ in range(requests):
            if cold:
                cache.clear()
                client.force_login(user)  # the session lives in the database: clearing keeps it
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        return times

    def queries(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            client.get(path)
        return len(captured.captured_queries)

    cache.clear()
    cold_queries = queries("/admin/console/")
    page = client.get("/admin/console/").content.decode()
    return {
        "seeded": seeded,
        "cold": timed("/admin/console/", cold=True),
        "warm": timed("/admin/console/", cold=False),
        "index": timed("/admin/", cold=False),
        "sync_log_list": timed("/admin/monitoring/monitoringsynclog/", cold=False),
        "queries_cold": cold_queries,
        "queries_warm": queries("/admin/console/"),
        "shows": {"open_alerts": page.count('<tr id="alert-'), "integrations": page.count('<tr id="integration-')},
    }


def _seed(logs: int, organisations: int) -> dict:
    from django.utils import timezone

    from wedsync_integrations.integrations.registry import get_family
    from wedsync_integrations.tenants.models import Organisation

    rng = random.Random(13)
    now = timezone.now()
    orgs = Organisation.objects.bulk_create(
        [Organisation(slug=f"bench-{n}", name=f"Bench Organisation {n}") for n in range(organisations)]
    )
    configs = _seed_configs(orgs, now, rng)
    families = [get_family(name) for name in ("monitoring", "alerts", "accounting", "crm", "bi")]
    _seed_sync_logs(families, orgs, logs, now, rng)
    _seed_retry_items(families, orgs, configs, now, rng)
    _seed_alerts(orgs, now, rng)
    _seed_webhooks(orgs, now, rng)
    _seed_usage(orgs, now, rng)
    return {"organisations": organisations, "sync_logs": logs, "configs": sum(len(c) for c in configs.values())}


_PROVIDERS = {"monitoring": "datadog", "alerts": "slack", "accounting": "xero"}


def _seed_configs(orgs, now, rng) -> dict[str, list]:
    from wedsync_integrations.integrations.registry import get_family
    from wedsync_integrations.integrations.states import ConfigStatus

    made = {}
    for family_name, provider in _PROVIDERS.items():
        model = get_family(family_name).config_model
        rows = []
        for n, org in enumerate(orgs):
            stopped = n % 50 == 7  # 20 per family: 60 stopped configurations
            rows.append(
                model(
                    organisation=org,
                    provider=provider,
                    settings={},
                    secrets={},
                    status=ConfigStatus.STOPPED if stopped else ConfigStatus.ACTIVE,
                    status_reason="HTTP 401: the vendor refused the credentials" if stopped else "",
                    last_error_at=now - timedelta(minutes=rng.randint(1, 600)) if stopped else None,
                )
            )
        made[family_name] = model.objects.bulk_create(rows, batch_size=2000)
    return made


def _seed_sync_logs(families, orgs, logs: int, now, rng) -> None:
    from wedsync_integrations.integrations.states import SyncOutcome

    outcomes = (
        [SyncOutcome.SUCCESS] * 90 + [SyncOutcome.RETRYING] * 6 + [SyncOutcome.FAILED] * 3 + [SyncOutcome.SKIPPED]
    )
    per_family = logs // len(families)
    for family in families:
        model = family.sync_log_model
        rows = [
            model(
                organisation=rng.choice(orgs),
                provider="x",
                operation="export",
                started_at=now - timedelta(seconds=rng.randint(0, 60 * 3600)),
                outcome=rng.choice(outcomes),
                items=rng.randint(1, 500),
                duration_ms=rng.randint(20, 900),
            )
            for _ in range(per_family)
        ]
        model.objects.bulk_create(rows, batch_size=5000)


def _seed_retry_items(families, orgs, configs, now, rng) -> None:
    from wedsync_integrations.integrations.states import RetryState

    for family in families:
        model = family.retry_model
        rows = []
        for n in range(4000):
            created = now - timedelta(seconds=rng.randint(60, 50 * 3600))
            state = RetryState.SUCCEEDED if n % 20 else RetryState.PENDING
            rows.append(
                model(
                    organisation=rng.choice(orgs),
                    provider="x",
                    operation="export",
                    payload={},
                    state=state,
                    attempts=1,
                    created_at=created,
                    succeeded_at=created + timedelta(seconds=30) if state == RetryState.SUCCEEDED else None,
                )
            )
        model.objects.bulk_create(rows, batch_size=5000)
    # dead items on 40 configurations (of the first two families)
    for family_name in ("monitoring", "alerts"):
        family = next(f for f in families if f.name == family_name)
        for config in configs[family_name][3::50][:20]:
            family.retry_model.objects.create(
                organisation=config.organisation,
                provider=config.provider,
                operation="export",
                payload={},
                state=RetryState.DEAD,
                attempts=10,
                created_at=now - timedelta(hours=3),
                last_attempt_at=now - timedelta(hours=1),
                last_error="HTTP 500",
            )


def _seed_alerts(orgs, now, rng) -> None:
    from alerts.models import Alert, AlertStatus

    severities = ["low", "medium", "medium", "high", "high", "critical"]
    rows = []
    for n in range(2000):
        raised = now - timedelta(seconds=rng.randint(60, 30 * 86400))
        open_ = n < 100
        severity = rng.choice(severities)
        rows.append(Alert(organisation=rng.choice(orgs), title=f"Bench alert {n}: error rate above threshold",
                          severity=severity, effective_severity=severity, dedup_key=f"bench-{n}", raised_at=raised,
                          status=AlertStatus.TRIGGERED if open_ else AlertStatus.RESOLVED,
                          open_key=f"bench-{n}" if open_ else None,
                          acknowledged_at=None if open_ else raised + timedelta(minutes=rng.randint(1, 40)),
                          resolved_at=None if open_ else raised + timedelta(minutes=rng.randint(41, 200))))  # fmt: skip
    Alert.objects.bulk_create(rows, batch_size=2000)


def _seed_webhooks(orgs, now, rng) -> None:
    from webhooks.models import InboundEvent, RejectedAttempt

    sources = ["pagerduty", "slack", "datadog", "xero", "quickbooks"]
    InboundEvent.objects.bulk_create(
        [InboundEvent(source=rng.choice(sources), organisation=rng.choice(orgs), event_type="bench", external_id=str(n),
                      dedupe_key=f"{n:064d}", payload={}, status="processed",
                      received_at=now - timedelta(seconds=rng.randint(0, 50 * 3600))) for n in range(20_000)],
        batch_size=5000,
    )  # fmt: skip
    RejectedAttempt.objects.bulk_create(
        [RejectedAttempt(source=rng.choice(sources), reason="bad_signature",
                         at=now - timedelta(seconds=rng.randint(0, 50 * 3600))) for _ in range(2000)]
    )  # fmt: skip


def _seed_usage(orgs, now, rng) -> None:
    from decimal import Decimal

    from wedsync_integrations.usage.models import AIUsageRecord, UsageRollup

    hour0 = now.replace(minute=0, second=0, microsecond=0)
    rows = []
    for org in orgs:
        for day in range(30):
            for hour in (9, 12, 15, 19):
                cost = Decimal(rng.randint(1, 5000)) / 1000
                rows.append(UsageRollup(organisation=org, hour=hour0 - timedelta(days=day, hours=hour),
                                        feature="chat", provider="openai", model="gpt-4o", requests=rng.randint(1, 400),
                                        errors=0, prompt_tokens=1000, completion_tokens=500, cost_usd=cost,
                                        cost_gbp=cost * Decimal("0.79"), latency_sum_ms=1000, latency_max_ms=900,
                                        latency_p50_ms=300, latency_p95_ms=800, weddings_assisted=1,
                                        wedding_requests=1))  # fmt: skip
    UsageRollup.objects.bulk_create(rows, batch_size=5000)
    AIUsageRecord.objects.bulk_create(
        [
            AIUsageRecord(
                organisation=rng.choice(orgs),
                request_id=f"pending-{n}",
                occurred_at=now - timedelta(hours=n % 40),
                hour=hour0 - timedelta(hours=n % 40),
                feature="chat",
                provider="openai",
                model="gpt-4o",
                latency_ms=300,
                cost_usd=Decimal("0.01"),
                outcome="success",
            )
            for n in range(500)
        ]
    )


# -- the report ---------------------------------------------------------------------------------------
def _report(result: dict) -> bool:
    def figures(times: list[float]) -> str:
        return f"median {statistics.median(times):.0f} ms, p95 {percentile(times, 95):.0f} ms"

    cold, warm = result["cold"], result["warm"]
    index, listing = statistics.median(result["index"]), statistics.median(result["sync_log_list"])
    seeded, shows = result["seeded"], result["shows"]
    rows = [
        ("data", f"{seeded['organisations']:,} organisations, {seeded['configs']:,} configurations, "
                 f"{seeded['sync_logs']:,} sync-log rows"),  # fmt: skip
        ("shows", f"{shows['open_alerts']} open alerts, {shows['integrations']} integrations to fix"),
        ("dashboard, charts computed (cold)", f"{figures(cold)}; {result['queries_cold']} queries"),
        ("dashboard, charts cached (warm)", f"{figures(warm)}; {result['queries_warm']} queries"),
        ("baseline: admin index", figures(result["index"])),
        ("baseline: sync log admin list", figures(result["sync_log_list"])),
        ("ratio to the admin index (cold / warm)",
         f"{statistics.median(cold) / index:.1f}× / {statistics.median(warm) / index:.1f}×"),
        ("ratio to the sync log list (cold / warm)",
         f"{statistics.median(cold) / listing:.2f}× / {statistics.median(warm) / listing:.2f}×"),
    ]  # fmt: skip
    verdicts = [
        (f"cold p95 under {GOAL_MS:.0f} ms", percentile(cold, 95) < GOAL_MS),
        (f"warm p95 under {GOAL_MS:.0f} ms", percentile(warm, 95) < GOAL_MS),
    ]
    return report("dashboard: /admin/console/", rows, verdicts=verdicts)


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
