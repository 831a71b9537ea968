"""What the registry's two backends share: the error type of a failed statement, how long a
writer waits for the registry, and how query code tells them apart where their SQL differs.

The queries of this package are written once, in SQL that DuckDB and PostgreSQL both accept
(``?`` and ``$name`` parameters, ``generate_series``, ``array_agg``, ``ON CONFLICT``, casts
such as ``?::VARCHAR[]``); the few statements that cannot be shared branch on
:func:`is_postgres`.
"""

from __future__ import annotations

import os
from typing import Any

DEFAULT_BUSY_TIMEOUT = 15.0


class SqlError(Exception):
    """A statement that PostgreSQL refused (DuckDB raises its own ``duckdb.Error``)."""


def is_postgres(con: Any) -> bool:
    """True for a connection of :class:`~certkit.registry.postgres.PostgresRegistry`."""
    return getattr(con, "dialect", "duckdb") == "postgresql"


def busy_timeout(given: float | None) -> float:
    """Seconds a writer waits for the registry before "registry busy": ``given``, else
    ``$CERTKIT_BUSY_TIMEOUT``, else 15."""
    if given is not None:
        return given
    from_env = os.environ.get("CERTKIT_BUSY_TIMEOUT")
    return float(from_env) if from_env else DEFAULT_BUSY_TIMEOUT
