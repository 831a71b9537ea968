"""Queries for backup and restore: every table to rows and back (issue 6).

The table and column lists come from the live schema (``information_schema``), never from a
hand-kept list, so a table or column added by a later migration is backed up without a change
here. Values travel as JSON (see ``docs/backup-format.md``):

=============  ==============================================================
column type    JSON value
=============  ==============================================================
VARCHAR        string
BIGINT,        integer
INTEGER
BOOLEAN        ``true`` / ``false``
TIMESTAMP      ``"2026-11-28T12:00:00.000000Z"`` (UTC, microseconds)
BLOB           standard base64 string
any            ``null`` for SQL NULL
=============  ==============================================================

A backup of an older schema version is loaded into a scratch in-memory DuckDB at its own
version, brought up to date by the ordinary migrations, and read back, so that restore only
ever inserts rows of the current schema.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb

from certkit.errors import InvalidInput
from certkit.registry.dialect import SqlError, is_postgres
from certkit.registry.schema import MIGRATIONS, SCHEMA_VERSION, set_schema_version
from certkit.registry.store import Store

__all__ = [
    "Column",
    "TableRows",
    "decode_value",
    "dump_tables",
    "encode_value",
    "non_empty_reasons",
    "restore_tables",
    "schema_columns",
    "server_key_files",
    "upgrade_tables",
]

# PostgreSQL's names of the column types, as DuckDB (and the backup format) name them.
_PG_TYPES = {
    "character varying": "VARCHAR",
    "text": "VARCHAR",
    "bigint": "BIGINT",
    "integer": "INTEGER",
    "smallint": "SMALLINT",
    "boolean": "BOOLEAN",
    "timestamp without time zone": "TIMESTAMP",
    "bytea": "BLOB",
    "double precision": "DOUBLE",
}
_INSERT_CHUNK = 256  # rows per multi-row INSERT ... VALUES
_FRESH_AUDIT_ACTIONS = ("initialise",)


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a registry table: its name and DuckDB type (``BIGINT``, ``BLOB`` ...)."""

    name: str
    type: str


@dataclass(frozen=True, slots=True)
class TableRows:
    """All rows of one table, as tuples in the order of ``columns`` (Python values)."""

    name: str
    columns: tuple[Column, ...]
    rows: list[tuple[Any, ...]]


# ------------------------------------------------------------------ schema
def _schema_columns(con: Any) -> dict[str, tuple[Column, ...]]:
    rows = con.execute(
        "SELECT c.table_name, c.column_name, c.data_type "
        "FROM information_schema.columns c JOIN information_schema.tables t "
        "ON t.table_catalog = c.table_catalog AND t.table_schema = c.table_schema "
        "AND t.table_name = c.table_name "
        "WHERE t.table_schema = current_schema() AND t.table_type = 'BASE TABLE' "
        "AND t.table_catalog = current_database() "
        "ORDER BY c.table_name, c.ordinal_position"
    ).fetchall()
    tables: dict[str, list[Column]] = {}
    for table, column, kind in rows:
        kind = _PG_TYPES.get(str(kind).lower(), str(kind).upper())
        tables.setdefault(str(table), []).append(Column(str(column), kind))
    return {name: tuple(columns) for name, columns in tables.items()}


def schema_columns(store: Store) -> dict[str, tuple[Column, ...]]:
    """Every table of the registry with its columns, in table-name and column order."""
    return _schema_columns(store._con)


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ------------------------------------------------------------------- dump
def _dump(con: Any) -> list[TableRows]:
    tables = []
    for table, columns in _schema_columns(con).items():
        names = ", ".join(_quoted(c.name) for c in columns)
        every = ", ".join(str(i) for i in range(1, len(columns) + 1))
        rows = con.execute(f"SELECT {names} FROM {_quoted(table)} ORDER BY {every}").fetchall()
        tables.append(TableRows(table, columns, [tuple(r) for r in rows]))
    return tables


def dump_tables(store: Store) -> list[TableRows]:
    """All rows of every table (ordered, so equal registries dump equally)."""
    return _dump(store._con)


def server_key_files(store: Store) -> list[tuple[str, bool]]:
    """The key file of every server certificate row, and whether that row is active."""
    rows = store._con.execute(
        "SELECT key_file, bool_or(retired_at IS NULL) FROM server_certificates "
        "GROUP BY key_file ORDER BY key_file"
    ).fetchall()
    return [(str(r[0]), bool(r[1])) for r in rows]


