"""The durable inbox: store verified events exactly once, then hand them to Celery.

    stored = inbox.store("pagerduty", organisation, parsed_events, client_ip=..., headers=...)
    # -> [(event id, duplicate?)]; new events are published for processing after commit

Dedupe is a unique key over (source, organisation, the vendor's event id): a vendor retry or a
replayed request finds the row already there and is acknowledged without a second event. The
stored row *is* the queue: if publishing to the broker fails, the row stays "received" and the
beat sweeper publishes it; nothing depends on the publish succeeding.

When the processing task is published (Dispatch):
- IMMEDIATE, as the request stores the event: the alert sources (Slack buttons, PagerDuty,
  Twilio, Datadog, New Relic), where seconds matter. Costs a Celery publish per request.
- SWEEPER, by the beat sweeper (every 10 s, in batches): the CRM, accounting and generic sources,
  whose promises are minutes (CRM sync < 5 min). The request then costs one INSERT, and the
  endpoint serves about 1.5x the requests per second (bench/bench_webhooks.py).
Each source declares its default (InboundSource.dispatch); WEBHOOK_DISPATCH forces one for all.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import time
from collections.abc import Iterable
from functools import lru_cache

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.utils import timezone

from wedsync_integrations import calendar
from wedsync_integrations.core.observability import get_correlation_id

from .family import FAMILY
from .models import EventStatus, InboundEvent, Priority
from .publishing import publish

logger = logging.getLogger("wedsync.webhooks")

class Dispatch(enum.StrEnum):
    IMMEDIATE = "immediate"
    SWEEPER = "sweeper"


def dispatch_for(source: str) -> Dispatch:
    forced = settings.WEBHOOK_DISPATCH
    if forced:
        return Dispatch(forced)
    return Dispatch(getattr(FAMILY.providers.get(source), "dispatch", Dispatch.IMMEDIATE))


def dedupe_key(source: str, organisation_id: int | None, external_id: str) -> str:
    raw = f"{source}\x1f{organisation_id or '-'}\x1f{external_id}"
    return hashlib.sha256(raw.encode()).hexdigest()


def priority_at(now=None) -> int:
    """Events arriving in the wedding-day window (Fri 18:00 – Sun 23:00, London) go first."""
    return Priority.WEDDING_DAY if calendar.is_wedding_day_mode(now) else Priority.NORMAL


def store(
    source: str,
    organisation,
    events: Iterable,
    *,
    client_ip: str | None = None,
    headers: dict | None = None,
    now=None,
) -> list[tuple[int, bool]]:
    """Insert each parsed event unless its dedupe key exists. Returns (id, duplicate?) per event."""
    now = now or timezone.now()
    priority = priority_at(now)
    publishing_now = dispatch_for(source) == Dispatch.IMMEDIATE
    organisation_id = organisation.pk if organisation is not None else None
    correlation_id = get_correlation_id()
    results: list[tuple[int, bool]] = []
    new_ids: list[int] = []
    for parsed in events:
        key = dedupe_key(source, organisation_id, parsed.external_id)
        row = {
            "source": source,
            "organisation_id": organisation_id,
            "event_type": parsed.event_type,
            "external_id": parsed.external_id,
            "dedupe_key": key,
            "payload": parsed.payload,
            "headers": headers or {},
            "client_ip": client_ip,
            "priority": int(priority),
            "next_attempt_at": now,
            "queued_at": now if publishing_now else None,
            "received_at": now,
            "correlation_id": correlation_id,
            **NEW_EVENT,
        }
        event_id = insert_if_new(row)
        if event_id is not None:
            results.append((event_id, False))
            new_ids.append(event_id)
        else:
            existing = InboundEvent.objects.filter(dedupe_key=key).values_list("pk", flat=True).first()
            results.append((existing, True))
    if new_ids and publishing_now:
        transaction.on_commit(lambda: dispatch(new_ids, priority))
    return results


# -- the one INSERT on the endpoint's hot path ----------------------------------------------------
# Every column of InboundEvent, in statement order (tests/webhooks/test_inbox.py keeps this in
# step with the model). On PostgreSQL and SQLite one statement does insert-or-detect-duplicate:
#     INSERT … ON CONFLICT (dedupe_key) DO NOTHING RETURNING id
# with values adapted once here rather than by the ORM's per-field machinery, the columns every
# new event starts with written into the statement as literals, and on PostgreSQL server-side
# parameters (psycopg prepares the statement after a few uses) instead of quoting in Python:
# together about half the endpoint's own CPU of Model.save(). Django's connection handling is
# kept: its error wrapping (a broken connection is closed at the end of the request) and its
# transaction state. Other databases use the ORM.
COLUMNS = (
    "source", "organisation_id", "event_type", "external_id", "dedupe_key", "payload", "headers", "client_ip",
    "status", "priority", "attempts", "max_attempts", "next_attempt_at", "leased_until", "queued_at",
    "handlers_done", "last_error", "received_at", "processed_at", "correlation_id",
)  # fmt: skip
DEFAULT_MAX_ATTEMPTS = InboundEvent._meta.get_field("max_attempts").default
# What every newly received event starts with: SQL literals in the statement, not parameters.
NEW_EVENT = {
    "status": EventStatus.RECEIVED.value,
    "attempts": 0,
    "max_attempts": DEFAULT_MAX_ATTEMPTS,
    "leased_until": None,
    "handlers_done": [],
    "last_error": "",
    "processed_at": None,
}
PARAM_COLUMNS = tuple(name for name in COLUMNS if name not in NEW_EVENT)
JSON_COLUMNS = frozenset({"payload", "headers"})
DATETIME_COLUMNS = frozenset({"next_attempt_at", "queued_at", "received_at"})


def insert_if_new(row: dict) -> int | None:
    """Insert one event row; its id, or None if the dedupe key already exists."""
    if connection.vendor == "postgresql":
        return _insert_postgresql(row)
    if connection.vendor == "sqlite":
        return _insert_sqlite(row)
    return _insert_orm(row)


def _literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(value)
    text = value if isinstance(value, str) else json.dumps(value)
    return "'" + text.replace("'", "''") + "'"


@lru_cache(maxsize=4)
def _insert_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(name) for name in COLUMNS)
    values = ", ".join(_literal(NEW_EVENT[name]) if name in NEW_EVENT else "%s" for name in COLUMNS)
    # identifiers come from the model, literals from NEW_EVENT above: never from input
    return (
        f"INSERT INTO {quote(InboundEvent._meta.db_table)} ({columns}) VALUES ({values}) "  # noqa: S608
        f"ON CONFLICT ({quote('dedupe_key')}) DO NOTHING RETURNING {quote('id')}"
    )


def _insert_postgresql(row: dict) -> int | None:
    from psycopg import Cursor
    from psycopg.types.json import Jsonb

    params = [Jsonb(row[name]) if name in JSON_COLUMNS else row[name] for name in PARAM_COLUMNS]
    db = connections[DEFAULT_DB_ALIAS]  # the thread's wrapper, looked up once (`connection` does it per use)
    _skip_health_check_if_just_used(db)
    db.close_if_health_check_failed()
    db.ensure_connection()
    with db.wrap_database_errors, Cursor(db.connection) as cursor:
        cursor.execute(_insert_sql("postgresql"), params)
        found = cursor.fetchone()
    db.webhooks_last_insert = (db.connection, time.monotonic())
    return found[0] if found else None


# Django health-checks a reused connection with an extra query at the start of every request
# (CONN_HEALTH_CHECKS). A connection that carried an INSERT less than a second ago is not one
# that sat idle while the server went away, so under load that round trip is skipped; after
# any idle second the check runs as usual. (If the server restarts within that second, the
# request fails, Django closes the connection, and the vendor's retry succeeds.)
# The mark lives on the (per-thread) connection wrapper and names the very database connection
# it was made on, so a reconnection is never mistaken for a busy one and nothing accumulates.
HEALTH_CHECK_AFTER_IDLE_SECONDS = 1.0


def _skip_health_check_if_just_used(db) -> None:
    raw = db.connection
    if raw is None or db.health_check_done:
        return
    used, at = getattr(db, "webhooks_last_insert", (None, 0.0))
    if used is raw and time.monotonic() - at < HEALTH_CHECK_AFTER_IDLE_SECONDS:
        db.health_check_done = True


def _insert_sqlite(row: dict) -> int | None:
    adapt_datetime = connection.ops.adapt_datetimefield_value
    params = [
        json.dumps(row[name]) if name in JSON_COLUMNS else adapt_datetime(row[name]) if name in DATETIME_COLUMNS
        else row[name]
        for name in PARAM_COLUMNS
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(_insert_sql("sqlite"), params)
        found = cursor.fetchone()
    return found[0] if found else None


def _insert_orm(row: dict) -> int | None:
    try:
        with transaction.atomic():
            return InboundEvent.objects.create(**row).pk
    except IntegrityError:
        return None


def dispatch(event_ids: list[int], priority: int = Priority.NORMAL) -> int:
    """After a request stored new events of an IMMEDIATE source: publish their tasks now."""
    return sum(publish(event_id, priority) for event_id in event_ids)
