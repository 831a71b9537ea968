"""Queries for authentication: the snapshot the service decides from, 2FA sessions, last used.

Functions take the :class:`~certkit.registry.store.Store` of an open transaction and run on
its connection; like the rest of this package they return model values, never rows.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from certkit.model import Access, Clearance
from certkit.registry.dialect import is_postgres
from certkit.registry.store import Store


@dataclass(frozen=True, slots=True)
class AuthRow:
    """One registered certificate with the settings of its entry."""

    thumbprint: str
    entry_id: int
    position: int  # 0 for the primary of a collection
    not_before: datetime
    not_after: datetime
    issuer: str
    name: str
    clearance: Clearance
    permissions: Mapping[str, Access]
    two_factor: bool
    primary: str


@dataclass(frozen=True, slots=True)
class SessionRow:
    """An open two-factor session (``cookie_hash`` only for browser-only sessions)."""

    id: int
    thumbprint: str
    created_at: datetime
    expires_at: datetime
    browser_only: bool
    cookie_hash: str | None


@dataclass(frozen=True, slots=True)
class AuthRows:
    """Everything authentication reads from the registry, except certificate DER."""

    certificates: list[AuthRow]
    admin_thumbprints: list[str]
    issuer_ders: list[bytes]
    servers: dict[str, tuple[str, bytes]]  # active server thumbprint -> (node, DER)
    sessions: list[SessionRow]


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC)


# What authentication depends on, per table: the columns hashed, and which rows count.
_SIGNED: tuple[tuple[str, str, str], ...] = (
    ("certificates", "thumbprint, entry_id, position", ""),
    ("entries", "id, name, clearance, permissions, two_factor, primary_thumbprint", ""),
    ("well_known", "id, kind, thumbprint", ""),
    ("server_certificates", "id, node, thumbprint", "WHERE retired_at IS NULL"),
    ("sessions", "id, expires_at", ""),
)


@functools.cache
def _signature_sql(postgres: bool) -> str:
    """One row: the certificate count, then a sum of row hashes per table of ``_SIGNED``
    (DuckDB's ``hash``; PostgreSQL's ``hashtext`` of the columns joined)."""

    def hashed(columns: str) -> str:
        return f"hashtext(concat_ws('|', {columns}))" if postgres else f"hash({columns})"

    sums = [
        f"(SELECT coalesce(sum({hashed(columns)}), 0) FROM {table} {where})"
        for table, columns, where in _SIGNED
    ]
    return "SELECT (SELECT count(*) FROM certificates), " + ", ".join(sums)


def auth_signature(store: Store) -> tuple[Any, ...]:
    """A digest of everything that decides authentication; any change changes it.

    Last-used times and TOTP counters are left out, so recording them does not make the
    service rebuild its view.
    """
    row = store._con.execute(_signature_sql(is_postgres(store._con))).fetchone()
    assert row is not None
    return tuple(row)


def auth_rows(store: Store, now: datetime) -> AuthRows:
    """The registered certificates, well-known entries, active server certificates and
    sessions that are still open at ``now``."""
    con = store._con
    certificates = [
        AuthRow(
            thumbprint=r[0],
            entry_id=int(r[1]),
            position=int(r[2]),
            not_before=_aware(r[3]),
            not_after=_aware(r[4]),
            issuer=r[5],
            name=r[6],
            clearance=Clearance(r[7]),
            permissions={db: Access(a) for db, a in json.loads(r[8]).items()},
            two_factor=bool(r[9]),
            primary=r[10],
        )
        for r in con.execute(
            "SELECT c.thumbprint, c.entry_id, c.position, c.not_before, c.not_after, c.issuer, "
            "e.name, e.clearance, e.permissions, e.two_factor, e.primary_thumbprint "
            "FROM certificates c JOIN entries e ON e.id = c.entry_id"
        ).fetchall()
    ]
    well_known = con.execute("SELECT kind, thumbprint, der FROM well_known ORDER BY id").fetchall()
    servers = {
        r[0]: (r[1], bytes(r[2]))
        for r in con.execute(
            "SELECT thumbprint, node, der FROM server_certificates WHERE retired_at IS NULL"
        ).fetchall()
    }
    return AuthRows(
        certificates=certificates,
        admin_thumbprints=[r[1] for r in well_known if r[0] == "well-known-admin"],
        issuer_ders=[bytes(r[2]) for r in well_known if r[0] == "well-known-issuer" and r[2]],
        servers=servers,
        sessions=open_sessions(store, now),
    )


def certificate_ders(store: Store, thumbprints: Sequence[str]) -> dict[str, bytes]:
    """The DER of these registered certificates, by thumbprint."""
    if not thumbprints:
        return {}
    rows = store._con.execute(
        "SELECT thumbprint, der FROM certificates "
        "WHERE thumbprint IN (SELECT unnest(?::VARCHAR[]))",
        [list(thumbprints)],
    ).fetchall()
    return {r[0]: bytes(r[1]) for r in rows}


# ---- two-factor sessions -------------------------------------------------------------


def open_sessions(store: Store, now: datetime, thumbprint: str | None = None) -> list[SessionRow]:
    """Sessions still open at ``now`` (of one certificate, or all)."""
    rows = store._con.execute(
        "SELECT id, thumbprint, created_at, expires_at, browser_only, cookie_hash FROM sessions "
        "WHERE expires_at > ? AND (? IS NULL OR thumbprint = ?) ORDER BY id",
        [_naive(now), thumbprint, thumbprint],
    ).fetchall()
    return [SessionRow(int(r[0]), r[1], _aware(r[2]), _aware(r[3]), bool(r[4]), r[5]) for r in rows]


def add_session(
    store: Store,
    *,
    thumbprint: str,
    created_at: datetime,
    expires_at: datetime,
    browser_only: bool,
    cookie_hash: str | None,
) -> int:
    row = store._con.execute("SELECT nextval('row_ids')").fetchone()
    assert row is not None
    session_id = int(row[0])
    store._con.execute(
        "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?)",
        [
            session_id,
            thumbprint,
            _naive(created_at),
            _naive(expires_at),
            browser_only,
            cookie_hash,
        ],
    )
    return session_id


def close_sessions(store: Store, thumbprint: str) -> int:
    """Forget every session of a certificate (log out); returns how many were open."""
    row = store._con.execute(
        "SELECT count(*) FROM sessions WHERE thumbprint = ?", [thumbprint]
    ).fetchone()
    store._con.execute("DELETE FROM sessions WHERE thumbprint = ?", [thumbprint])
    return int(row[0]) if row else 0


def purge_sessions(store: Store, now: datetime) -> int:
    """Delete sessions that ended at or before ``now``; returns how many."""
    row = store._con.execute(
        "SELECT count(*) FROM sessions WHERE expires_at <= ?", [_naive(now)]
    ).fetchone()
    count = int(row[0]) if row else 0
    if count:
        store._con.execute("DELETE FROM sessions WHERE expires_at <= ?", [_naive(now)])
    return count


# ---- last used -------------------------------------------------------------------------


def touch_last_used_many(store: Store, uses: Mapping[str, datetime]) -> None:
    """Record uses of several certificates at once; the latest time wins (never backwards)."""
    if not uses:
        return
    thumbprints = list(uses)
    times = [_naive(uses[t]) for t in thumbprints]
    con = store._con
    con.execute(
        "UPDATE certificates "
        "SET last_used = greatest(coalesce(certificates.last_used, u.at), u.at) "
        "FROM (SELECT unnest(?::VARCHAR[]) AS thumbprint, unnest(?::TIMESTAMP[]) AS at) u "
        "WHERE certificates.thumbprint = u.thumbprint",
        [thumbprints, times],
    )
    con.execute(
        "UPDATE entries SET last_used = greatest(coalesce(entries.last_used, u.at), u.at) "
        "FROM (SELECT c.entry_id, max(x.at) AS at "
        "      FROM (SELECT unnest(?::VARCHAR[]) AS thumbprint, unnest(?::TIMESTAMP[]) AS at) x "
        "      JOIN certificates c ON c.thumbprint = x.thumbprint GROUP BY c.entry_id) u "
        "WHERE entries.id = u.entry_id",
        [thumbprints, times],
    )
