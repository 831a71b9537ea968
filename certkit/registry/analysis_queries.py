"""Expiry and usage aggregates over the registry, computed in DuckDB (issue 5).

A registry of a million entries is scanned a few times here and never loaded into Python
row by row: counts come back as small pandas DataFrames, lists come back sorted and limited
(their totals are in :func:`counts_by_clearance`). Functions take the
:class:`~certkit.registry.store.Store` of an open transaction and only read. Times in the
frames are timezone-aware UTC.

Everything counts registry *entries* (a collection is one entry, dated by its primary
certificate), as the Certificates table does; an entry replaced by its renewal is never
"expiring" and is left out of the expiry timeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from certkit.model import Clearance
from certkit.registry.dialect import is_postgres
from certkit.registry.listing import _STATE_SQL
from certkit.registry.store import Store

STATES = ("valid", "expiring", "expired", "not-yet-valid")
GROUPS = ("Admin", "Operator", "User")


@dataclass(frozen=True, slots=True)
class Window:
    """The moment and thresholds an analysis is computed for.

    ``expiring``: a client certificate that expires within it is "expiring" (default 30
    days); ``unused``: an entry whose last use (or, never used, its registration) is older
    than this is "unused"; the expiry timeline runs from ``now`` to ``horizon``.
    """

    now: datetime
    expiring: timedelta
    unused: timedelta
    horizon: datetime


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _params(window: Window) -> dict[str, Any]:
    return {
        "now": _naive(window.now),
        "soon": _naive(window.now + window.expiring),
        "idle": _naive(window.now - window.unused),
        "horizon": _naive(window.horizon),
    }


def _bind(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if f"${k}" in sql}


def _frame(store: Store, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    frame = store._con.execute(sql, _bind(sql, params)).fetch_df()
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].dt.tz_localize("UTC")
    return frame


_STATED = f"(SELECT e.*, {_STATE_SQL} AS state FROM entries e)"


def counts_by_clearance(store: Store, window: Window) -> pd.DataFrame:
    """One row per clearance (all four, zeros included): entries by state, replaced by a
    renewal, never used, and unused (not expired, no use within ``window.unused``)."""
    sql = f"""
        SELECT clearance, count(*) AS certificates,
            count(*) FILTER (WHERE state = 'valid') AS "valid",
            count(*) FILTER (WHERE state = 'expiring') AS "expiring",
            count(*) FILTER (WHERE state = 'expired') AS "expired",
            count(*) FILTER (WHERE state = 'not-yet-valid') AS "not-yet-valid",
            count(*) FILTER (WHERE replaced_by IS NOT NULL) AS replaced,
            count(*) FILTER (WHERE last_used IS NULL AND not_after > $now) AS never_used,
            count(*) FILTER (
                WHERE coalesce(last_used, created_at) < $idle AND not_after > $now
            ) AS unused
        FROM {_STATED} AS stated GROUP BY clearance
    """
    found = _frame(store, sql, _params(window)).set_index("clearance")
    order = [c.value for c in Clearance]
    frame = found.reindex(order, fill_value=0).astype("int64").reset_index()
    frame.insert(1, "group", [Clearance(c).group for c in order])
    frame.insert(1, "label", [Clearance(c).label for c in order])
    return frame


def counts_by_database(store: Store, window: Window) -> pd.DataFrame:
    """One row per database named in a permission (names match case-insensitively): entries
    with each access level, and how many of them are expiring or expired. Admin and Operator
    entries without permissions reach every database and are not counted here."""
    if is_postgres(store._con):
        pairs = (
            "SELECT p.key AS db, p.value AS access, s.state "
            "FROM {stated} AS s, jsonb_each_text(s.permissions::jsonb) AS p"
        )
    else:
        pairs = (
            "SELECT unnest(map_keys(m)) AS db, unnest(map_values(m)) AS access, state FROM "
            "(SELECT json_transform(permissions, '\"MAP(VARCHAR, VARCHAR)\"') AS m, state "
            "FROM {stated} AS s)"
        )
    stated = f"(SELECT * FROM {_STATED} x WHERE permissions <> '{{}}')"
    sql = f"""
        WITH perms AS ({pairs.format(stated=stated)})
        SELECT min(db) AS database, count(*) AS certificates,
            count(*) FILTER (WHERE access = 'Admin') AS "Admin",
            count(*) FILTER (WHERE access = 'ReadWrite') AS "ReadWrite",
            count(*) FILTER (WHERE access = 'Read') AS "Read",
            count(*) FILTER (WHERE state = 'expiring') AS "expiring",
            count(*) FILTER (WHERE state = 'expired') AS "expired"
        FROM perms GROUP BY lower(db) ORDER BY certificates DESC, lower(db)
    """
    return _frame(store, sql, _params(window))


def expirations(store: Store, window: Window, period: str) -> pd.DataFrame:
    """Entries that expire after ``now`` and up to the horizon, per ``week`` (starting on
    Monday) or ``month``: every period of the range, zeros included, by clearance group."""
    if period not in ("week", "month"):
        raise ValueError(f"period must be 'week' or 'month', not {period!r}")
    step = "INTERVAL '7 days'" if period == "week" else "INTERVAL '1 month'"
    sql = f"""
        WITH due AS (
            SELECT date_trunc('{period}', e.not_after) AS period, count(*) AS certificates,
                count(*) FILTER (WHERE e.clearance IN ('ClusterAdmin', 'ClusterNode')) AS admin,
                count(*) FILTER (WHERE e.clearance = 'Operator') AS operator,
                count(*) FILTER (WHERE e.clearance = 'ValidUser') AS "user"
            FROM entries e
            WHERE e.not_after > $now AND e.not_after <= $horizon AND e.replaced_by IS NULL
            GROUP BY 1
        ), periods AS (
            SELECT period FROM generate_series(date_trunc('{period}', $now::TIMESTAMP),
                                               $horizon::TIMESTAMP, {step}) AS g(period)
        )
        SELECT p.period, coalesce(d.certificates, 0) AS certificates,
            coalesce(d.admin, 0) AS admin, coalesce(d.operator, 0) AS operator,
            coalesce(d."user", 0) AS "user"
        FROM periods p LEFT JOIN due d USING (period) ORDER BY p.period
    """
    return _frame(store, sql, _params(window))


_LIST_COLUMNS = """
    e.name, e.primary_thumbprint AS thumbprint, e.clearance, e.not_before, e.not_after,
    e.last_used, e.created_at, e.two_factor, e.replaced_by, e.replaces
