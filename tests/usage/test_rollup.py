"""Hourly rollups: exact figures, distinct weddings, idempotent recompute, late records, and the
dirty-marker token protocol. Every test runs on SQLite (figures computed in Python) and, in CI's
second pass, on PostgreSQL (figures computed in SQL): the same expected values hold for both."""

from __future__ import annotations

import random
import statistics
import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection, connections, transaction
from django_celery_beat.models import PeriodicTask

from wedsync_integrations.usage import rollup
from wedsync_integrations.usage.ingest import ingest_batch
from wedsync_integrations.usage.models import AIUsageRecord, RollupDirtyHour, RollupWedding, UsageRollup
from wedsync_integrations.usage.rollup import interpolated_percentile, rebuild_rollups, update_rollups

from .conftest import wire_record

pytestmark = pytest.mark.django_db

H14 = datetime(2026, 6, 13, 14, tzinfo=UTC)
H15 = datetime(2026, 6, 13, 15, tzinfo=UTC)


def ingest(organisation, *records):
    result = ingest_batch(organisation, list(records))
    assert not result.rejected, result.rejected
    return result


def at(hour: datetime, minute: int) -> str:
    return (hour + timedelta(minutes=minute)).isoformat().replace("+00:00", "Z")


def figures(**filters) -> list[dict]:
    """Rollup rows without their id and computation time, in a stable order."""
    rows = UsageRollup.objects.filter(**filters).order_by("organisation_id", "hour", "feature", "provider", "model")
    return [{k: v for k, v in row.items() if k not in {"id", "computed_at"}} for row in rows.values()]


def wedding_keys(organisation, hour) -> set[str]:
    return set(RollupWedding.objects.filter(organisation=organisation, hour=hour).values_list("wedding_key", flat=True))


# -- exact figures --------------------------------------------------------------------------------------
def test_rollup_figures_on_known_data(organisation, make_wedding, june_rate):
    wedding = make_wedding(organisation, date(2026, 6, 13), region="South West")
    ingest(
        organisation,
        wire_record("a", occurred_at=at(H14, 1), latency_ms=100, cost_usd="0.0041", quality_score=0.5),
        wire_record("b", occurred_at=at(H14, 2), latency_ms=200, cost_usd="0.0100", quality_score=0.25),
        wire_record(
            "c",
            occurred_at=at(H14, 3),
            latency_ms=300,
            cost_usd="0.000001",
            quality_score=None,
            wedding_date="2026-06-20",  # no Wedding that day: the date is the key
            prompt_tokens=10,
            completion_tokens=0,
        ),
        wire_record(
            "d",
            occurred_at=at(H14, 59),
            latency_ms=1000,
            cost_usd="1.5",
            quality_score=1.0,
            wedding_date=None,
            outcome="error",
            error_type="timeout",
        ),
        wire_record("other-model", occurred_at=at(H14, 5), model="gpt-4o", latency_ms=50),
        wire_record("next-hour", occurred_at=at(H15, 0), latency_ms=70),
    )

    stats = update_rollups()

    assert (stats.hours, stats.rollup_rows, stats.wedding_rows, stats.remaining) == (2, 3, 3, 0)
    row = UsageRollup.objects.get(organisation=organisation, hour=H14, model="gpt-4o-mini")
    assert (row.feature, row.provider) == ("email_template", "openai")
    assert (row.requests, row.errors) == (4, 1)
    assert (row.prompt_tokens, row.completion_tokens) == (812 * 3 + 10, 240 * 3)
    assert row.cost_usd == Decimal("1.514101")
    assert row.cost_gbp == Decimal("0.003239") + Decimal("0.007900") + Decimal("0.000001") + Decimal("1.185000")
    assert (row.latency_sum_ms, row.latency_min_ms, row.latency_max_ms) == (1600, 100, 1000)
    assert row.latency_p50_ms == 250.0  # halfway between 200 and 300
    assert row.latency_p95_ms == pytest.approx(895.0, abs=1e-9)  # 300 + 0.85 × (1000 − 300)
    assert (row.weddings_assisted, row.wedding_requests) == (2, 3)  # wedding (a, b) and 2026-06-20 (c)
    assert (row.quality_sum, row.quality_count) == (1.75, 3)
    assert wedding_keys(organisation, H14) == {str(wedding.id), "2026-06-20"}
    assert wedding_keys(organisation, H15) == {str(wedding.id)}
    assert UsageRollup.objects.get(hour=H14, model="gpt-4o").requests == 1


