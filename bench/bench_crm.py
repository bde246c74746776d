"""CRM benchmark: monthly value reports for 5,000 organisations against a plain COUNT … GROUP BY.

    python -m bench crm            (or: python -m bench crm --organisations 5000 --per-month 200)

On a fresh PostgreSQL database it creates 5,000 organisations (each with its own value
parameters) and AI usage for May and June 2026 in SQL (generate_series): on average 200 requests
per organisation and month, spread unevenly (a few busy studios, many quiet ones) over the days and
working hours, 3 % errors, a quarter of requests about one of the organisation's weddings; then
builds the hourly rollups as ingest and beat would.

Real path: `crm.value.build_reports(June)` for every organisation, and each report's figures
(the product's four figures and the derived ones: efficiency, response time, peak-window share,
season performance, next-month projection), i.e. everything a sync stores and sends, as the
monthly run meets it: June's rollups summed for the first time (and stored), May and the year
before it read from the monthly summaries last month's run stored. Also shown: a first run ever
(thirteen months summed), a second run (June stored too), and the reports rendered as Tave HTML
and Light Blue text.

Baseline, in the same run: `SELECT organisation_id, COUNT(*) FROM usage_aiusagerecord WHERE hour
in June GROUP BY organisation_id`, the least work that says how much each organisation used AI.
Each is the median of five runs. Goal: reports ≤ 5 × the plain COUNT.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

from bench.common import bench_env, pg_database, report, run_child

DATABASE = "wsi_bench_crm"
ORGANISATIONS = 5_000
PER_MONTH = 200
RATIO_GOAL = 5.0
REPEATS = 5


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench crm")
    parser.add_argument("--organisations", type=int, default=ORGANISATIONS)
    parser.add_argument("--per-month", type=int, default=PER_MONTH, help="average requests per organisation and month")
    args = parser.parse_args(argv)
    with pg_database(DATABASE) as url:
        result = run_child("bench.bench_crm", str(args.organisations), str(args.per_month), env=bench_env(url))
    return 0 if _report(result) else 1


def _report(result: dict) -> bool:
    ratio = result["reports_s"] / result["plain_s"]
    rows = [
        ("organisations", f"{result['organisations']:,}"),
        ("AI usage records (May and June)", f"{result['records']:,} ({result['rollup_rows']:,} hourly rollup rows)"),
        ("plain COUNT … GROUP BY organisation (June)", f"{result['plain_s']:.3f} s"),
        ("value reports, June (its rollups summed; history as stored)",
         f"{result['reports_s']:.3f} s ({result['queries']} queries, {result['queries_s']:.3f} s of them)"),
        ("ratio reports / plain COUNT", f"{ratio:.2f} x"),
        ("  a first run ever (13 months summed)", f"{result['first_ever_s']:.3f} s"),
        ("  again (June already summarised)", f"{result['warm_s']:.3f} s"),
        ("  again, each also rendered as Tave HTML and Light Blue text", f"{result['rendered_s']:.3f} s"),
        ("reports per second", f"{result['organisations'] / result['reports_s']:,.0f}"),
        ("check: June requests, reports = COUNT", "yes" if result["totals_match"] else "NO"),
    ]  # fmt: skip
    verdicts = [
        (f"value reports ≤ {RATIO_GOAL:g}x the plain COUNT … GROUP BY", ratio <= RATIO_GOAL),
        ("the reports count exactly the requests the plain COUNT does", result["totals_match"]),
    ]
    return report("CRM value reports for one month on PostgreSQL", rows, verdicts=verdicts)


# -- child: runs with Django configured for the benchmark database ---------------------------------
def _run_child(organisations: int, per_month: int) -> dict:
    import django

    django.setup()
    from django.db import connection, reset_queries

    from crm import render, value
    from crm.models import MonthlyUsage
    from wedsync_integrations.calendar import Month
    from wedsync_integrations.usage.models import UsageRollup
    from wedsync_integrations.usage.rollup import rebuild_rollups

    june = Month(2026, 6)
    ids = _seed_tenants(organisations)
    records = _generate(connection, ids, per_month * organisations * 2)
    started = time.monotonic()
    rebuild_rollups()
    print(f"rolled up in {time.monotonic() - started:.1f}s", file=sys.stderr)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    start, end = june.bounds()

    def plain():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT organisation_id, COUNT(*) FROM usage_aiusagerecord WHERE hour >= %s AND hour < %s "
                "GROUP BY organisation_id",
                [start, end],
            )
            return dict(cursor.fetchall())

    def reports():
        built = value.build_reports(june)
        return {org_id: report.figures() for org_id, report in built.items()}

    def rendered():
        for built in value.build_reports(june).values():
            document = render.report_document(built)
            built.figures(), document.as_html(), document.as_text()

    def forget(months):
        MonthlyUsage.objects.filter(month__in=[m.first_day for m in months]).delete()

    counts = plain()  # warms the cache for both contenders
    value.build_reports(june.previous)  # last month's run: May and the year before it are summarised
    figures = reports()
    totals_match = all(figures[org_id]["requests"] == counts.get(org_id, 0) for org_id in figures)
    plain_s = statistics.median(_timed(plain) for _ in range(REPEATS))
    reports_s = statistics.median(_timed(reports, before=lambda: forget([june])) for _ in range(REPEATS))
    history = june.shifted(-value.HISTORY_MONTHS).months_until(june)
    first_ever_s = statistics.median(_timed(reports, before=lambda: forget(history)) for _ in range(REPEATS))
    warm_s = statistics.median(_timed(reports) for _ in range(REPEATS))
    rendered_s = statistics.median(_timed(rendered) for _ in range(REPEATS))
    from django.conf import settings

    forget([june])
    settings.DEBUG = True  # count the queries of one run (and their time)
    reset_queries()
    value.build_reports(june)
    queries = list(connection.queries)
    settings.DEBUG = False
    return {
        "organisations": organisations,
        "records": records,
        "rollup_rows": UsageRollup.objects.count(),
        "plain_s": plain_s,
        "reports_s": reports_s,
        "first_ever_s": first_ever_s,
        "warm_s": warm_s,
        "rendered_s": rendered_s,
        "queries": len(queries),
        "queries_s": sum(float(q["time"]) for q in queries),
        "totals_match": totals_match,
    }


def _seed_tenants(count: int) -> list[int]:
    from datetime import date, timedelta
    from decimal import Decimal

    from wedsync_integrations.tenants.models import Organisation, Wedding

    organisations = Organisation.objects.bulk_create(
        Organisation(
            slug=f"studio-{i}",
            name=f"Studio {i}",
            vendor_type="photographer",
            minutes_saved_per_request=Decimal(10 + i % 11),
            value_per_request_gbp=Decimal("2.50") + Decimal(i % 5) / 4,
        )  # fmt: skip
        for i in range(count)
    )
    Wedding.objects.bulk_create(
        Wedding(organisation=org, date=date(2026, 5, 2) + timedelta(days=7 * week), region="London")
        for org in organisations[: count // 2]
        for week in range(8)
    )
    return [org.pk for org in organisations]


def _generate(connection, organisation_ids: list[int], records: int) -> int:
    """`records` usage rows over May and June 2026, busy studios busier (a power law over the
    organisations), working hours, 3 % errors, a quarter about a wedding (by date)."""
    started = time.monotonic()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.11)")
        cursor.execute(
            """
            INSERT INTO usage_aiusagerecord (
                organisation_id, request_id, occurred_at, hour, feature, provider, model,
                prompt_tokens, completion_tokens, latency_ms, cost_usd, cost_gbp, usd_gbp_rate,
                outcome, error_type, error_message, quality_score, wedding_id, wedding_date,
                venue_region, vendor_type, user_ref, ingest_batch, ingested_at)
            SELECT (%(orgs)s::bigint[])[org_slot + 1], 'bench-' || g, at, date_trunc('hour', at),
                   'email_template', 'openai', 'gpt-4o-mini', 600, 250,
                   LEAST(60000, GREATEST(40, exp(ln(900) + 0.5 * normal)))::int,
                   0.000240, 0.000190, 0.79,
                   CASE WHEN random() < 0.03 THEN 'error' ELSE 'ok' END, '', '', NULL, NULL,
                   CASE WHEN random() < 0.25 THEN DATE '2026-05-02' + 7 * floor(random() * 8)::int END,
                   'London', 'photographer', '', md5(g::text)::uuid, now()
            FROM (
                SELECT g,
                    floor(%(n_orgs)s * power(random(), 2))::int AS org_slot,
                    sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS normal,
                    TIMESTAMPTZ '2026-05-01 00:00+01' + floor(random() * 61) * INTERVAL '1 day'
                        + (7 + floor(random() * 14)) * INTERVAL '1 hour' + random() * INTERVAL '1 hour' AS at
                FROM generate_series(1, %(records)s) AS g
            ) r
            ORDER BY at
            """,
            {"orgs": organisation_ids, "n_orgs": len(organisation_ids), "records": records},
        )
    print(f"generated {records:,} records in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return records


def _timed(fn, before=None) -> float:
    if before is not None:
        before()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wedsync_integrations.settings")
        print(json.dumps(_run_child(int(sys.argv[2]), int(sys.argv[3]))))
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