def non_empty_reasons(store: Store) -> list[str]:
    """Why the registry holds more than a freshly initialised home does ([] if it does not).

    A fresh home has its meta rows, one active server certificate per node and the audit
    events of its initialisation; anything else would be lost by a restore.
    """
    con = store._con
    tables = _schema_columns(con)

    def count(sql: str) -> int:
        row = con.execute(sql).fetchone()
        return int(row[0]) if row else 0

    reasons = []
    checks = {
        "entries": ("SELECT count(*) FROM entries", "client certificate entries"),
        "well_known": ("SELECT count(*) FROM well_known", "well-known certificates"),
        "sessions": ("SELECT count(*) FROM sessions", "two-factor sessions"),
        "server_certificates": (
            "SELECT count(*) FROM server_certificates WHERE retired_at IS NOT NULL",
            "replaced server certificates",
        ),
        "audit_log": (
            "SELECT count(*) FROM audit_log WHERE action NOT IN "
            f"({', '.join(repr(a) for a in _FRESH_AUDIT_ACTIONS)})",
            "audit events",
        ),
    }
    for table, (sql, what) in checks.items():
        if table in tables:
            found = count(sql)
            if found:
                reasons.append(f"{found} {what}")
    known = set(checks) | {"meta", "certificates"}
    for table in sorted(set(tables) - known):  # a table added later: any row counts
        found = count(f"SELECT count(*) FROM {_quoted(table)}")
        if found:
            reasons.append(f"{found} rows in {table}")
    return reasons


# ---------------------------------------------------------------- restore
def _insert(con: Any, table: TableRows) -> None:
    if not table.rows:
        return
    names = ", ".join(_quoted(c.name) for c in table.columns)
    row = "(" + ", ".join("?" * len(table.columns)) + ")"
    for start in range(0, len(table.rows), _INSERT_CHUNK):
        chunk = table.rows[start : start + _INSERT_CHUNK]
        values = [value for r in chunk for value in r]
        con.execute(
            f"INSERT INTO {_quoted(table.name)} ({names}) VALUES {', '.join([row] * len(chunk))}",
            values,
        )


def _sequences(con: Any) -> list[str]:
    rows = con.execute(
        "SELECT sequence_name FROM information_schema.sequences "
        "WHERE sequence_schema = current_schema() ORDER BY sequence_name"
        if is_postgres(con)
        else "SELECT sequence_name FROM duckdb_sequences() "
        "WHERE schema_name = 'main' AND database_name = current_database() "
        "ORDER BY sequence_name"
    ).fetchall()
    return [str(r[0]) for r in rows]


def _advance_sequences(con: Any) -> None:
    """Restart every sequence past the largest ``id``/``*_id`` in any table.

    Which table draws on which sequence is not recorded in the schema, so every sequence
    starts past every id: ids only need to be unique and increasing, not dense.
    """
    highest = 0
    for table, columns in _schema_columns(con).items():
        for column in columns:
            if column.type in ("BIGINT", "INTEGER") and (
                column.name == "id" or column.name.endswith("_id")
            ):
                row = con.execute(
                    f"SELECT max({_quoted(column.name)}) FROM {_quoted(table)}"
                ).fetchone()
                if row and row[0] is not None:
                    highest = max(highest, int(row[0]))
    for sequence in _sequences(con):
        row = con.execute(f"SELECT nextval('{sequence}')").fetchone()
        current = int(row[0]) if row else 1
        start = max(highest + 1, current + 1)
        if is_postgres(con):
            con.execute("SELECT setval(?, ?, false)", [sequence, start])
            continue
        con.execute(f"DROP SEQUENCE {_quoted(sequence)}")
        con.execute(f"CREATE SEQUENCE {_quoted(sequence)} START {start}")