def test_percentiles_hit_exact_ranks_and_single_values(organisation, june_rate):
    ingest(organisation, *[wire_record(f"r{i}", occurred_at=at(H14, i), latency_ms=10 * i) for i in range(1, 22)])
    ingest(organisation, wire_record("only", occurred_at=at(H15, 0), latency_ms=321))

    update_rollups()

    busy = UsageRollup.objects.get(hour=H14)
    assert (busy.latency_p50_ms, busy.latency_p95_ms) == (110.0, 200.0)
    alone = UsageRollup.objects.get(hour=H15)
    assert (alone.latency_p50_ms, alone.latency_p95_ms, alone.latency_min_ms, alone.latency_max_ms) == (
        321.0,
        321.0,
        321,
        321,
    )


def test_percentile_matches_the_standard_library_inclusive_method():
    rng = random.Random(7)
    for size in (2, 3, 10, 97, 500):
        values = sorted(rng.randint(1, 5000) for _ in range(size))
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        assert interpolated_percentile(values, 0.5) == pytest.approx(cuts[49], abs=1e-9)
        assert interpolated_percentile(values, 0.95) == pytest.approx(cuts[94], abs=1e-9)


def _random_batch(rng: random.Random, organisation, weddings, count: int, prefix: str) -> list[dict]:
    records = []
    for i in range(count):
        hour = H14 + timedelta(hours=rng.randrange(5))
        linked = rng.random()
        records.append(
            wire_record(
                f"{prefix}-{i}",
                occurred_at=at(hour, rng.randrange(60)),
                feature=rng.choice(["email_template", "form_generation", "content_writing"]),
                provider="openai",
                model=rng.choice(["gpt-4o-mini", "gpt-4o"]),
                latency_ms=rng.randint(50, 8000),
                cost_usd=f"{rng.randint(1, 90000) / 1_000_000:.6f}",
                prompt_tokens=rng.randint(0, 4000),
                completion_tokens=rng.randint(0, 1000),
                outcome="error" if rng.random() < 0.1 else "ok",
                quality_score=rng.choice([None, 0.25, 0.5, 0.75, 1.0]),
                wedding_date=(
                    rng.choice(weddings).date.isoformat()
                    if linked < 0.4
                    else "2026-07-0" + str(rng.randint(1, 9))
                    if linked < 0.6
                    else None
                ),
                venue_region="London",
            )
        )
    return records


def test_random_data_matches_an_independent_reference(organisation, make_wedding, june_rate):
    rng = random.Random(2026)
    weddings = [make_wedding(organisation, date(2026, 6, d), region="London") for d in (12, 13, 14)]
    ingest(organisation, *_random_batch(rng, organisation, weddings, 600, "x"))

    update_rollups()

    raw = list(AIUsageRecord.objects.values())
    groups: dict[tuple, list[dict]] = {}
    for row in raw:
        groups.setdefault((row["hour"], row["feature"], row["provider"], row["model"]), []).append(row)
    assert UsageRollup.objects.count() == len(groups)
    for (hour, feature, provider, model), members in groups.items():
        got = UsageRollup.objects.get(hour=hour, feature=feature, provider=provider, model=model)
        latencies = sorted(m["latency_ms"] for m in members)
        cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else [latencies[0]] * 99
        expected_keys = {
            str(m["wedding_id"]) if m["wedding_id"] else m["wedding_date"].isoformat()
            for m in members
            if m["wedding_id"] or m["wedding_date"]
        }
        assert got.requests == len(members)
        assert got.errors == sum(m["outcome"] == "error" for m in members)
        assert got.cost_usd == sum((m["cost_usd"] for m in members), Decimal(0))
        assert got.cost_gbp == sum((m["cost_gbp"] for m in members), Decimal(0))
        assert got.prompt_tokens == sum(m["prompt_tokens"] for m in members)
        assert got.latency_sum_ms == sum(latencies)
        assert (got.latency_min_ms, got.latency_max_ms) == (latencies[0], latencies[-1])
        assert got.latency_p50_ms == pytest.approx(cuts[49], abs=1e-9)
        assert got.latency_p95_ms == pytest.approx(cuts[94], abs=1e-9)
        assert got.weddings_assisted == len(expected_keys)
        assert got.quality_count == sum(m["quality_score"] is not None for m in members)
    per_hour = {}
    for row in raw:
        if row["wedding_id"] or row["wedding_date"]:
            key = str(row["wedding_id"]) if row["wedding_id"] else row["wedding_date"].isoformat()
            per_hour.setdefault(row["hour"], set()).add(key)
    stored = {}
    for hour, key in RollupWedding.objects.values_list("hour", "wedding_key"):
        stored.setdefault(hour, set()).add(key)
    assert stored == per_hour


