"""Rollup benchmark: the full hourly rollup against a plain GROUP BY over the same rows.

    python -m bench rollup            (or: python -m bench.bench_rollup [--sizes 250000 1000000])

On a fresh PostgreSQL database it generates AI-usage records in SQL (generate_series), leaves
every (organisation, hour) dirty as ingest would, and times `update_rollups()` (p50/p95 and
distinct weddings included) against `SELECT organisation_id, hour, COUNT(*) … GROUP BY
organisation_id, hour` over the same rows, at 250,000 and 1,000,000 records.

The data is shaped like WedSync's usage and stored in arrival (time) order, as ingest leaves
it: 40 organisations over 14 days, busy 07:00–21:00 UTC; each organisation uses four of the
8 features, unevenly, each served by its usual model (98 %) or a fallback; log-normal latencies
around 800 ms, 3 % errors, a quarter of requests about one of the organisation's next
weddings (half of those linked to its Wedding row, half known only by a date it has no Wedding
row for). Both sizes cover
the same fortnight: the larger one is peak-season density.

The rollup is timed from empty rollup tables with every (organisation, hour) dirty (the median
of five runs), then once more replacing the rollups it made, then as rebuild_rollups() (which
also marks every hour itself). The plain GROUP BY is the median of five runs too.

Goals: rollup ≤ 5 × the plain GROUP BY at both sizes; growth from 250k to 1M no worse than
linear (time ratio ≤ size ratio, with 10 % allowance for timer noise).

Django is configured once per process, so the measuring runs in a child process pointed at the
benchmark database; this process only creates the database, starts the child and reports.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from bench.common import bench_env, pg_database, report, run_child

DATABASE = "wsi_bench_rollup"
SIZES = (250_000, 1_000_000)
ORGANISATIONS = 40
DAYS = 14
WEDDINGS_PER_ORG = 20
WEDDING_EVERY_DAYS = 3  # each organisation has a wedding every third day
RATIO_GOAL = 5.0
GROWTH_ALLOWANCE = 1.10
REPEATS = 5

# (feature, usual provider/model, fallback provider/model)
FEATURES = [
    ("email_template", ("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku")),
    ("form_generation", ("openai", "gpt-4o-mini"), ("anthropic", "claude-haiku")),
    ("content_writing", ("anthropic", "claude-sonnet"), ("openai", "gpt-4o")),
    ("contract_generation", ("anthropic", "claude-sonnet"), ("openai", "gpt-4o")),
    ("timeline_planner", ("openai", "gpt-4o"), ("google", "gemini-flash")),
    ("seating_planner", ("openai", "gpt-4o"), ("google", "gemini-flash")),
    ("vendor_matching", ("google", "gemini-flash"), ("openai", "gpt-4o-mini")),
    ("client_reply", ("openai", "gpt-4o-mini"), ("google", "gemini-flash")),
]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench rollup")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    args = parser.parse_args(argv)
    with pg_database(DATABASE) as url:
        result = run_child("bench.bench_rollup", *map(str, args.sizes), env=bench_env(url))
    return 0 if _report(result) else 1


def _report(result: dict) -> bool:
    rows: list[tuple[str, str]] = []
    verdicts: list[tuple[str, bool]] = []
    runs = result["runs"]
    for run in runs:
        n = run["records"]
        rows += [
            (f"{n:,} records: plain GROUP BY (org, hour)", f"{run['plain_s']:.3f} s ({run['org_hours']:,} groups)"),
            (f"{n:,} records: rollup (update_rollups)", f"{run['rollup_s']:.3f} s ({run['rollup_rows']:,} rows)"),
            (f"{n:,} records: ratio rollup / plain", f"{run['rollup_s'] / run['plain_s']:.2f} x"),
            (f"{n:,} records: recompute, replacing rollups", f"{run['recompute_s']:.3f} s"),
            (f"{n:,} records: rebuild_rollups() incl. marking", f"{run['rebuild_s']:.3f} s"),
            (f"{n:,} records: rollup throughput", f"{n / run['rollup_s']:,.0f} records/s"),
        ]
        verdicts.append(
            (f"rollup ≤ {RATIO_GOAL:g}x plain GROUP BY at {n:,}", run["rollup_s"] <= RATIO_GOAL * run["plain_s"])
        )
    if len(runs) >= 2:
        small, large = runs[0], runs[-1]
        size_ratio = large["records"] / small["records"]
        time_ratio = large["rollup_s"] / small["rollup_s"]
        rows.append(
            (
                f"growth {small['records']:,} → {large['records']:,}",
                f"{time_ratio:.2f}x time for {size_ratio:.0f}x rows",
            )
        )
        verdicts.append(("growth no worse than linear", time_ratio <= size_ratio * GROWTH_ALLOWANCE))
    return report("AI-usage rollup on PostgreSQL", rows, verdicts=verdicts)


# -- child: runs with Django configured for the benchmark database ---------------------------------
def _run_child(sizes: list[int]) -> dict:
    import django

    django.setup()
    from django.db import connection

    organisation_ids, first_wedding = _seed_tenants()
    runs = []
    for size in sorted(sizes):
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE usage_aiusagerecord, usage_usagerollup, usage_rollupwedding, usage_rollupdirtyhour"
            )
        _generate(connection, 0, size, organisation_ids, first_wedding)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE usage_aiusagerecord")
        runs.append(_measure(connection, size))
    return {"runs": runs}


def _seed_tenants() -> tuple[list[int], int]:
    from datetime import date, timedelta
    from decimal import Decimal

    from wedsync_integrations.tenants.models import Organisation, Wedding
    from wedsync_integrations.usage.models import ExchangeRate

    ExchangeRate.objects.create(date=date(2026, 6, 1), rate=Decimal("0.79"), source="bench")
    organisations = Organisation.objects.bulk_create(
        Organisation(slug=f"bench-{i}", name=f"Bench {i}", vendor_type="photographer") for i in range(ORGANISATIONS)
    )
    weddings = Wedding.objects.bulk_create(
        Wedding(organisation=org, date=date(2026, 6, 1) + timedelta(days=slot * WEDDING_EVERY_DAYS), region="London")
        for org in organisations
        for slot in range(WEDDINGS_PER_ORG)
    )
    return [org.pk for org in organisations], weddings[0].pk


def _generate(connection, start: int, stop: int, organisation_ids: list[int], first_wedding: int) -> None:
    """Rows start+1..stop, generated inside PostgreSQL; then every touched hour marked dirty."""
    features = [f for f, _, _ in FEATURES]
    usual_p = [u[0] for _, u, _ in FEATURES]
    usual_m = [u[1] for _, u, _ in FEATURES]
    fallback_p = [b[0] for _, _, b in FEATURES]
    fallback_m = [b[1] for _, _, b in FEATURES]
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        cursor.execute(
            """
            INSERT INTO usage_aiusagerecord (
                organisation_id, request_id, occurred_at, hour, feature, provider, model,
                prompt_tokens, completion_tokens, latency_ms, cost_usd, cost_gbp, usd_gbp_rate,
                outcome, error_type, error_message, quality_score, wedding_id, wedding_date,
                venue_region, vendor_type, user_ref, ingest_batch, ingested_at)
            SELECT
                (%(orgs)s::bigint[])[org_slot + 1],
                'bench-' || g,
                at,
                date_trunc('hour', at),
                (%(features)s::text[])[feature_slot + 1],
                CASE WHEN fallback THEN (%(fallback_p)s::text[])[feature_slot + 1]
                     ELSE (%(usual_p)s::text[])[feature_slot + 1] END,
                CASE WHEN fallback THEN (%(fallback_m)s::text[])[feature_slot + 1]
                     ELSE (%(usual_m)s::text[])[feature_slot + 1] END,
                prompt, completion,
                LEAST(60000, GREATEST(40, exp(ln(800) + 0.6 * normal)))::int,
                round((prompt * 0.00000015 + completion * 0.0000006)::numeric, 6),
                round((prompt * 0.00000015 + completion * 0.0000006)::numeric * 0.79, 6),
                0.79,
                CASE WHEN is_error THEN 'error' ELSE 'ok' END,
                CASE WHEN is_error THEN 'timeout' ELSE '' END,
                '',
                CASE WHEN random() < 0.6 THEN round(random()::numeric, 2)::float8 END,
                CASE WHEN wedding_kind = 1 THEN %(first_wedding)s + org_slot * %(per_org)s + wedding_slot END,
                -- a date-only record is about a wedding the organisation has not entered (else
                -- ingest would have linked it): the day after one of its own
                CASE WHEN wedding_kind > 0
                     THEN DATE '2026-06-01' + wedding_slot * %(wedding_every)s + (wedding_kind - 1) END,
                'London', 'photographer', '', md5(g::text)::uuid, now()
            FROM (
                SELECT g, org_slot,
                    -- each organisation uses four of the eight features, the first far more than the last
                    (org_slot * 3 + floor(4 * power(random(), 2))::int) %% 8 AS feature_slot,
                    random() < 0.02 AS fallback,
                    random() < 0.03 AS is_error,
                    (floor(random() * 400) + 50)::int AS prompt,
                    (floor(random() * 600) + 20)::int AS completion,
                    sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS normal,
                    CASE WHEN random() < 0.125 THEN 1 WHEN random() < 0.143 THEN 2 ELSE 0 END AS wedding_kind,
                    LEAST(%(per_org)s - 1, day / %(wedding_every)s + 1 + floor(random() * 2)::int) AS wedding_slot,
                    TIMESTAMPTZ '2026-06-01 00:00+00'
                        + day * INTERVAL '1 day'
                        + (7 + floor(random() * 14)) * INTERVAL '1 hour'
                        + random() * INTERVAL '1 hour' AS at
                FROM (SELECT g, floor(random() * %(days)s)::int AS day, floor(random() * %(n_orgs)s)::int AS org_slot
                      FROM generate_series(%(start)s + 1, %(stop)s) AS g) days
            ) r
            ORDER BY at
            """,
            {
                "orgs": organisation_ids,
                "features": features,
                "usual_p": usual_p,
                "usual_m": usual_m,
                "fallback_p": fallback_p,
                "fallback_m": fallback_m,
                "first_wedding": first_wedding,
                "per_org": WEDDINGS_PER_ORG,
                "n_orgs": len(organisation_ids),
                "days": DAYS,
                "wedding_every": WEDDING_EVERY_DAYS,
                "start": start,
                "stop": stop,
            },
        )
    print(f"generated {stop - start:,} records in {time.monotonic() - started:.1f}s", file=sys.stderr)


def _mark_dirty(connection) -> None:
    """What ingest leaves behind: one marker per (organisation, hour) with a fresh token."""
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO usage_rollupdirtyhour (organisation_id, hour, token, marked_at)
               SELECT organisation_id, hour, gen_random_uuid(), now()
               FROM (SELECT DISTINCT organisation_id, hour FROM usage_aiusagerecord) touched
               ON CONFLICT (organisation_id, hour) DO UPDATE SET token = EXCLUDED.token"""
        )
        cursor.execute("ANALYZE usage_rollupdirtyhour")


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _measure(connection, size: int) -> dict:
    from wedsync_integrations.usage.models import UsageRollup
    from wedsync_integrations.usage.rollup import rebuild_rollups, update_rollups

    def plain():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT organisation_id, hour, COUNT(*) FROM usage_aiusagerecord GROUP BY organisation_id, hour"
            )
            return cursor.fetchall()

    def empty_rollups():
        with connection.cursor() as cursor:
            cursor.execute("TRUNCATE usage_usagerollup, usage_rollupwedding")

    org_hours = len(plain())  # also warms the cache for both contenders
    plain_times, rollup_times = [], []
    for _ in range(REPEATS):
        plain_times.append(_timed(plain))
        empty_rollups()
        _mark_dirty(connection)
        rollup_times.append(_timed(update_rollups))
    _mark_dirty(connection)
    recompute_s = _timed(update_rollups)  # every hour again, replacing existing rollups
    rebuild_s = _timed(rebuild_rollups)
    return {
        "records": size,
        "org_hours": org_hours,
        "rollup_rows": UsageRollup.objects.count(),
        "plain_s": statistics.median(plain_times),
        "rollup_s": statistics.median(rollup_times),
        "recompute_s": recompute_s,
        "rebuild_s": rebuild_s,
    }


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wedsync_integrations.settings")
        print(json.dumps(_run_child([int(s) for s in sys.argv[2:]])))
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
