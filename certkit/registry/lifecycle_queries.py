"""Queries for the end of a certificate's life: expiry alerts, purge, key hashes (issue 5).

Functions take the :class:`~certkit.registry.store.Store` of an open transaction and run on
its connection. Bulk changes are set-based (one statement for any number of entries), so a
purge of 100,000 expired entries does not scan the table 100,000 times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from certkit.model import CertificateRecord
from certkit.registry.store import Store


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _entries(store: Store, sql: str, params: Sequence[object]) -> list[CertificateRecord]:
    """The entries whose ids ``sql`` selects, in its order."""
    ids = [int(r[0]) for r in store._con.execute(sql, list(params)).fetchall()]
    return store.entries(ids)


# what idle_since lists and count_idle_since counts: parameters idle, now
_IDLE = "coalesce(last_used, created_at) < ? AND not_after > ?"


def expiring_between(store: Store, now: datetime, until: datetime) -> list[CertificateRecord]:
    """Entries not replaced by a renewal that expire after ``now`` and by ``until``, the
    soonest first (the expired ones are what :func:`count_expired_before` counts)."""
    return _entries(
        store,
        "SELECT id FROM entries WHERE replaced_by IS NULL AND not_after > ? AND not_after <= ? "
        "ORDER BY not_after, name_key, id",
        [_naive(now), _naive(until)],
    )


def _count(store: Store, sql: str, params: Sequence[object]) -> int:
    row = store._con.execute(sql, list(params)).fetchone()
    return int(row[0]) if row else 0


def count_expired_before(store: Store, before: datetime) -> int:
    """How many entries expired at or before ``before`` (what :func:`expired_before` lists)."""
    return _count(store, "SELECT count(*) FROM entries WHERE not_after <= ?", [_naive(before)])


def count_idle_since(store: Store, now: datetime, idle: datetime) -> int:
    """How many entries :func:`idle_since` lists."""
    return _count(store, f"SELECT count(*) FROM entries WHERE {_IDLE}", [_naive(idle), _naive(now)])


def expired_before(store: Store, before: datetime) -> list[CertificateRecord]:
    """Entries whose (primary) certificate expired at or before ``before``, oldest first."""
    return _entries(
        store,
        "SELECT id FROM entries WHERE not_after <= ? ORDER BY not_after, name_key, id",
        [_naive(before)],
    )


def idle_since(store: Store, now: datetime, idle: datetime) -> list[CertificateRecord]:
    """Entries not expired at ``now`` whose last use, or registration if never used, is
    before ``idle``; the longest idle first."""
    return _entries(
        store,
        f"SELECT id FROM entries WHERE {_IDLE} "
        "ORDER BY coalesce(last_used, created_at), name_key, id",
        [_naive(idle), _naive(now)],
    )


def delete_entries(store: Store, entry_ids: Sequence[int]) -> None:
    """Delete entries and all their certificates, as :meth:`Store.delete_entry` does for one
    (an entry that one of them had replaced counts again)."""
    if not entry_ids:
        return
    con = store._con
    wanted = list(entry_ids)
    con.execute(
        "UPDATE entries SET replaced_by = NULL WHERE replaced_by IN "
        "(SELECT thumbprint FROM certificates WHERE entry_id IN (SELECT unnest(?::BIGINT[])))",
        [wanted],
    )
    con.execute("DELETE FROM certificates WHERE entry_id IN (SELECT unnest(?::BIGINT[]))", [wanted])
    con.execute("DELETE FROM entries WHERE id IN (SELECT unnest(?::BIGINT[]))", [wanted])


def certificates_without_key_hash(store: Store, *, limit: int) -> list[tuple[str, bytes]]:
    """(thumbprint, DER) of certificates stored without a key hash (before schema 3)."""
    rows = store._con.execute(
        "SELECT thumbprint, der FROM certificates WHERE spki_sha256 IS NULL "
        "ORDER BY thumbprint LIMIT ?",
        [limit],
    ).fetchall()
    return [(str(r[0]), bytes(r[1])) for r in rows]


def set_key_hashes(store: Store, hashes: Mapping[str, str]) -> None:
    """Store key hashes by thumbprint (``""`` marks a DER that could not be read)."""
    if not hashes:
        return
    store._con.execute(
        "UPDATE certificates SET spki_sha256 = h.spki "
        "FROM (SELECT unnest(?::VARCHAR[]) AS thumbprint, unnest(?::VARCHAR[]) AS spki) h "
        "WHERE certificates.thumbprint = h.thumbprint",
        [list(hashes), list(hashes.values())],
    )


def missing_key_hashes(store: Store) -> int:
    """How many certificates have no key hash yet (stored before schema version 3)."""
    return _count(store, "SELECT count(*) FROM certificates WHERE spki_sha256 IS NULL", [])
