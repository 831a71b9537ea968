"""The registry as pandas DataFrames, and read-only SQL over them.

Frames are copies made through the :class:`~certkit.ops.Certkit` facade, so nothing here
can change the registry; :func:`run_sql` runs a query on an in-memory DuckDB that has no
file or network access.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import duckdb
import pandas as pd

from certkit.errors import InvalidInput
from certkit.model import ListQuery
from certkit.ops import Certkit

_TIMES = ("not_before", "not_after", "last_used", "installed_at", "retired_at")
_COMMON = (
    "name", "thumbprint", "sha256", "kind", "clearance", "permissions", "not_before",
    "not_after", "state", "last_used", "two_factor", "subject", "issuer", "serial",
)  # fmt: skip
COLUMNS = {
    "certificates": (*_COMMON, "collection_size"),
    "server_certificates": (*_COMMON, "node", "hostnames", "installed_at", "retired_at"),
    "well_known": ("id", *_COMMON),
}


def registry_frames(kit: Certkit) -> dict[str, pd.DataFrame]:
    """Client, server and well-known certificates as DataFrames (times as UTC datetimes)."""
    now, threshold = kit.now(), kit.expiring_threshold
    query = ListQuery(limit=None, threshold=threshold)
    clients = [r.to_json(now, threshold) for r in kit.list_certificates(query).records]
    for row in clients:
        row["collection_size"] = len(row.pop("collection"))
    servers = [s.to_json(now, threshold) for s in kit.server_certificates(history=True)]
    for row in servers:
        row["hostnames"] = ", ".join(row["hostnames"])
    known = [w.to_json(now, threshold) for w in kit.well_known()]
    return {
        "certificates": _frame(clients, COLUMNS["certificates"]),
        "server_certificates": _frame(servers, COLUMNS["server_certificates"]),
        "well_known": _frame(known, COLUMNS["well_known"]),
    }


def _frame(rows: list[dict[str, Any]], columns: tuple[str, ...]) -> pd.DataFrame:
    for row in rows:
        row["permissions"] = json.dumps(row["permissions"])
    frame = pd.DataFrame(rows, columns=list(columns))
    for column in _TIMES:
        if column in frame.columns:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    return frame


def run_sql(frames: Mapping[str, pd.DataFrame], sql: str) -> pd.DataFrame:
    """Run a query over named frames in an in-memory DuckDB without file access."""
    con = duckdb.connect(":memory:", config={"enable_external_access": False})
    try:
        for name, frame in frames.items():
            con.register(name, frame)
        return con.execute(sql).fetch_df()
    except duckdb.Error as error:
        raise InvalidInput(f"The query failed: {error}") from None
    finally:
        con.close()