def test_sql_and_python_computations_are_identical(organisation, make_wedding, june_rate):
    """On PostgreSQL the rollup runs in SQL; the Python computation SQLite uses must give the
    very same rows for the same raw data (on SQLite both sides are the Python path)."""
    rng = random.Random(11)
    weddings = [make_wedding(organisation, date(2026, 6, d), region="London") for d in (12, 13)]
    ingest(organisation, *_random_batch(rng, organisation, weddings, 400, "y"))

    update_rollups()

    raw = AIUsageRecord.objects.values_list(*rollup._FIELDS)
    python_rows, python_weddings = rollup.compute_rollups_python(raw)
    computed = sorted(
        ({k: v for k, v in vars(r).items() if k not in {"_state", "id", "computed_at"}} for r in python_rows),
        key=lambda r: (r["organisation_id"], r["hour"], r["feature"], r["provider"], r["model"]),
    )
    stored = figures()
    assert len(computed) == len(stored)
    for mine, theirs in zip(computed, stored, strict=True):
        assert mine.pop("quality_sum") == pytest.approx(theirs.pop("quality_sum"), abs=1e-9)
        assert mine == theirs  # p50/p95 bit for bit, money to the micro-unit
    assert {(w.hour, w.wedding_key) for w in python_weddings} == set(
        RollupWedding.objects.values_list("hour", "wedding_key")
    )


# -- incremental and idempotent -----------------------------------------------------------------------------
def test_recomputing_gives_the_same_rows(organisation, make_wedding, june_rate):
    rng = random.Random(5)
    weddings = [make_wedding(organisation, date(2026, 6, 13))]
    ingest(organisation, *_random_batch(rng, organisation, weddings, 200, "z"))
    update_rollups()
    first, first_weddings = figures(), set(RollupWedding.objects.values_list("organisation_id", "hour", "wedding_key"))

    stats = rebuild_rollups()

    assert stats.hours == 5
    assert figures() == first
    assert set(RollupWedding.objects.values_list("organisation_id", "hour", "wedding_key")) == first_weddings


def test_a_run_with_nothing_dirty_does_nothing_and_is_cheap(organisation, june_rate, django_assert_max_num_queries):
    ingest(organisation, wire_record("a"))
    update_rollups()
    before = figures()

    with django_assert_max_num_queries(3):  # PostgreSQL: lock, one aggregate, unlock
        stats = update_rollups()

    assert (stats.hours, stats.rollup_rows, stats.remaining) == (0, 0, 0)
    assert figures() == before


def test_late_record_is_picked_up_on_the_next_run(organisation, june_rate):
    ingest(organisation, wire_record("a", occurred_at=at(H14, 0), latency_ms=100))
    update_rollups()
    assert UsageRollup.objects.get(hour=H14).requests == 1

    ingest(organisation, wire_record("late", occurred_at=at(H14, 30), latency_ms=300))  # arrives an hour later
    stats = update_rollups()

    assert stats.hours == 1
    row = UsageRollup.objects.get(hour=H14)
    assert (row.requests, row.latency_p50_ms, row.latency_max_ms) == (2, 200.0, 300)
    assert not RollupDirtyHour.objects.exists()


@pytest.mark.skipif(
    connection.vendor == "postgresql",
    reason="PostgreSQL claims, recomputes and releases in one statement: see the concurrent test below",
)
def test_record_committed_during_a_recompute_keeps_its_hour_dirty(organisation, june_rate, monkeypatch):
    """The token protocol: the run deletes a marker only if its token is the one it read."""
    ingest(organisation, wire_record("a", occurred_at=at(H14, 0)), wire_record("b", occurred_at=at(H15, 0)))
    original = rollup._recompute_python

    def recompute_then_a_record_arrives(hours):
        counts = original(hours)
        ingest(organisation, wire_record("during", occurred_at=at(H14, 10)))  # re-marks 14:00
        return counts

    monkeypatch.setattr(rollup, "_recompute_python", recompute_then_a_record_arrives)
    stats = update_rollups()
    monkeypatch.setattr(rollup, "_recompute_python", original)

    assert (stats.markers, stats.remaining) == (1, 1)
    assert list(RollupDirtyHour.objects.values_list("hour", flat=True)) == [H14]
    assert UsageRollup.objects.get(hour=H14).requests == 1  # computed before "during" arrived

    update_rollups()

    assert UsageRollup.objects.get(hour=H14).requests == 2
    assert not RollupDirtyHour.objects.exists()


