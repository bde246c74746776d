"""Scrape benchmark: /metrics/ai rendering 10,000 series, against prometheus_client's own rendering.

    python -m bench scrape        (or: python -m bench.bench_scrape [--orgs 100])

On a fresh PostgreSQL database, 100 organisations each have 9 feature/model series with rollups
in today's window: 100 × (9 × 11 + 1) = 10,000 series. Measured in the same run (median of
REPEATS):

  endpoint   GET /metrics/ai with the platform token through Django's full request stack: auth,
             the collector's queries over the rollups, building the metric families, rendering
  baseline   prometheus_client.generate_latest over an in-memory registry holding the very same
             metric families (already built: no database, no request) — the bytes are compared
             to prove both render the same 10,000 series

Goal (issue 3): endpoint ≤ 2 × baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from bench.common import bench_env, pg_database, report, run_child

DATABASE = "wsi_bench_scrape"
ORGANISATIONS = 100
GOAL = 2.0
REPEATS = 15
TOKEN = "bench-platform-scrape-token-0123456789"
SERIES = [
    (feature, provider, model)
    for feature in ("email_template", "form_generation", "content_writing")
    for provider, model in (("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet"), ("google", "gemini-flash"))
]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench scrape")
    parser.add_argument("--orgs", type=int, default=ORGANISATIONS)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_measure(args.orgs)))
        return 0
    with pg_database(DATABASE) as url:
        result = run_child(
            "bench.bench_scrape", "--orgs", str(args.orgs), env=bench_env(url, MONITORING_SCRAPE_TOKEN=TOKEN)
        )
    return 0 if _report(result) else 1


def _measure(organisations: int) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wedsync_integrations.settings")
    django.setup()
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone
    from prometheus_client import CollectorRegistry, generate_latest

    from monitoring.collector import AIMetricsCollector
    from monitoring.metrics import HOUR, floor_hour

    now = timezone.now()
    hour = floor_hour(now) - HOUR
    if hour.date() != now.date():  # 00:xx UTC: yesterday's hour is outside today's counters
        hour += HOUR
    _seed(organisations, hour)

    client = Client()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {TOKEN}", "HTTP_HOST": "127.0.0.1"}
    endpoint_times, body = [], b""
    for _ in range(REPEATS):
        started = time.perf_counter()
        response = client.get("/metrics/ai", **headers)
        endpoint_times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
        body = response.content
    with CaptureQueriesContext(connection) as queries:
        client.get("/metrics/ai", **headers)

    families = list(AIMetricsCollector().collect())

    class InMemory:
        def collect(self):
            return families

    registry = CollectorRegistry(auto_describe=False)
    registry.register(InMemory())
    baseline_times, baseline = [], b""
    for _ in range(REPEATS):
        started = time.perf_counter()
        baseline = generate_latest(registry)
        baseline_times.append(time.perf_counter() - started)
    series = sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))
    return {
        "organisations": organisations,
        "series": series,
        "bytes": len(body),
        "identical": body == baseline,
        "queries": len(queries),
        "endpoint": statistics.median(endpoint_times),
        "endpoint_best": min(endpoint_times),
        "baseline": statistics.median(baseline_times),
        "baseline_best": min(baseline_times),
    }


def _seed(organisations: int, hour) -> None:
    from decimal import Decimal

    from wedsync_integrations.tenants.models import Organisation
    from wedsync_integrations.usage.models import RollupWedding, UsageRollup

    orgs = Organisation.objects.bulk_create(
        [Organisation(slug=f"bench-venue-{n:03d}", name=f"Bench Venue {n}") for n in range(organisations)]
    )
    rollups = [
        UsageRollup(
            organisation=org, hour=hour, feature=feature, provider=provider, model=model,
            requests=50 + n, errors=n % 4, prompt_tokens=40_000 + n, completion_tokens=9_000,
            cost_usd=Decimal("1.250000"), cost_gbp=Decimal("0.987500"), latency_sum_ms=45_000 + n * 10,
            latency_max_ms=4_000, latency_p50_ms=760.0, latency_p95_ms=2_250.0, weddings_assisted=2,
            wedding_requests=12,
        )
        for org in orgs
        for n, (feature, provider, model) in enumerate(SERIES)
    ]  # fmt: skip
    UsageRollup.objects.bulk_create(rollups, batch_size=2000)
    RollupWedding.objects.bulk_create(
        [RollupWedding(organisation=org, hour=hour, wedding_key=f"2026-06-{d:02d}") for org in orgs for d in (13, 20)]
    )


def _report(result: dict) -> bool:
    ratio = result["endpoint"] / result["baseline"]
    rows = [
        ("series", f"{result['series']:,} ({result['organisations']} organisations), {result['bytes'] / 1e6:.2f} MB"),
        ("queries per scrape", str(result["queries"])),
        ("GET /metrics/ai (median)", f"{result['endpoint'] * 1000:.1f} ms (best {result['endpoint_best'] * 1000:.1f})"),
        ("generate_latest in-memory (median)", f"{result['baseline'] * 1000:.1f} ms "
         f"(best {result['baseline_best'] * 1000:.1f})"),
        ("ratio", f"{ratio:.2f} ×"),
        ("same bytes as the baseline", "yes" if result["identical"] else "NO"),
    ]  # fmt: skip
    verdicts = [
        (f"scrape ≤ {GOAL:g} × in-memory generate_latest ({ratio:.2f} ×)", ratio <= GOAL),
        ("the endpoint renders exactly the baseline's series", result["identical"]),
    ]
    return report("monitoring scrape: /metrics/ai at 10,000 series", rows, verdicts=verdicts)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
