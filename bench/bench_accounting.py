"""Accounting month-end benchmark: the reports and vendor payloads of 5,000 organisations.

    python -m bench accounting        (or: python -m bench accounting --orgs 5000 --records 400)
    python -m bench accounting --profile   (also prints the top of a cProfile of each phase, on stderr)

On a fresh PostgreSQL database, 5,000 organisations each have an accounting configuration
(QuickBooks, Xero and FreshBooks in turn, ledger mappings chosen, a third of them reverse charge
and a third not VAT registered) and 400 AI usage records in November 2026 (three AI providers,
four use cases, priced at daily USD→GBP rates), rolled up by the real rollup engine. Measured in
the same run, each the best of ROUNDS, wall clock (the database does most of the work):

  baseline   SELECT organisation_id, provider, SUM(cost_gbp) FROM usage_usagerollup WHERE the hour is
             in November GROUP BY organisation_id, provider: the month's cost the plain way, from the
             hourly rollups every exporter reads (the reports read the same rows)
  records    (for information) the same SUM over the raw usage records, through their covering
             index. With this benchmark's sparse usage (400 requests a month spread over 720 hours)
             the rollups have about as many rows as the records, so reading them is no cheaper
  reports    as month-end reads them: the usable configurations with their organisations (never
             their secrets), then report.build_reports for the 5,000 organisations: every figure of
             every report (cost, USD, breakdowns by AI provider and use case, usage hours, cost per
             hour, rates used)
  payloads   per configuration: the month's plan (lines from the unrounded costs by largest
             remainder, VAT per line half-up), its document and the vendor's request body with
             its idempotency key. Transport stubbed: nothing is sent.
  queueing   (for information) exporter.month_end: the same, plus 5,000 export rows and outbox
             items written, each configuration under its row lock

Goal (issue 10): reports + payloads ≤ 5 × baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import time

from bench.common import bench_env, pg_database, report, run_child

DATABASE = "wedsync_accounting_bench"
ORGANISATIONS = 5000
RECORDS = 400
ROUNDS = 3
GOAL = 5.0
BASELINE_SQL = """
    SELECT organisation_id, provider, SUM(cost_gbp) FROM {table}
    WHERE hour >= %s AND hour < %s GROUP BY organisation_id, provider
