"""Building Tableau `.hyper` extracts with Tableau's own engine (tableauhyperapi, docs/vendors/tableau.md).

One local Hyper process per worker process, started on first use and reused (starting one costs a
noticeable fraction of a second); the engine writes the file, one table `Extract.Extract` with the
columns of bi/schema.py, typed for Tableau:

    text -> TEXT, date -> DATE, datetime -> TIMESTAMP_TZ, bool -> BOOL, count -> BIG INT,
    amount -> NUMERIC(18,4), measure/share/change -> DOUBLE

No HTTP is involved; the file is then published by providers/tableau.py.
"""

from __future__ import annotations

import atexit
import contextlib
import tempfile
import threading
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from .schema import Column

HYPER_MAGIC = b"Hyper"  # what every .hyper file starts with (the sandbox checks uploads with it)
SCHEMA, TABLE = "Extract", "Extract"

_process = None
_process_lock = threading.Lock()


def _engine():
    global _process
    with _process_lock:
        if _process is None:
            from tableauhyperapi import HyperProcess, Telemetry

            # no log file in the working directory, no usage data sent to Tableau
            _process = HyperProcess(
                telemetry=Telemetry.DO_NOT_SEND_USAGE_DATA_TO_TABLEAU, parameters={"log_config": ""}
            )
            atexit.register(_shutdown)
        return _process


def _shutdown() -> None:
    global _process
    with _process_lock:
        if _process is not None:
            _process.close()
            _process = None


def _sql_type(column: Column):
    from tableauhyperapi import SqlType

    return {
        "text": SqlType.text(),
        "date": SqlType.date(),
        "datetime": SqlType.timestamp_tz(),
        "bool": SqlType.bool(),
        "count": SqlType.big_int(),
        "amount": SqlType.numeric(18, 4),
    }.get(column.kind, SqlType.double())


def _value(column: Column, value):
    """A row value as the Hyper inserter takes it."""
    if value is None:
        return None
    if column.kind == "date" and isinstance(value, str):
        return date.fromisoformat(value)
    if column.kind == "datetime" and isinstance(value, str):
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    if column.kind == "amount":
        return Decimal(str(value))
    if column.kind in ("measure", "share", "change"):
        return float(value)
    return value


def build(path: Path, columns: tuple[Column, ...], rows: list[dict]) -> Path:
    """Write `rows` (dicts keyed by column name) to a new .hyper file at `path`, table Extract.Extract."""
    from tableauhyperapi import Connection, CreateMode, Inserter, Nullability, SchemaName, TableDefinition, TableName

    definition = TableDefinition(
        TableName(SCHEMA, TABLE),
        [
            TableDefinition.Column(
                column.name, _sql_type(column), Nullability.NOT_NULLABLE if column.required else Nullability.NULLABLE
            )
            for column in columns
        ],
    )
    with Connection(_engine().endpoint, str(path), CreateMode.CREATE_AND_REPLACE) as connection:
        connection.catalog.create_schema(SchemaName(SCHEMA))
        connection.catalog.create_table(definition)
        with Inserter(connection, definition) as inserter:
            for row in rows:
                inserter.add_row([_value(column, row.get(column.name)) for column in columns])
            inserter.execute()
    return path


@contextlib.contextmanager
def temporary_extract(name: str = "extract.hyper"):
    """A path for a new .hyper file in a fresh temporary directory, removed afterwards (the engine
    creates the file itself: an existing empty file is "not a valid database")."""
    with tempfile.TemporaryDirectory(prefix="wedsync-bi-") as directory:
        yield Path(directory) / name


def read(path: Path) -> list[tuple]:
    """Every row of Extract.Extract (tests and the sandbox read extracts back with this)."""
    from tableauhyperapi import Connection, TableName

    with Connection(_engine().endpoint, str(path)) as connection:
        return connection.execute_list_query(f"SELECT * FROM {TableName(SCHEMA, TABLE)}")  # noqa: S608 (constant names)


def columns_of(path: Path) -> list[str]:
    from tableauhyperapi import Connection, TableName

    with Connection(_engine().endpoint, str(path)) as connection:
        definition = connection.catalog.get_table_definition(TableName(SCHEMA, TABLE))
        return [column.name.unescaped for column in definition.columns]
