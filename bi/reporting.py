"""Looker's reporting tables, in the project's own database (Looker has no ingestion API: it queries
a database). PostgreSQL: schema `reporting` (BI_REPORTING_SCHEMA), tables `executive_metrics` and
`feature_usage`; elsewhere (SQLite) tables `reporting_executive_metrics` and `reporting_feature_usage`.
Their columns are bi/schema.py's lists plus `loaded_at`, the load time the LookML datagroup's
sql_trigger watches.

They are loaded after each metrics refresh with the rows that changed, per scope and only when all of
that scope's rows pass the data-quality gates: a scope that fails keeps what it had (nothing partial
is loaded). Tables are created by migration (and, harmlessly, on first load).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .models import ExecutiveMetrics, FeatureUsage, StaffInput
from .schema import TABLES, Column, feature_rows, metric_row

LOADED_AT = "loaded_at"
_SQL_TYPES = {
    "postgresql": {"text": "varchar(200)", "date": "date", "datetime": "timestamp with time zone",
                   "bool": "boolean", "count": "bigint", "amount": "numeric(20,4)", "float": "double precision"},
    "default": {"text": "text", "date": "date", "datetime": "datetime", "bool": "bool", "count": "bigint",
                "amount": "decimal", "float": "real"},
}  # fmt: skip


def _postgres(conn=None) -> bool:
    return (conn or connection).vendor == "postgresql"


def table_name(table: str, conn=None) -> str:
    """The quoted, schema-qualified name of a reporting table."""
    conn = conn or connection
    if _postgres(conn):
        return f"{conn.ops.quote_name(settings.BI_REPORTING_SCHEMA)}.{conn.ops.quote_name(table)}"
    return conn.ops.quote_name(f"reporting_{table}")


def lookml_table_name(table: str, conn=None) -> str:
    """The table as LookML's sql_table_name names it (unquoted)."""
    if _postgres(conn):
        return f"{settings.BI_REPORTING_SCHEMA}.{table}"
    return f"reporting_{table}"


def physical_name(table: str, conn=None) -> tuple[str | None, str]:
    """(schema, table) as the database's introspection knows them."""
    if _postgres(conn):
        return settings.BI_REPORTING_SCHEMA, table
    return None, f"reporting_{table}"


def sql_type(column: Column, conn=None) -> str:
    types = _SQL_TYPES["postgresql" if _postgres(conn) else "default"]
    kind = column.kind if column.kind in types else "float"
    return types[kind]


def column_names(table: str) -> list[str]:
    return [column.name for column in TABLES[table]] + [LOADED_AT]


def ensure_tables(conn=None) -> None:
    conn = conn or connection
    with conn.cursor() as cursor:
        if _postgres(conn):
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {conn.ops.quote_name(settings.BI_REPORTING_SCHEMA)}")
        for table, columns in TABLES.items():
            definitions = [f"{conn.ops.quote_name(c.name)} {sql_type(c, conn)}" for c in columns]
            definitions.append(
                f"{LOADED_AT} {_SQL_TYPES['postgresql' if _postgres(conn) else 'default']['datetime']} NOT NULL"
            )
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {table_name(table, conn)} ({', '.join(definitions)})")
            index = conn.ops.quote_name(f"reporting_{table}_row_key")
            target = table_name(table, conn)
            cursor.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {target} (row_key)")


def drop_tables(conn=None) -> None:
    conn = conn or connection
    with conn.cursor() as cursor:
        for table in TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {table_name(table, conn)}")


def scope_rows(scope_keys: list[str] | None = None, *, today: date | None = None):
    """The stored metrics rows of the given scopes (all when None), within the history kept."""
    today = today or timezone.localdate()
    rows = ExecutiveMetrics.objects.select_related("organisation").filter(
        period_start__gte=today - timedelta(days=settings.BI_HISTORY_DAYS)
    )
    if scope_keys is not None:
        rows = rows.filter(scope_key__in=scope_keys)
    return rows.order_by("scope_key", "period", "period_start")


def export_rows(rows) -> tuple[list[dict], list[dict]]:
    """(metric rows, feature rows) as every tool receives them, staff inputs included."""
    rows = list(rows)
    staff = {
        (item.scope_key, item.month): item
        for item in StaffInput.objects.filter(scope_key__in={row.scope_key for row in rows})
    }
    features = defaultdict(list)
    for feature in FeatureUsage.objects.filter(metrics__in=[row.pk for row in rows]).order_by("metrics_id", "feature"):
        features[feature.metrics_id].append(feature)
    metrics_out, features_out = [], []
    for row in rows:
        slug = row.organisation.slug if row.organisation_id else "platform"
        name = row.organisation.name if row.organisation_id else "WedSync platform"
        metrics_out.append(
            metric_row(row, slug=slug, name=name, staff=staff.get((row.scope_key, row.period_start.replace(day=1))))
        )
        features_out += feature_rows(row, features[row.pk], slug=slug)
    return metrics_out, features_out


def load(scope_keys: list[str], *, now=None) -> dict:
    """Replace the given scopes' rows in the reporting tables, each scope only if all its rows pass
    the gates. Returns {"loaded": [...], "held_back": {scope: [failures]}, "loaded_at": now}."""
    now = now or timezone.now()
    ensure_tables()
    rows_by_scope = defaultdict(list)
    for row in scope_rows(scope_keys):
        rows_by_scope[row.scope_key].append(row)
    loaded, held_back = [], {}
    with transaction.atomic():
        for scope_key in sorted(set(scope_keys)):
            rows = rows_by_scope.get(scope_key, [])
            failures = [f"{row.row_key}: {failure}" for row in rows for failure in row.gate_failures]
            if failures:
                held_back[scope_key] = failures
                continue
            _replace_scope(scope_key, rows, now)
            loaded.append(scope_key)
    return {"loaded": loaded, "held_back": held_back, "loaded_at": now}


def _replace_scope(scope_key: str, rows, now) -> None:
    prefix = f"{scope_key}:"
    metrics, features = export_rows(rows)
    with connection.cursor() as cursor:
        for table, values in (("executive_metrics", metrics), ("feature_usage", features)):
            target = table_name(table)
            cursor.execute(f"DELETE FROM {target} WHERE row_key LIKE %s", [prefix + "%"])  # noqa: S608
            names = column_names(table)
            if not values:
                continue
            placeholders = ", ".join(["%s"] * len(names))
            quoted = ", ".join(connection.ops.quote_name(name) for name in names)
            cursor.executemany(
                f"INSERT INTO {target} ({quoted}) VALUES ({placeholders})",  # noqa: S608 (names from schema.py)
                [[value.get(name) if name != LOADED_AT else now for name in names] for value in values],
            )


def loaded_at() -> object:
    """The newest load time in the reporting tables (what the datagroup's sql_trigger reads)."""
    ensure_tables()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT MAX({LOADED_AT}) FROM {table_name('executive_metrics')}")  # noqa: S608
        return cursor.fetchone()[0]