"""


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench accounting")
    parser.add_argument("--orgs", type=int, default=ORGANISATIONS)
    parser.add_argument("--records", type=int, default=RECORDS, help="usage records per organisation")
    parser.add_argument("--profile", action="store_true", help="print a cProfile of each phase (stderr)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_measure(args.orgs, args.records)))
        return 0
    with pg_database(DATABASE) as url:
        env = bench_env(url, CACHE_URL=os.environ.get("BENCH_CACHE_URL", "locmemcache://bench-accounting"))
        if args.profile:
            env["BENCH_PROFILE"] = "1"
        result = run_child("bench.bench_accounting", "--orgs", str(args.orgs), "--records", str(args.records), env=env)
    return 0 if _report(result) else 1


# -- the measuring half (its own process, Django set up on the benchmark database) ---------------------------
def _measure(organisations: int, records: int) -> dict:
    import django

    django.setup()
    from django.db import connection

    from accounting.months import Month

    month = Month(2026, 11)
    seeded = _seed(organisations, records, month)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    timings = {"baseline": [], "raw_baseline": [], "reports": [], "payloads": []}
    for _ in range(ROUNDS):
        timings["baseline"].append(_timed(_baseline, month, "usage_usagerollup")[0])
        timings["raw_baseline"].append(_timed(_baseline, month, "usage_aiusagerecord")[0])
        seconds, (configs, reports) = _timed(_reports, month)
        timings["reports"].append(seconds)
        seconds, bodies = _timed(_payloads, configs, reports, month)
        timings["payloads"].append(seconds)
    checks = _check(reports, month)
    if os.environ.get("BENCH_PROFILE"):  # where the time goes, on stderr
        _profile(_reports, month)
        _profile(_payloads, configs, reports, month)
    queue_seconds, counts = _timed(_queue)
    return {**seeded, **{k: min(v) for k, v in timings.items()}, "queue": queue_seconds, "queued": counts["queued"],
            "documents": len(bodies), **checks}  # fmt: skip


def _profile(work, *args) -> None:
    import cProfile
    import pstats
    import sys

    profiler = cProfile.Profile()
    profiler.runcall(work, *args)
    pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)


def _timed(work, *args):
    started = time.perf_counter()
    result = work(*args)
    return time.perf_counter() - started, result


def _seed(organisations: int, records: int, month) -> dict:
    from django.db import connection

    from accounting.models import AccountingConfig
    from wedsync_integrations.tenants.models import Organisation
    from wedsync_integrations.usage import rollup

    started = time.perf_counter()
    Organisation.objects.bulk_create(
        Organisation(slug=f"bench-{n:05d}", name=f"Bench Studio {n}", vendor_type="photographer")
        for n in range(organisations)
    )
    configs = []
    for index, org in enumerate(Organisation.objects.order_by("id")):
        vendor = ("quickbooks", "xero", "freshbooks")[index % 3]
        configs.append(AccountingConfig(organisation=org, provider=vendor, settings=_settings(vendor, index),
                                        secrets={"client_id": "bench", "client_secret": "bench-secret"}))  # fmt: skip
    AccountingConfig.objects.bulk_create(configs)
    with connection.cursor() as cursor:
        cursor.execute(_RECORDS_SQL, {"records": records, "start": month.start})
        cursor.execute(
            "INSERT INTO usage_rollupdirtyhour (organisation_id, hour, token, marked_at) "
            "SELECT organisation_id, hour, gen_random_uuid(), now() "
            "FROM (SELECT DISTINCT organisation_id, hour FROM usage_aiusagerecord) AS hours"
        )
    seeded = time.perf_counter() - started
    started = time.perf_counter()
    rollup.update_rollups()
    return {"organisations": organisations, "records": organisations * records, "seed_seconds": seeded,
            "rollup_seconds": time.perf_counter() - started}  # fmt: skip


# November 2026 (GMT all month, so London and UTC months coincide); costs and daily rates varied
_RECORDS_SQL = """
INSERT INTO usage_aiusagerecord (organisation_id, request_id, occurred_at, hour, feature, provider, model,
    prompt_tokens, completion_tokens, latency_ms, cost_usd, cost_gbp, usd_gbp_rate, outcome, error_type,
    error_message, venue_region, vendor_type, user_ref, ingest_batch, ingested_at)
SELECT o.id, 'bench-' || o.id || '-' || g, x.ts, date_trunc('hour', x.ts),
       (ARRAY['email_template', 'content_writing', 'form_generation', 'contract_generation'])[1 + g %% 4],
       (ARRAY['openai', 'anthropic', 'google'])[1 + (g * 7 + o.id) %% 3], 'model', 800, 200, 900,
       x.usd, round(x.usd * r.rate, 6), r.rate, 'ok', '', '', '', '', '', gen_random_uuid(), now()
FROM tenants_organisation o
CROSS JOIN generate_series(1, %(records)s) AS g
CROSS JOIN LATERAL (SELECT %(start)s::timestamptz + ((o.id * 7919 + g * 104729) %% 2592000) * interval '1 second' AS ts,
                           ((o.id * 31 + g * 17) %% 40000 + 1) / 1000000.0 AS usd) AS x
