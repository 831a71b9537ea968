"""What the registry's two backends share: the error type of a failed statement, and how
query code tells them apart where their SQL differs.

The queries of this package are written once, in SQL that DuckDB and PostgreSQL both accept
(``?`` and ``$name`` parameters, ``generate_series``, ``array_agg``, ``ON CONFLICT``, casts
such as ``?::VARCHAR[]``); the few statements that cannot be shared branch on
:func:`is_postgres`.
"""

from __future__ import annotations

from typing import Any


class SqlError(Exception):
    """A statement that PostgreSQL refused (DuckDB raises its own ``duckdb.Error``)."""


def is_postgres(con: Any) -> bool:
    """True for a connection of :class:`~certkit.registry.postgres.PostgresRegistry`."""
    return getattr(con, "dialect", "duckdb") == "postgresql"
