"""BI benchmark: executive metrics for 5,000 organisations for a month, and the Tableau extract build.

    python -m bench bi        (or: python -m bench bi --orgs 5000 --rows 1000000)

1. Metrics. On a fresh PostgreSQL database, 5,000 organisations have a month of hourly rollups
   (June 2026: each organisation active 6 hours a day, two feature/model rows per active hour, a
   wedding per active hour; 1.8 million rollup rows, 0.9 million wedding keys). Measured in the
   same run, best of ROUNDS:

     metrics    bi.metrics.refresh() from nothing: every organisation's and the platform's 30 London
                days and the month, every documented formula, the feature breakdowns, the gates, the
                digests, stored (what the BI tools then read)
     baseline   a plain aggregation of the same rollups at the grains the metrics are reported at: SUM
                of every counter per organisation and London day, per organisation, day and feature
                (the breakdown), and per organisation for the month, fetched (no formulas, no hourly
                figures, no distinct weddings, no gates, nothing stored). The report also gives the
                totals alone (day and month, without the breakdown) and that ratio.

   Goal (issue 12): metrics ≤ 5 × baseline. Wall time: both are mostly database work.

2. Tableau extract. The metrics columns (bi/schema.py) for ROWS generated rows, written
     hyper      as a .hyper file by Tableau's engine (bi/hyper.py: what a publish uploads)
     csv        as CSV with the standard library's csv module (the baseline)
   Both consume the same row generator; the generator's own time is measured and reported too.
   No goal: the issue asks for both figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from bench.common import bench_env, pg_database, report, run_child

DATABASE = "wsi_bench_bi"
ORGANISATIONS = 5000
ROWS = 1_000_000
ROUNDS = 2
GOAL = 5.0
MONTH = date(2026, 6, 1)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench bi")
    parser.add_argument("--orgs", type=int, default=ORGANISATIONS)
    parser.add_argument("--rows", type=int, default=ROWS, help="rows in the extract build")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_measure(args.orgs, args.rows)))
        return 0
    with pg_database(DATABASE) as url:
        result = run_child("bench.bench_bi", "--orgs", str(args.orgs), "--rows", str(args.rows), env=bench_env(url))
    return 0 if _report(result) else 1


# -- the measuring child ---------------------------------------------------------------------------
def _measure(organisations: int, rows: int) -> dict:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wedsync_integrations.settings")
    django.setup()
    results = {"organisations": organisations, **_seed(organisations)}
    results["metrics"] = _measure_metrics()
    results["extract"] = _measure_extract(rows)
    return results


def _seed(organisations: int) -> dict:
    """A month of rollups, set-based in PostgreSQL (seconds, not minutes of ORM inserts)."""
    from django.db import connection

    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO tenants_organisation (slug, name, vendor_type, country, currency, timezone,
                   vat_registered, vat_number, minutes_saved_per_request, value_per_request_gbp, revenue_multiplier,
                   retention_uplift_percent, is_active, created_at, updated_at)
               SELECT 'bench-' || g, 'Bench organisation ' || g, 'photographer', 'GB', 'GBP', 'Europe/London',
                   false, '', 15, 2.50, 4, 15, true, now(), now() FROM generate_series(1, %s) g""",
            [organisations],
        )
        # June 2026 in London: 2026-05-31 23:00 UTC to 2026-06-30 23:00 UTC; 6 active hours a day each
        cursor.execute(
            """INSERT INTO usage_usagerollup (organisation_id, hour, feature, provider, model, requests, errors,
                   prompt_tokens, completion_tokens, cost_usd, cost_gbp, unpriced_requests, latency_sum_ms,
                   latency_min_ms, latency_max_ms, latency_p50_ms, latency_p95_ms, weddings_assisted,
                   wedding_requests, quality_sum, quality_count, computed_at)
               SELECT o.id, h, f.feature, 'openai', f.model, 10 + (o.id + n) % 30, (o.id + n) % 3,
                   9000, 2500, 0.250000, 0.197500, 0, 9000 + (o.id % 50) * 100, 200, 4000, 800, 2400, 1,
                   5, 8.5, 10, now()
               FROM tenants_organisation o
               CROSS JOIN generate_series(0, 719) n
               CROSS JOIN LATERAL (SELECT TIMESTAMPTZ '2026-05-31 23:00:00+00' + n * INTERVAL '1 hour' AS h) t
               CROSS JOIN (VALUES ('email_template', 'gpt-4o-mini'), ('content_writing', 'claude-3-5-haiku'))
                   AS f(feature, model)
               WHERE (o.id + n) % 4 = 0"""
        )
        cursor.execute(
            """INSERT INTO usage_rollupwedding (organisation_id, hour, wedding_key)
               SELECT DISTINCT organisation_id, hour, 'w' || (organisation_id * 7 + (EXTRACT(day FROM hour)::int % 5))
               FROM usage_usagerollup"""
        )
        cursor.execute("ANALYZE")
        cursor.execute("SELECT COUNT(*) FROM usage_usagerollup")
        rollups = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM usage_rollupwedding")
        weddings = cursor.fetchone()[0]
    return {"rollup_rows": rollups, "wedding_rows": weddings, "seed_seconds": round(time.monotonic() - started, 1)}