def test_many_dirty_hours_are_processed_in_chunks(organisation, june_rate, monkeypatch):
    monkeypatch.setitem(rollup.CHUNK_HOURS, "default", 2)
    monkeypatch.setitem(rollup.CHUNK_HOURS, "postgresql", 2)
    ingest(organisation, *[wire_record(f"r{i}", occurred_at=at(H14 + timedelta(hours=i), 0)) for i in range(5)])

    stats = update_rollups()

    assert (stats.hours, stats.rollup_rows, stats.remaining) == (5, 5, 0)


def test_rollups_are_per_organisation(organisation, make_organisation, june_rate):
    other = make_organisation(slug="bloom")
    ingest(organisation, wire_record("a"), wire_record("b"))
    ingest(other, wire_record("a"))

    update_rollups()

    counts = dict(UsageRollup.objects.values_list("organisation__slug", "requests"))
    assert counts == {"acme": 2, "bloom": 1}


def test_rebuild_of_one_organisation_leaves_others_alone_and_drops_stale_rollups(
    organisation, make_organisation, june_rate
):
    other = make_organisation(slug="bloom")
    ingest(organisation, wire_record("a", occurred_at=at(H14, 0)), wire_record("b", occurred_at=at(H15, 0)))
    ingest(other, wire_record("a"))
    update_rollups()
    AIUsageRecord.objects.filter(organisation=organisation, hour=H15).delete()  # e.g. a data-protection erasure
    bloom_before = figures(organisation=other)

    stats = rebuild_rollups(organisation)

    assert stats.hours == 2
    assert list(UsageRollup.objects.filter(organisation=organisation).values_list("hour", flat=True)) == [H14]
    assert figures(organisation=other) == bloom_before


def test_the_migration_gives_rollups_computed_before_it_their_fastest_request(organisation, june_rate):
    import importlib

    from django.apps import apps

    migration = importlib.import_module("wedsync_integrations.usage.migrations.0005_rollup_latency_min")
    ingest(
        organisation,
        *[wire_record(f"r{i}", occurred_at=at(H14, i), latency_ms=ms) for i, ms in enumerate((70, 30, 90))],
    )
    ingest(organisation, wire_record("other", occurred_at=at(H14, 9), model="gpt-4o", latency_ms=500))
    update_rollups()
    UsageRollup.objects.update(latency_min_ms=None)  # as rolled up before the field existed

    migration.backfill(apps, None)

    assert dict(UsageRollup.objects.values_list("model", "latency_min_ms")) == {"gpt-4o-mini": 30, "gpt-4o": 500}


# -- scheduling ---------------------------------------------------------------------------------------------------
def test_beat_schedule_is_installed_by_migration():
    task = PeriodicTask.objects.get(task="usage.update_rollups")
    assert task.enabled
    assert (task.interval.every, task.interval.period) == (1, "minutes")


def test_celery_task_runs_the_update(organisation, june_rate):
    from wedsync_integrations.usage.tasks import update_rollups as task

    ingest(organisation, wire_record("a"))

    result = task.apply().get()

    assert result["hours"] == 1 and result["rollup_rows"] == 1 and not result["skipped"]
    assert UsageRollup.objects.count() == 1