def restore_tables(store: Store, tables: Sequence[TableRows]) -> None:
    """Replace every row of every table with ``tables`` (in the caller's transaction).

    ``tables`` must name exactly the registry's tables with exactly their columns (see
    :func:`upgrade_tables`). The schema version row of ``meta`` is kept as this registry's;
    sequences are advanced past the restored ids.
    """
    con = store._con
    schema = _schema_columns(con)
    given = {t.name: t for t in tables}
    if set(given) != set(schema):
        raise InvalidInput(
            "The backup's tables do not match this registry's: "
            f"{', '.join(sorted(set(given) ^ set(schema)))}."
        )
    for name, columns in schema.items():
        if set(given[name].columns) != set(columns):
            raise InvalidInput(
                f"The backup's columns of table {name} do not match this registry's."
            )
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = str(row[0]) if row else str(SCHEMA_VERSION)
    for name in schema:
        con.execute(f"DELETE FROM {_quoted(name)}")
    try:
        for name in schema:
            _insert(con, given[name])
    except (duckdb.Error, SqlError) as error:  # a duplicate key, a NULL where none may be ...
        raise InvalidInput(
            f"The backup's rows break the registry's rules ({error}); nothing was changed."
        ) from None
    set_schema_version(con, int(version))
    _advance_sequences(con)


def upgrade_tables(tables: Sequence[TableRows], version: int) -> list[TableRows]:
    """Rows of a backup at schema ``version`` brought to :data:`SCHEMA_VERSION`.

    The rows go into a scratch in-memory DuckDB made by the migrations up to ``version``,
    the later migrations run on them, and every table is read back.
    """
    if version == SCHEMA_VERSION:
        return list(tables)
    if version not in MIGRATIONS or version > SCHEMA_VERSION:
        raise InvalidInput(f"This certkit cannot restore a backup of schema version {version}.")
    con = duckdb.connect(":memory:")
    try:
        for step in range(1, version + 1):
            con.execute(MIGRATIONS[step])
        schema = _schema_columns(con)
        for table in tables:
            if table.name not in schema:
                raise InvalidInput(
                    f"The backup has a table {table.name} that schema version {version} lacks."
                )
            if {c.name for c in table.columns} != {c.name for c in schema[table.name]}:
                raise InvalidInput(
                    f"The backup's columns of table {table.name} do not match schema "
                    f"version {version}."
                )
            _insert(con, table)
        for step in range(version + 1, SCHEMA_VERSION + 1):
            con.execute(MIGRATIONS[step])
        return _dump(con)
    except duckdb.Error as error:
        raise InvalidInput(
            f"The backup's rows do not fit schema version {version}: {error}"
        ) from None
    finally:
        con.close()


# ----------------------------------------------------------------- values
def encode_value(value: Any, column: Column) -> Any:
    """A stored value as JSON (see the module docstring)."""
    if value is None:
        return None
    if column.type == "BLOB":
        return base64.b64encode(bytes(value)).decode("ascii")
    if column.type.startswith("TIMESTAMP"):
        assert isinstance(value, datetime)
        return value.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"
    if column.type in ("BIGINT", "INTEGER", "SMALLINT", "HUGEINT"):
        return int(value)
    if column.type == "BOOLEAN":
        return bool(value)
    if column.type == "VARCHAR":
        return str(value)
    if column.type == "DOUBLE":
        return float(value)
    raise TypeError(f"backup: no JSON encoding for column type {column.type}")


def decode_value(value: Any, column: Column) -> Any:
    """A JSON value back to what the column stores.

    Raises:
        ValueError: the value does not fit the column (the caller names file and line).
    """
    if value is None:
        return None
    kind = column.type
    if kind == "BLOB":
        if not isinstance(value, str):
            raise ValueError(f"{column.name}: expected base64 text")
        try:
            return base64.b64decode(value, validate=True)
        except binascii.Error:
            raise ValueError(f"{column.name}: invalid base64") from None
    if kind.startswith("TIMESTAMP"):
        if not isinstance(value, str) or not value.endswith("Z"):
            raise ValueError(f"{column.name}: expected a UTC timestamp ending in Z")
        try:
            return datetime.fromisoformat(value[:-1])
        except ValueError:
            raise ValueError(f"{column.name}: invalid timestamp {value!r}") from None
    if kind in ("BIGINT", "INTEGER", "SMALLINT", "HUGEINT"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{column.name}: expected an integer")
        return value
    if kind == "BOOLEAN":
        if not isinstance(value, bool):
            raise ValueError(f"{column.name}: expected true or false")
        return value
    if kind == "VARCHAR":
        if not isinstance(value, str):
            raise ValueError(f"{column.name}: expected a string")
        return value
    if kind == "DOUBLE":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"{column.name}: expected a number")
        return float(value)
    raise ValueError(f"{column.name}: unsupported column type {kind}")


def column_types(columns: Iterable[Column]) -> Mapping[str, str]:
    """``{name: type}`` of some columns (for the manifest)."""
    return {c.name: c.type for c in columns}