def _reset_metrics() -> None:
    from django.core.cache import cache
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE bi_featureusage, bi_executivemetrics, bi_refreshstate")
    cache.clear()


def _measure_metrics() -> dict:
    from bi import metrics
    from bi.models import ExecutiveMetrics, FeatureUsage

    now = datetime(2026, 7, 1, 0, 5, tzinfo=UTC)  # June (London) has ended and every hour is clean
    real, baseline, totals_only = [], [], []
    for _ in range(ROUNDS):
        _reset_metrics()
        started = time.monotonic()
        result = metrics.refresh(now)
        real.append(time.monotonic() - started)
        started = time.monotonic()
        plain = _plain_aggregation()
        baseline.append(time.monotonic() - started)
        started = time.monotonic()
        _plain_aggregation(with_breakdown=False)
        totals_only.append(time.monotonic() - started)
    return {
        "seconds": round(min(real), 3),
        "baseline_seconds": round(min(baseline), 3),
        "totals_only_seconds": round(min(totals_only), 3),
        "rows": ExecutiveMetrics.objects.count(),
        "feature_rows": FeatureUsage.objects.count(),
        "days": result.days,
        "baseline_groups": plain,
        "all_passed_gates": not ExecutiveMetrics.objects.filter(gate_passed=False).exists(),
    }


COUNTERS = ("requests", "errors", "prompt_tokens", "completion_tokens", "cost_gbp", "cost_usd", "unpriced_requests",
            "latency_sum_ms", "quality_sum", "quality_count", "wedding_requests")  # fmt: skip


def _plain_aggregation(*, with_breakdown: bool = True) -> int:
    """SUM of every rollup counter at the grains the metrics are reported at: per organisation and London
    day, per organisation, London day and feature (the breakdown), per organisation for the month.
    Without the breakdown: the two totals only. Fetched into Python; nothing derived or stored."""
    from django.db.models import Sum
    from django.db.models.functions import TruncDate

    from wedsync_integrations.calendar import LONDON, london_day_bounds
    from wedsync_integrations.usage.models import UsageRollup

    start, end = london_day_bounds(MONTH)[0], london_day_bounds(date(2026, 7, 1))[0]
    sums = {f"s_{name}": Sum(name) for name in COUNTERS}
    month = UsageRollup.objects.filter(hour__gte=start, hour__lt=end).annotate(day=TruncDate("hour", tzinfo=LONDON))
    groups = len(list(month.values_list("organisation_id", "day").annotate(**sums).order_by()))
    groups += len(list(month.values_list("organisation_id").annotate(**sums).order_by()))
    if with_breakdown:
        groups += len(list(month.values_list("organisation_id", "day", "feature").annotate(**sums).order_by()))
    return groups


def _rows(count: int):
    """Metric rows as an extract carries them (values vary so neither format can cheat)."""
    base = datetime(2026, 6, 1, tzinfo=UTC)
    for n in range(count):
        day = MONTH + timedelta(days=n % 30)
        yield {
            "row_key": f"org:{n % 5000}:day:{day.isoformat()}", "scope": "organisation",
            "organisation_slug": f"bench-{n % 5000}", "organisation_name": f"Bench organisation {n % 5000}",
            "period": "day", "period_start": day, "period_end": day + timedelta(days=1), "season": "peak",
            "is_complete": True, "as_of": base + timedelta(days=n % 30 + 1), "requests": 100 + n % 97,
            "errors": n % 7, "tokens": 100_000 + n, "ai_cost_gbp": Decimal(n % 10_000) / 1000,
            "ai_cost_usd": Decimal(n % 10_000) / 800, "cost_per_wedding_gbp": None if n % 5 else Decimal("1.2345"),
            "value_generated_gbp": Decimal(250 + n % 100), "roi_percent": 1000.0 + n % 13,
            "cost_trend_30d_percent": (n % 41) - 20.0, "active_vendors": 1, "vendors_total": 1,
            "adoption_rate_percent": 100.0, "weddings_ai_assisted": n % 4, "wedding_requests": n % 11,
            "efficiency_gain_hours": 25.0 + n % 9, "client_satisfaction_percent": 85.0 + n % 10,
            "peak_season_readiness_percent": 99.0, "capacity_utilisation_percent": 40.0 + n % 50,
            "seasonal_cost_variation_percent": 3.5, "uptime_percent": 100.0, "avg_response_ms": 900.0 + n % 300,
            "error_rate_percent": (n % 7) / 1.0, "staff_competitive_position": None,
            "staff_feature_parity_percent": None, "computed_at": base,
        }  # fmt: skip