# -- PostgreSQL: real concurrency -------------------------------------------------------------------------------
def postgres_only(test):
    return pytest.mark.services(
        pytest.mark.skipif(
            connection.vendor != "postgresql", reason="needs PostgreSQL (concurrent transactions, advisory locks)"
        )(test)
    )


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_batch_committing_during_a_run_leaves_its_hour_dirty_on_postgres(organisation, june_rate):
    """A batch whose transaction is open while the rollup runs: the rollup's snapshot does not
    include it, its DELETE of the hour's marker waits for the batch, then sees the new token and
    keeps the marker, so the next run counts the batch."""
    ingest(organisation, wire_record("a", occurred_at=at(H14, 0)))
    marked, commit = threading.Event(), threading.Event()
    outcome = {}

    def slow_batch():
        try:
            with transaction.atomic():
                ingest(organisation, wire_record("during", occurred_at=at(H14, 10)))
                marked.set()
                assert commit.wait(10)
        finally:
            connections.close_all()

    def rollup_run():
        try:
            outcome["stats"] = update_rollups()
        finally:
            connections.close_all()

    batch, run = threading.Thread(target=slow_batch), threading.Thread(target=rollup_run)
    batch.start()
    assert marked.wait(10)
    run.start()
    _wait_for_lock_wait()  # the rollup is blocked on the marker the batch re-marked
    commit.set()
    batch.join(10)
    run.join(10)

    assert (outcome["stats"].markers, outcome["stats"].remaining) == (0, 1)
    assert UsageRollup.objects.get(hour=H14).requests == 1
    update_rollups()
    assert UsageRollup.objects.get(hour=H14).requests == 2
    assert not RollupDirtyHour.objects.exists()


def _wait_for_lock_wait(timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the rollup never waited for the batch's marker")


def test_on_the_embedded_default_a_second_run_gives_way_through_the_cache_lock(organisation, june_rate):
    if connection.vendor == "postgresql":
        pytest.skip("PostgreSQL runs take an advisory lock: see the test below")
    from django.core.cache import cache

    ingest(organisation, wire_record("a"))
    cache.add(rollup.CACHE_LOCK_KEY, 1)  # another process's run
    stats = update_rollups()
    assert stats.skipped and stats.hours == 0 and RollupDirtyHour.objects.count() == 1
    cache.delete(rollup.CACHE_LOCK_KEY)
    assert update_rollups().hours == 1 and not RollupDirtyHour.objects.exists()
    assert cache.get(rollup.CACHE_LOCK_KEY) is None  # released after the run


@postgres_only
def test_a_second_run_gives_way_while_one_holds_the_lock(organisation, june_rate):
    import psycopg
    from django.conf import settings

    ingest(organisation, wire_record("a"))
    db = settings.DATABASES["default"]
    with psycopg.connect(
        dbname=connection.settings_dict["NAME"],
        user=db.get("USER") or None,
        host=db.get("HOST") or None,
        port=db.get("PORT") or None,
        password=db.get("PASSWORD") or None,
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_advisory_lock(%s)", [rollup.ADVISORY_LOCK_KEY])
        stats = update_rollups()
    assert stats.skipped and stats.hours == 0
    assert RollupDirtyHour.objects.count() == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_backlog_is_split_over_connections_with_the_same_result(organisation, june_rate, settings, monkeypatch):
    rng = random.Random(3)
    hours = [H14 + timedelta(hours=h) for h in range(2 * rollup.PARALLEL_MIN_HOURS + 2)]
    ingest(
        organisation,
        *[
            wire_record(
                f"b-{i}", occurred_at=at(rng.choice(hours), rng.randrange(60)), latency_ms=rng.randint(50, 5000)
            )
            for i in range(600)
        ],
    )
    threads_used = set()
    original = rollup._recompute_hours

    def spy(hours, ceiling):
        threads_used.add(threading.current_thread().name)
        return original(hours, ceiling)

    monkeypatch.setattr(rollup, "_recompute_hours", spy)
    settings.USAGE_ROLLUP_CONNECTIONS = 2
    parallel = update_rollups()
    in_parallel, parallel_threads = figures(), set(threads_used)

    settings.USAGE_ROLLUP_CONNECTIONS = 1
    threads_used.clear()
    rebuild_rollups()

    assert (parallel.hours, parallel.remaining) == (len(hours), 0)
    assert len(parallel_threads) == 2  # this thread and one more, each on its own connection
    assert threads_used == {threading.current_thread().name}  # serial the second time
    assert figures() == in_parallel
    assert sum(row["requests"] for row in in_parallel) == 600


def test_a_caller_inside_a_transaction_never_gets_other_connections(organisation, june_rate, settings, monkeypatch):
    """Its own uncommitted records would be invisible to them."""
    settings.USAGE_ROLLUP_CONNECTIONS = 4
    monkeypatch.setattr(rollup, "PARALLEL_MIN_HOURS", 1)
    ingest(organisation, *[wire_record(f"r{i}", occurred_at=at(H14 + timedelta(hours=i), 0)) for i in range(8)])

    stats = update_rollups()  # pytest-django holds the test inside a transaction

    assert (stats.hours, stats.rollup_rows, stats.remaining) == (8, 8, 0)
