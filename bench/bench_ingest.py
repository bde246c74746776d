"""Ingest benchmark: `POST /api/v1/usage/` under gunicorn on PostgreSQL against a raw bulk_create.

    python -m bench ingest            (or: python -m bench.bench_ingest [--batches 160] [--clients 4])

On a fresh PostgreSQL database: 12 organisations with tokens, weddings and a USD→GBP rate. The
same records (batches of 500, realistic fields, a quarter about a wedding) are first written
with a plain `AIUsageRecord.objects.bulk_create` per batch, one transaction each, in one process
(the ceiling: no HTTP, no JSON, no validation, no idempotency, no GBP, no rollup markers); the
table is emptied; then they are POSTed by 4 client threads (requests.Session keep-alive) to
gunicorn (2 workers) with every check the API makes. A resend of every batch (all duplicates)
is timed too.

Goal: ingest ≥ 30 % of the raw bulk_create rate, in records per second.

Django is configured once per process, so the database work runs in a child process pointed at
the benchmark database; this process creates the database, runs gunicorn and the clients.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import threading
import time
from datetime import UTC, date, datetime, timedelta

from bench.common import bench_env, gunicorn, pg_database, report, run_child

DATABASE = "wsi_bench_ingest"
BATCH_SIZE = 500
ORGANISATIONS = 12
WARMUP_BATCHES = 8
GOAL_RATIO = 0.30
FEATURES = [
    ("email_template", "openai", "gpt-4o-mini"),
    ("form_generation", "openai", "gpt-4o-mini"),
    ("content_writing", "anthropic", "claude-sonnet"),
    ("contract_generation", "anthropic", "claude-sonnet"),
    ("timeline_planner", "openai", "gpt-4o"),
    ("vendor_matching", "google", "gemini-flash"),
]
REGIONS = ["London", "South West", "North West", "Scotland"]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench ingest")
    parser.add_argument("--batches", type=int, default=160, help="timed batches of 500 records")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    args = parser.parse_args(argv)
    base = (datetime.now(UTC) - timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    with pg_database(DATABASE) as url:
        tokens = run_child("bench.bench_ingest", "setup", base.isoformat(), env=bench_env(url))["tokens"]
        raw = run_child("bench.bench_ingest", "raw", base.isoformat(), str(args.batches), env=bench_env(url))
        with gunicorn(bench_env(url), workers=args.workers) as server:
            api = _post_all(server, tokens, base, args.batches, args.clients)
    return 0 if _report(api, raw, args) else 1


# -- the records, identical for both contenders --------------------------------------------------------
def wire_batch(index: int, base: datetime) -> tuple[int, list[dict]]:
    """Batch `index`: (organisation number, 500 wire records), deterministic."""
    rng = random.Random(index)
    org = index % ORGANISATIONS
    records = []
    for i in range(BATCH_SIZE):
        feature, provider, model = FEATURES[min(len(FEATURES) - 1, int(len(FEATURES) * rng.random() ** 2))]
        occurred = base + timedelta(seconds=rng.randrange(48 * 3600))
        prompt, completion = rng.randint(50, 3000), rng.randint(20, 900)
        error = rng.random() < 0.03
        wedding = rng.random() < 0.25
        records.append(
            {
                "request_id": f"bench-{index}-{i}",
                "occurred_at": occurred.isoformat().replace("+00:00", "Z"),
                "feature": feature,
                "provider": provider,
                "model": model,
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "latency_ms": int(min(60000, rng.lognormvariate(6.7, 0.6))),
                "cost_usd": f"{prompt * 0.00000015 + completion * 0.0000006:.7f}",
                "outcome": "error" if error else "ok",
                "error_type": "timeout" if error else None,
                "quality_score": round(rng.random(), 2) if rng.random() < 0.6 else None,
                "wedding_date": (occurred.date() + timedelta(days=rng.randrange(10))).isoformat() if wedding else None,
                "venue_region": rng.choice(REGIONS) if wedding else None,
                "vendor_type": "photographer",
            }
        )
    return org, records


# -- clients ------------------------------------------------------------------------------------------
def _post_all(server: str, tokens: list[str], base: datetime, batches: int, clients: int) -> dict:
    import requests

    bodies = [(org, json.dumps({"records": records}).encode()) for org, records in
              (wire_batch(i, base) for i in range(batches))]  # fmt: skip
    warmup = [(org, json.dumps({"records": records}).encode()) for org, records in
              (wire_batch(batches + 1000 + i, base) for i in range(WARMUP_BATCHES))]  # fmt: skip
    url = server + "/api/v1/usage/"

    def send_all(items, latencies, replies):
        with requests.Session() as session:
            for org, body in items:
                started = time.perf_counter()
                response = session.post(
                    url,
                    data=body,
                    headers={"Authorization": f"Bearer {tokens[org]}", "Content-Type": "application/json"},
                    timeout=60,
                )
                latencies.append(time.perf_counter() - started)
                response.raise_for_status()
                replies.append(response.json())

    def run(items) -> tuple[float, list[float], list[dict]]:
        latencies: list[float] = []
        replies: list[dict] = []
        shares = [items[i::clients] for i in range(clients)]
        threads = [threading.Thread(target=send_all, args=(share, latencies, replies)) for share in shares]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        if len(replies) != len(items):
            raise RuntimeError(f"{len(items) - len(replies)} batches failed")
        return elapsed, latencies, replies

    run(warmup)
    first_s, latencies, replies = run(bodies)
    accepted = sum(r["accepted"] for r in replies)
    rejected = sum(len(r["rejected"]) for r in replies)
    resend_s, _, resent = run(bodies)
    duplicates = sum(r["duplicates"] for r in resent)
    return {
        "records": batches * BATCH_SIZE,
        "seconds": first_s,
        "accepted": accepted,
        "rejected": rejected,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": statistics.quantiles(latencies, n=20)[-1] * 1000,
        "resend_seconds": resend_s,
        "resend_duplicates": duplicates,
    }


def _report(api: dict, raw: dict, args) -> bool:
    api_rate = api["records"] / api["seconds"]
    raw_rate = raw["records"] / raw["seconds"]
    ratio = api_rate / raw_rate
    rows = [
        ("records", f"{api['records']:,} in batches of {BATCH_SIZE} ({args.clients} clients, {args.workers} workers)"),
        ("raw bulk_create", f"{raw_rate:,.0f} records/s ({raw['seconds']:.2f} s)"),
        ("POST /api/v1/usage/", f"{api_rate:,.0f} records/s ({api['seconds']:.2f} s)"),
        ("ingest / raw", f"{ratio:.0%}"),
        ("batch latency p50 / p95", f"{api['p50_ms']:.0f} ms / {api['p95_ms']:.0f} ms"),
        ("resend (all duplicates)", f"{api['records'] / api['resend_seconds']:,.0f} records/s"),
        ("accepted / rejected", f"{api['accepted']:,} / {api['rejected']:,}"),
    ]
    verdicts = [
        ("every record accepted once, every resend a duplicate",
         api["accepted"] == api["records"] and api["rejected"] == 0 and api["resend_duplicates"] == api["records"]),
        (f"ingest ≥ {GOAL_RATIO:.0%} of raw bulk_create", ratio >= GOAL_RATIO),
    ]  # fmt: skip
    return report("AI-usage ingest on PostgreSQL under gunicorn", rows, verdicts=verdicts)


# -- child: runs with Django configured for the benchmark database ---------------------------------
def _setup(base: datetime) -> dict:
    from decimal import Decimal

    from wedsync_integrations.tenants.models import Organisation, Wedding
    from wedsync_integrations.usage.models import ExchangeRate
    from wedsync_integrations.usage.tokens import issue_token

    ExchangeRate.objects.create(date=base.date() - timedelta(days=30), rate=Decimal("0.790000"), source="bench")
    tokens = []
    for n in range(ORGANISATIONS):
        org = Organisation.objects.create(slug=f"bench-{n}", name=f"Bench {n}", vendor_type="photographer")
        Wedding.objects.bulk_create(
            Wedding(organisation=org, date=base.date() + timedelta(days=d), region=REGIONS[d % len(REGIONS)])
            for d in range(0, 12, 2)
        )
        tokens.append(issue_token(org, created_by="bench"))
    return {"tokens": tokens}


def _raw(base: datetime, batches: int) -> dict:
    """The same records through a bare bulk_create, built before the clock starts."""
    from decimal import ROUND_HALF_UP, Decimal

    from django.db import connection, transaction

    from wedsync_integrations.tenants.models import Organisation, Wedding
    from wedsync_integrations.usage.models import AIUsageRecord

    organisations = list(Organisation.objects.order_by("slug").filter(slug__startswith="bench-"))
    by_number = {int(o.slug.split("-")[1]): o for o in organisations}
    weddings: dict[tuple[int, date], int] = {}
    for wedding in Wedding.objects.order_by("id"):
        weddings.setdefault((wedding.organisation_id, wedding.date), wedding.id)
    rate = Decimal("0.790000")
    prepared = []
    for index in range(batches):
        org_number, records = wire_batch(index, base)
        org = by_number[org_number]
        rows = []
        for r in records:
            occurred = datetime.fromisoformat(r["occurred_at"])
            cost = Decimal(r["cost_usd"]).quantize(Decimal("0.000001"), ROUND_HALF_UP)
            wedding_date = date.fromisoformat(r["wedding_date"]) if r["wedding_date"] else None
            rows.append(
                AIUsageRecord(
                    organisation=org,
                    request_id=r["request_id"],
                    occurred_at=occurred,
                    hour=occurred.replace(minute=0, second=0, microsecond=0),
                    feature=r["feature"],
                    provider=r["provider"],
                    model=r["model"],
                    prompt_tokens=r["prompt_tokens"],
                    completion_tokens=r["completion_tokens"],
                    latency_ms=r["latency_ms"],
                    cost_usd=cost,
                    cost_gbp=(cost * rate).quantize(Decimal("0.000001"), ROUND_HALF_UP),
                    usd_gbp_rate=rate,
                    outcome=r["outcome"],
                    error_type=r["error_type"] or "",
                    quality_score=r["quality_score"],
                    wedding_id=weddings.get((org.id, wedding_date)),
                    wedding_date=wedding_date,
                    venue_region=r["venue_region"] or "",
                    vendor_type=r["vendor_type"],
                )
            )
        prepared.append(rows)
    started = time.perf_counter()
    for rows in prepared:
        with transaction.atomic():
            AIUsageRecord.objects.bulk_create(rows)
    seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE usage_aiusagerecord")
        cursor.execute("VACUUM ANALYZE usage_aiusagerecord")
    return {"records": batches * BATCH_SIZE, "seconds": seconds}


def _run_child(command: str, args: list[str]) -> dict:
    import django

    django.setup()
    base = datetime.fromisoformat(args[0])
    if command == "setup":
        return _setup(base)
    return _raw(base, int(args[1]))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wedsync_integrations.settings")
        print(json.dumps(_run_child(sys.argv[2], sys.argv[3:])))
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