"""


def _listing(store: Store, window: Window, where: str, order: str, limit: int) -> pd.DataFrame:
    sql = (
        f"SELECT {_LIST_COLUMNS} FROM {_STATED} e WHERE {where} "
        f"ORDER BY {order}, e.name_key, e.id LIMIT $limit"
    )
    return _frame(store, sql, _params(window) | {"limit": max(limit, 0)})


def expiring(store: Store, window: Window, *, limit: int) -> pd.DataFrame:
    """Entries in the "expiring" state (not renewed), the soonest first."""
    return _listing(store, window, "e.state = 'expiring'", "e.not_after", limit)


def expired(store: Store, window: Window, *, limit: int) -> pd.DataFrame:
    """Expired entries still registered, the longest expired first."""
    return _listing(store, window, "e.not_after <= $now", "e.not_after", limit)


def never_used(store: Store, window: Window, *, limit: int) -> pd.DataFrame:
    """Entries not expired that never authenticated, the oldest registration first."""
    return _listing(
        store, window, "e.last_used IS NULL AND e.not_after > $now", "e.created_at", limit
    )


def unused(store: Store, window: Window, *, limit: int) -> pd.DataFrame:
    """Entries not expired whose last use, or registration if never used, is older than
    ``window.unused``; the longest idle first."""
    return _listing(
        store,
        window,
        "coalesce(e.last_used, e.created_at) < $idle AND e.not_after > $now",
        "coalesce(e.last_used, e.created_at)",
        limit,
    )


def shared_keys(store: Store, *, limit: int) -> pd.DataFrame:
    """Certificates whose public key (SPKI SHA-256) another registered certificate has,
    grouped by key: ``key_certificates`` in the group, and totals over all groups
    (``groups``, ``total``) on every row. Rows without a key hash are not compared."""
    sql = """
        WITH shared AS (
            SELECT spki_sha256 FROM certificates
            WHERE spki_sha256 IS NOT NULL AND spki_sha256 <> ''
            GROUP BY spki_sha256 HAVING count(*) > 1
        ), members AS (
            SELECT c.spki_sha256, c.thumbprint, e.name, e.primary_thumbprint AS entry,
                e.clearance, c.not_before, c.not_after, e.replaced_by, e.replaces
            FROM certificates c JOIN shared USING (spki_sha256)
            JOIN entries e ON e.id = c.entry_id
        )
        SELECT *, count(*) OVER (PARTITION BY spki_sha256) AS key_certificates,
            (SELECT count(*) FROM shared) AS groups, count(*) OVER () AS total
        FROM members ORDER BY spki_sha256, not_after, thumbprint LIMIT $limit
    """
    return _frame(store, sql, {"limit": max(limit, 0)})
