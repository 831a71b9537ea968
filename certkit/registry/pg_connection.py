"""A psycopg connection that :class:`~certkit.registry.store.Store` can use as it uses a
DuckDB connection: ``execute`` with DuckDB's ``?`` and ``$name`` placeholders (translated,
bound client-side so that PostgreSQL sees typed literals), ``fetchone``/``fetchall``/
``fetch_df``, and ``COPY`` for bulk rows. A refused statement raises
:class:`~certkit.registry.dialect.SqlError`; a lost connection or a lock wait past its
timeout, a :class:`~certkit.errors.CertkitError`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg

from certkit.errors import CertkitError, RegistryBusy
from certkit.registry.dialect import SqlError

_NAMED = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")

# Timestamps (without time zone), integers and booleans, by PostgreSQL type OID: fetch_df
# gives them the dtypes DuckDB's fetch_df gives.
_TIMESTAMP_OIDS = frozenset({1114})
_INTEGER_OIDS = frozenset({20, 21, 23})
_BOOLEAN_OIDS = frozenset({16})


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """DuckDB placeholders to psycopg's: ``?`` -> ``%s``, ``$name`` -> ``%(name)s``."""
    return _NAMED.sub(r"%(\1)s", sql.replace("%", "%%")).replace("?", "%s")


def _naive_utc(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


class PgConnection:
    """A psycopg connection with the calls :class:`Store` makes of a DuckDB connection."""

    dialect = "postgresql"

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw
        self._cursor = raw.cursor()

    def execute(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
    ) -> PgConnection:
        try:
            if params:
                self._cursor.execute(translate(sql), params)
            else:
                self._cursor.execute(sql)
        except psycopg.OperationalError as error:
            raise _lost(error) from None
        except psycopg.Error as error:
            raise SqlError(str(error).strip()) from None
        return self

    def fetchone(self) -> tuple[Any, ...] | None:
        return self._cursor.fetchone()

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._cursor.fetchall()

    def fetch_df(self) -> Any:
        """The result as a pandas DataFrame with DuckDB's dtypes (``datetime64[us]``,
        ``int64``, ``bool``), also when it has no rows."""
        import pandas as pd

        description = self._cursor.description or []
        names = [d.name for d in description]
        frame = pd.DataFrame.from_records(self._cursor.fetchall(), columns=names)
        for d in description:
            column = frame[d.name]
            if d.type_code in _TIMESTAMP_OIDS:
                frame[d.name] = pd.to_datetime(column).astype("datetime64[us]")
            elif d.type_code in _INTEGER_OIDS and not column.isna().any():
                frame[d.name] = column.astype("int64")
            elif d.type_code in _BOOLEAN_OIDS and not column.isna().any():
                frame[d.name] = column.astype("bool")
        return frame

    def copy_rows(self, table: str, columns: Mapping[str, Sequence[Any]]) -> None:
        """Many rows through ``COPY ... FROM STDIN`` (datetimes as naive UTC)."""
        names = list(columns)
        quoted = ", ".join(f'"{name}"' for name in names)
        count = len(columns[names[0]])
        try:
            with self._cursor.copy(f"COPY {table} ({quoted}) FROM STDIN") as copy:
                for i in range(count):
                    copy.write_row([_naive_utc(columns[name][i]) for name in names])
        except psycopg.OperationalError as error:
            raise _lost(error) from None
        except psycopg.Error as error:
            raise SqlError(str(error).strip()) from None


def _lost(error: Exception) -> CertkitError:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    if "lock timeout" in text or "canceling statement due to lock timeout" in text:
        return RegistryBusy(
            "The PostgreSQL registry is busy: other writers held it too long. Try again in a "
            "moment."
        )
    return CertkitError(f"Lost the connection to the PostgreSQL registry: {text}")


def rollback(raw: psycopg.Connection[Any]) -> None:
    """Roll back an open transaction; a connection that cannot is closed, never reused."""
    try:
        if not raw.closed:
            raw.execute("ROLLBACK")
    except psycopg.Error:
        raw.close()