CROSS JOIN LATERAL (SELECT 0.780000 + (extract(day FROM x.ts)::int %% 5) / 100.0 AS rate) AS r
"""


def _settings(vendor: str, index: int) -> dict:
    common = {"first_month": "2026-11", "vat_registered": index % 9 not in (2, 5, 8),
              "supply": "overseas_provider" if index % 9 in (1, 4, 7) else "wedsync"}  # fmt: skip
    if vendor == "quickbooks":
        return {**common, "realm_id": "9130355000000001", "vendor_id": "56", "expense_account_id": "78",
                "tax_code_id": "2"}  # fmt: skip
    if vendor == "xero":
        return {**common, "tenant_id": "c2cc9b6e-9458-4c7d-93cc-f02b81b0594f", "expense_account_code": "463",
                "contact_id": "9f2bd6a4-1c1e-4b1a-8d3f-5a0c6e7b8d90", "tax_type": "INPUT2"}  # fmt: skip
    return {**common, "account_id": "aBcD1", "category_id": 2003174, "staff_id": 1}


def _mappings(provider) -> dict:
    """What the first delivery attempt would read from the ledger (transport stubbed: staff's choices)."""
    keys = {"quickbooks": ("vendor_id", "expense_account_id", "tax_code_id"),
            "xero": ("contact_id", "expense_account_code", "tax_type"),
            "freshbooks": ("category_id", "staff_id")}[provider.name]  # fmt: skip
    maps = {key: provider.settings[key] for key in keys}
    return {**maps, "tax_name": "VAT"} if provider.name == "freshbooks" else maps


def _baseline(month, table: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(BASELINE_SQL.format(table=table), [month.start, month.end])
        return len(cursor.fetchall())


def _reports(month):
    """The configurations and their organisations' reports, read as exporter.month_end reads them."""
    from accounting.exporter import PLANNING_FIELDS
    from accounting.family import FAMILY
    from accounting.report import build_reports
    from wedsync_integrations.integrations.tasks import syncable_configs

    configs = list(
        syncable_configs(FAMILY).select_related("organisation").only(*PLANNING_FIELDS)
        .order_by("organisation_id", "provider")
    )  # fmt: skip
    unique = {config.organisation_id: config.organisation for config in configs}
    return configs, build_reports(list(unique.values()), month)


def _payloads(configs, reports, month) -> list[dict]:
    from datetime import date

    from accounting.documents import Outcome, document_for, plan_month, reference_for

    bodies = []
    for config in configs:
        provider = config.get_provider()
        treatment, supply = provider.treatment(), provider.supply()
        plan = plan_month(reports[config.organisation_id], [], treatment=treatment, supply=supply)
        if plan.outcome != Outcome.EXPORT:
            continue
        document = document_for(
            plan, export_id=config.pk, reference=reference_for(config.organisation_id, month, 0),
            treatment=treatment, supply=supply, today=date(2026, 12, 7),
            url=f"https://integrations.wedsync.example/exports/{config.pk}/", original="",
        )  # fmt: skip
        bodies.append(provider.frozen_request(document, _mappings(provider)))
    return bodies


def _check(reports, month) -> dict:
    """The figures are right, not only fast: every report's cost is its records' SUM."""
    from decimal import Decimal

    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT organisation_id, SUM(cost_gbp) FROM usage_aiusagerecord WHERE hour >= %s AND hour < %s "
            "GROUP BY organisation_id", [month.start, month.end]
        )  # fmt: skip
        sums = dict(cursor.fetchall())
    wrong = sum(reports[org].cost_gbp != Decimal(total) for org, total in sums.items())
    return {"reports_reconciled": len(sums) - wrong, "reports_wrong": wrong}


def _queue() -> dict:
    from datetime import UTC, datetime

    from accounting import exporter

    return exporter.month_end(now=datetime(2026, 12, 7, 6, 15, tzinfo=UTC), drain=False)


# -- the report --------------------------------------------------------------------------------------------
def _report(r: dict) -> bool:
    ours = r["reports"] + r["payloads"]
    ratio = ours / r["baseline"]
    rows = [
        ("data", f"{r['organisations']:,} organisations, {r['records']:,} usage records in November 2026 "
                 f"(seeded in {r['seed_seconds']:.1f} s, rolled up in {r['rollup_seconds']:.1f} s)"),
        ("baseline: SUM … GROUP BY organisation, provider (rollups)", f"{r['baseline']:.3f} s"),
        ("the same SUM over the raw records (info)", f"{r['raw_baseline']:.3f} s"),
        ("reports (configurations read, every figure of 5,000 reports)", f"{r['reports']:.3f} s"),
        ("payloads (plans, VAT, documents, request bodies)",
         f"{r['payloads']:.3f} s for {r['documents']:,} documents"),
        ("reports + payloads",
         f"{ours:.3f} s = {ratio:.2f} × baseline ({ours / r['raw_baseline']:.2f} × the records' SUM)"),
        ("reconciled", f"{r['reports_reconciled']:,} reports equal their records' SUM, {r['reports_wrong']} differ"),
        ("queueing (info): month_end with writes", f"{r['queue']:.2f} s for {r['queued']:,} documents queued"),
    ]  # fmt: skip
    return report(
        "accounting month-end",
        rows,
        verdicts=[
            (f"reports + payloads ≤ {GOAL:g} × baseline", ratio <= GOAL),
            ("every report reconciles to its records", r["reports_wrong"] == 0),
        ],  # fmt: skip
    )


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