def _measure_extract(count: int) -> dict:
    from bi import hyper
    from bi.schema import METRIC_COLUMNS

    names = [column.name for column in METRIC_COLUMNS]
    started = time.monotonic()
    for _ in _rows(count):
        pass
    generate = time.monotonic() - started
    with tempfile.TemporaryDirectory(prefix="wsi-bench-bi-") as directory:
        csv_path = Path(directory) / "metrics.csv"
        started = time.monotonic()
        with csv_path.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=names)
            writer.writeheader()
            writer.writerows(_rows(count))
        csv_seconds = time.monotonic() - started
        hyper_path = Path(directory) / "metrics.hyper"
        hyper.build(hyper_path, METRIC_COLUMNS, [])  # start the engine outside the measurement
        started = time.monotonic()
        hyper.build(hyper_path, METRIC_COLUMNS, _rows(count))
        hyper_seconds = time.monotonic() - started
        read_back = len(hyper.read(hyper_path)) if count <= 1_000_000 else None
        return {
            "rows": count,
            "hyper_seconds": round(hyper_seconds, 2),
            "csv_seconds": round(csv_seconds, 2),
            "generate_seconds": round(generate, 2),
            "hyper_bytes": hyper_path.stat().st_size,
            "csv_bytes": csv_path.stat().st_size,
            "read_back": read_back,
        }


# -- the report -----------------------------------------------------------------------------------------
def _report(result: dict) -> bool:
    metrics, extract = result["metrics"], result["extract"]
    ratio = metrics["seconds"] / metrics["baseline_seconds"]
    rows = [
        ("organisations", f"{result['organisations']:,}"),
        ("rollup rows (June 2026)", f"{result['rollup_rows']:,} (+{result['wedding_rows']:,} wedding keys)"),
        (
            "metrics: refresh from nothing",
            f"{metrics['seconds']:.2f} s — {metrics['rows']:,} rows "
            f"({metrics['days']} days + month, every scope), "
            f"{metrics['feature_rows']:,} breakdown rows, stored",
        ),  # fmt: skip
        (
            "baseline: plain aggregation",
            f"{metrics['baseline_seconds']:.2f} s — {metrics['baseline_groups']:,} groups (day, day × feature, month)",
        ),  # fmt: skip
        ("ratio", f"{ratio:.2f}×"),
        (
            "  (totals only: day, month)",
            f"{metrics['totals_only_seconds']:.2f} s, ratio {metrics['seconds'] / metrics['totals_only_seconds']:.2f}×",
        ),  # fmt: skip
        ("all rows passed the gates", str(metrics["all_passed_gates"])),
        (
            f"extract: .hyper, {extract['rows']:,} rows",
            f"{extract['hyper_seconds']:.2f} s, {extract['hyper_bytes'] / 1e6:.1f} MB",
        ),  # fmt: skip
        (
            f"extract: CSV, {extract['rows']:,} rows",
            f"{extract['csv_seconds']:.2f} s, {extract['csv_bytes'] / 1e6:.1f} MB",
        ),  # fmt: skip
        ("extract: hyper / csv", f"{extract['hyper_seconds'] / extract['csv_seconds']:.2f}×"),
        ("row generation (in both)", f"{extract['generate_seconds']:.2f} s"),
        ("extract read back", f"{extract['read_back']:,} rows" if extract["read_back"] is not None else "-"),
    ]
    return report(
        "BI: executive metrics and the Tableau extract",
        rows,
        verdicts=[(f"metrics ≤ {GOAL:g} × the plain aggregation ({ratio:.2f}×)", ratio <= GOAL)],
    )


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
