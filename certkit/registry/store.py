"""Queries of one registry transaction: rows in, model objects out.

Only this module and :mod:`certkit.registry.schema` contain SQL. Every method runs on the
connection of the transaction that created the :class:`Store`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from certkit.model import (
    Access,
    AuditEvent,
    CertificateRecord,
    CertKind,
    CertState,
    Clearance,
    ListQuery,
    Page,
    ServerCertificate,
    SortKey,
    WellKnownEntry,
)
from certkit.registry.dialect import is_postgres


@dataclass(frozen=True, slots=True)
class NewCertificate:
    """One certificate to store, with the columns derived from its DER."""

    thumbprint: str
    sha256: str
    subject: str
    issuer: str
    serial: str
    not_before: datetime
    not_after: datetime
    der: bytes
    spki_sha256: str | None = None  # SHA-256 of the SubjectPublicKeyInfo (hex); None: unknown


@dataclass(frozen=True, slots=True)
class NewEntry:
    """A registry entry to insert: settings and its certificates (the first is the primary)."""

    name: str
    kind: CertKind
    clearance: Clearance
    permissions: Mapping[str, Access]
    two_factor: bool
    certificates: Sequence[NewCertificate]
    created_at: datetime
    created_by: str
    totp_secret: str | None = None


@dataclass(frozen=True, slots=True)
class TotpState:
    entry_id: int
    secret: str | None
    last_timecode: int | None
    failures: int
    locked_until: datetime | None


def _db(moment: datetime | None) -> datetime | None:
    """Aware datetime -> naive UTC for a TIMESTAMP column."""
    return None if moment is None else moment.astimezone(UTC).replace(tzinfo=None)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_NAT = -(2**63)  # numpy's NaT as int64


def _epoch_us(moment: datetime | None) -> int:
    """Microseconds since 1970 UTC (``_NAT`` for None), for a ``datetime64[us]`` column.

    About 8x faster than letting numpy convert 10,000 datetime objects one by one.
    """
    if moment is None:
        return _NAT
    aware = moment if moment.tzinfo is not None else moment.astimezone(UTC)
    return (aware - _EPOCH) // _MICROSECOND


def _utc(moment: datetime) -> datetime:
    """A datetime as the registry gives it back: aware UTC (naive ones count as local time,
    as :func:`_db` and :func:`_epoch_us` store them)."""
    return moment if moment.tzinfo is UTC else moment.astimezone(UTC)


def _aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else moment.replace(tzinfo=UTC)


def _like_literal(text: str) -> str:
    """``text`` for a LIKE pattern (escape character ``\\``), matching ``%`` and ``_`` literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _column(values: Sequence[str]) -> dict[str, Any]:
    """Strings as a one-column table ``v`` for DuckDB's replacement scan (bulk paths only)."""
    import numpy as np  # as _insert_columns: only uploads of many certificates need it

    return {"v": np.array(values, dtype=object)}


def _databases_key(permissions: Mapping[str, Access]) -> str:
    """``|hr|sales|``: lower-cased database names for case-insensitive filtering."""
    return "|" + "".join(f"{db.lower()}|" for db in permissions)


_RECORD_COLUMNS = """
    e.id, e.name, e.kind, e.clearance, e.permissions, e.two_factor, e.primary_thumbprint,
    e.not_before, e.not_after, e.last_used, e.created_at, e.replaced_by,
    c.sha256, c.subject, c.issuer, c.serial, {others} AS others, e.replaces
"""
_ENTRY_COLUMNS = _RECORD_COLUMNS.format(
    others="(SELECT array_agg(o.thumbprint ORDER BY o.position) "
    "FROM certificates o WHERE o.entry_id = e.id AND o.position > 0)"
)
_OTHERS = 16  # the column of _ENTRY_COLUMNS with the other members of a collection
_MEMBERS_SQL = (  # the other members of some entries' collections, for list_entries
    "SELECT entry_id, thumbprint FROM certificates WHERE position > 0 "
    "AND entry_id IN (SELECT unnest(?::BIGINT[])) ORDER BY entry_id, position"
)
_ENTRY_FROM = "entries e JOIN certificates c ON c.thumbprint = e.primary_thumbprint"
_FEW_ROWS = 32  # insert_entries: up to this many certificates without numpy
_TIME_COLUMNS = frozenset({"not_before", "not_after", "created_at", "at"})
_NUMPY_TYPES = {"id": "int64", "entry_id": "int64", "position": "int32", "two_factor": "bool"}
_COUNTS = 18  # list_entries: the column after _ENTRY_COLUMNS with [group, state, count] lists

_SORT_COLUMNS = {
    SortKey.NAME: "e.name_key",
    SortKey.EXPIRATION: "e.not_after",
    SortKey.VALID_FROM: "e.not_before",
    SortKey.LAST_USED: "e.last_used",
}

_HEX = re.compile(r"[0-9A-F]+")

_GROUP_SQL = (
    "CASE WHEN e.clearance IN ('ClusterAdmin', 'ClusterNode') THEN 'Admin' "
    "WHEN e.clearance = 'Operator' THEN 'Operator' ELSE 'User' END"
)
# An entry replaced by its renewal is never "expiring": nothing breaks when it expires.
_STATE_SQL = (
    "CASE WHEN e.not_after <= $now THEN 'expired' "
    "WHEN e.not_before > $now THEN 'not-yet-valid' "
    "WHEN e.not_after <= $soon AND e.replaced_by IS NULL THEN 'expiring' ELSE 'valid' END"
)


class Store:
    """The queries of one transaction."""

    def __init__(self, con: Any) -> None:  # a DuckDB connection or a PgConnection
        self._con = con

    # ----------------------------------------------------------------- meta
    def get_meta(self, key: str) -> str | None:
        row = self._con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._con.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [key, value],
        )

    # -------------------------------------------------------------- entries
    def _record(self, row: Sequence[Any]) -> CertificateRecord:
        permissions = {db: Access(a) for db, a in json.loads(row[4]).items()}
        not_before, not_after = _aware(row[7]), _aware(row[8])
        assert not_before is not None and not_after is not None
        return CertificateRecord(
            name=row[1],
            thumbprint=row[6],
            sha256=row[12],
            kind=CertKind(row[2]),
            clearance=Clearance(row[3]),
            permissions=permissions,
            not_before=not_before,
            not_after=not_after,
            last_used=_aware(row[9]),
            two_factor=bool(row[5]),
            collection=tuple(row[16] or ()),  # NULL: no other members
            subject=row[13],
            issuer=row[14],
            serial=row[15],
            created_at=_aware(row[10]),
            replaced_by=row[11],
            replaces=row[17],
            entry_id=int(row[0]),
        )

    def entry(self, entry_id: int) -> CertificateRecord | None:
        row = self._con.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM {_ENTRY_FROM} WHERE e.id = ?", [entry_id]
        ).fetchone()
        return None if row is None else self._record(row)

    def entries(self, entry_ids: Sequence[int]) -> list[CertificateRecord]:
        """Records of these entries, in the order given."""
        if not entry_ids:
            return []
        # A join on the unnested list, not list_contains(?, e.id): 2x faster for the 10,000
        # entries of an upload (and the same for IN and the lookups below, up to 20x).
        rows = self._con.execute(
            f"SELECT {_ENTRY_COLUMNS} FROM (SELECT unnest(?::BIGINT[]) AS id) wanted "
            "JOIN entries e ON e.id = wanted.id "
            "JOIN certificates c ON c.thumbprint = e.primary_thumbprint",
            [list(entry_ids)],
        ).fetchall()
        by_id = {int(r[0]): self._record(r) for r in rows}
        return [by_id[i] for i in entry_ids if i in by_id]

    def entry_id_of(self, thumbprint: str) -> int | None:
        """The entry that a thumbprint (primary or member of a collection) belongs to."""
        row = self._con.execute(
            "SELECT entry_id FROM certificates WHERE thumbprint = ?", [thumbprint]
        ).fetchone()
        return None if row is None else int(row[0])

    def find(self, thumbprint: str) -> CertificateRecord | None:
        entry_id = self.entry_id_of(thumbprint)
        return None if entry_id is None else self.entry(entry_id)

    def certificate_der(self, thumbprint: str) -> bytes | None:
        row = self._con.execute(
            "SELECT der FROM certificates WHERE thumbprint = ?", [thumbprint]
        ).fetchone()
        return None if row is None else bytes(row[0])

    def registered_thumbprints(self, thumbprints: Sequence[str]) -> list[str]:
        """Which of these thumbprints are already registered (as client certificates)."""
        if not thumbprints:
            return []
        if len(thumbprints) <= _FEW_ROWS or is_postgres(self._con):
            rows = self._con.execute(
                "SELECT thumbprint FROM certificates "
                "WHERE thumbprint IN (SELECT unnest(?::VARCHAR[]))",
                [list(thumbprints)],
            ).fetchall()
        else:  # an upload: a numpy column binds 10,000 values in 1 ms, a list param in 5
            wanted_thumbprints = _column(thumbprints)  # noqa: F841 - DuckDB's replacement scan
            rows = self._con.execute(
                "SELECT thumbprint FROM certificates "
                "WHERE thumbprint IN (SELECT v FROM wanted_thumbprints)"
            ).fetchall()
        return sorted(str(r[0]) for r in rows)

    def names_in_use(self, names: Sequence[str], *, exclude_entry: int | None = None) -> list[str]:
        """Which names are taken by active client entries (not replaced by a renewal)."""
        if not names:
            return []
        keys = [n.lower() for n in names]
        active = "AND kind = 'client' AND replaced_by IS NULL AND id IS DISTINCT FROM ?"
        if len(keys) <= _FEW_ROWS or is_postgres(self._con):
            rows = self._con.execute(
                "SELECT name FROM entries "
                f"WHERE name_key IN (SELECT unnest(?::VARCHAR[])) {active}",
                [keys, exclude_entry],
            ).fetchall()
        else:
            wanted_names = _column(keys)  # noqa: F841 - DuckDB's replacement scan
            rows = self._con.execute(
                f"SELECT name FROM entries WHERE name_key IN (SELECT v FROM wanted_names) {active}",
                [exclude_entry],
            ).fetchall()
        return sorted(str(r[0]) for r in rows)

    def insert_entries(self, entries: Sequence[NewEntry]) -> list[int]:
        """Insert entries and their certificates; returns the ids.

        A few rows (a generated certificate, a small upload) go in as one multi-row
        ``INSERT ... VALUES`` per table; more as two columnar inserts from numpy arrays,
        whose import would otherwise cost a one-certificate command ~50 ms.
        """
        if not entries:
            return []
        ids = [
            int(r[0])
            for r in self._con.execute(
                "SELECT nextval('entry_ids') FROM generate_series(1, ?)", [len(entries)]
            ).fetchall()
        ]
        primaries = [e.certificates[0] for e in entries]
        encoded: dict[tuple[tuple[str, Access], ...], tuple[str, str]] = {}

        def settings(permissions: Mapping[str, Access]) -> tuple[str, str]:
            key = tuple(permissions.items())  # the entries of an upload share their settings
            if key not in encoded:
                text = json.dumps({d: a.value for d, a in permissions.items()})
                encoded[key] = text, _databases_key(permissions)
            return encoded[key]

        stored = [settings(e.permissions) for e in entries]
        new_entries: dict[str, list[Any]] = {
            "id": ids,
            "name": [e.name for e in entries],
            "name_key": [e.name.lower() for e in entries],
            "kind": [e.kind.value for e in entries],
            "clearance": [e.clearance.value for e in entries],
            "permissions": [text for text, _ in stored],
            "databases": [key for _, key in stored],
            "two_factor": [e.two_factor for e in entries],
            "totp_secret": [e.totp_secret for e in entries],
            "primary_thumbprint": [p.thumbprint for p in primaries],
            "not_before": [p.not_before for p in primaries],
            "not_after": [p.not_after for p in primaries],
            "created_at": [e.created_at for e in entries],
            "created_by": [e.created_by for e in entries],
        }
        members = [
            (i, pos, c)
            for i, e in zip(ids, entries, strict=True)
            for pos, c in enumerate(e.certificates)
        ]
        new_certificates: dict[str, list[Any]] = {
            "thumbprint": [c.thumbprint for _, _, c in members],
            "entry_id": [i for i, _, _ in members],
            "position": [p for _, p, _ in members],
            "sha256": [c.sha256 for _, _, c in members],
            "subject": [c.subject for _, _, c in members],
            "issuer": [c.issuer for _, _, c in members],
            "serial": [c.serial for _, _, c in members],
            "not_before": [c.not_before for _, _, c in members],
            "not_after": [c.not_after for _, _, c in members],
            "der": [c.der for _, _, c in members],
            "spki_sha256": [c.spki_sha256 for _, _, c in members],
        }
        insert = self._insert_values if len(members) <= _FEW_ROWS else self._insert_columns
        insert("entries", new_entries)
        insert("certificates", new_certificates)
        return ids

    @staticmethod
    def new_records(entries: Sequence[NewEntry], ids: Sequence[int]) -> list[CertificateRecord]:
        """The records of entries that this transaction has just inserted with these ids.

        Built from what :meth:`insert_entries` stored, they equal what :meth:`entries` reads
        back (the columns no insert sets, such as ``last_used``, are still NULL), without
        reading 10,000 rows back through DuckDB and decoding them again (~110 ms).
        """
        decoded: dict[tuple[tuple[str, Access], ...], dict[str, Access]] = {}

        def permissions(given: Mapping[str, Access]) -> dict[str, Access]:
            key = tuple(given.items())  # as in insert_entries
            if key not in decoded:
                decoded[key] = {db: Access(access) for db, access in given.items()}
            return dict(decoded[key])  # each record its own, as read back

        records: list[CertificateRecord] = []
        for entry, entry_id in zip(entries, ids, strict=True):
            primary = entry.certificates[0]
            records.append(
                CertificateRecord(
                    name=entry.name,
                    thumbprint=primary.thumbprint,
                    sha256=primary.sha256,
                    kind=entry.kind,
                    clearance=entry.clearance,
                    permissions=permissions(entry.permissions),
                    not_before=_utc(primary.not_before),
                    not_after=_utc(primary.not_after),
                    last_used=None,
                    two_factor=bool(entry.two_factor),
                    collection=tuple(c.thumbprint for c in entry.certificates[1:]),
                    subject=primary.subject,
                    issuer=primary.issuer,
                    serial=primary.serial,
                    created_at=_utc(entry.created_at),
                    replaced_by=None,
                    replaces=None,
                    entry_id=int(entry_id),
                )
            )
        return records

    def _insert_values(self, table: str, columns: Mapping[str, Sequence[Any]]) -> None:
        """One ``INSERT ... VALUES (...), (...)`` of a few rows (datetimes as naive UTC)."""
        names = list(columns)
        count = len(columns[names[0]])
        row = "(" + ", ".join("?" * len(names)) + ")"
        values = [
            _db(value) if isinstance(value, datetime) else value
            for i in range(count)
            for value in (columns[name][i] for name in names)
        ]
        quoted = ", ".join(f'"{name}"' for name in names)
        self._con.execute(
            f"INSERT INTO {table} ({quoted}) VALUES {', '.join([row] * count)}", values
        )

    def _insert_columns(self, table: str, columns: Mapping[str, Sequence[Any]]) -> None:
        """A columnar insert of many rows: from numpy arrays (DuckDB's replacement scan), or
        PostgreSQL's ``COPY``."""
        if is_postgres(self._con):
            self._con.copy_rows(table, columns)
            return
        import numpy as np  # bulk path only: keeps other commands light

        def array(name: str, values: Sequence[Any]) -> Any:
            if name in _TIME_COLUMNS:  # 8x faster than numpy converting datetime objects
                epoch = np.array([_epoch_us(v) for v in values], dtype="int64")
                return epoch.view("datetime64[us]")
            return np.array(values, dtype=_NUMPY_TYPES.get(name, "object"))

        new_rows = {  # noqa: F841 - read by DuckDB's replacement scan
            name: array(name, values) for name, values in columns.items()
        }
        names = ", ".join(f'"{name}"' for name in columns)
        chosen = ", ".join("der::BLOB" if name == "der" else f'"{name}"' for name in columns)
        self._con.execute(f"INSERT INTO {table} ({names}) SELECT {chosen} FROM new_rows")
        # Many rows: checkpoint at COMMIT rather than when the connection closes (which
        # it does right after). The same single write into the file, but a large commit
        # (10,000 certificates, ~10 MB) then skips writing everything to the WAL first:
        # ~15 ms less for an upload of 10,000. (A setting of this short-lived connection.)
        self._con.execute("SET checkpoint_threshold = '0b'")

    def update_entry(
        self,
        entry_id: int,
        *,
        name: str,
        clearance: Clearance,
        permissions: Mapping[str, Access],
        two_factor: bool,
        totp_secret: str | None,
        reset_totp: bool,
    ) -> None:
        """Change an entry's settings; ``reset_totp`` forgets replay and lockout state."""
        reset = (
            ", totp_last_timecode = NULL, totp_failures = 0, totp_locked_until = NULL"
            if reset_totp
            else ""
        )
        self._con.execute(
            "UPDATE entries SET name = ?, name_key = ?, clearance = ?, permissions = ?, "
            f"databases = ?, two_factor = ?, totp_secret = ?{reset} WHERE id = ?",
            [
                name,
                name.lower(),
                clearance.value,
                json.dumps({d: a.value for d, a in permissions.items()}),
                _databases_key(permissions),
                two_factor,
                totp_secret,
                entry_id,
            ],
        )

    def set_replaced_by(self, entry_id: int, thumbprint: str | None) -> None:
        """Mark an entry as replaced by the entry whose primary is ``thumbprint`` (None: not
        replaced); that entry's ``replaces`` names this one's primary (the link both ways)."""
        self._con.execute(
            "UPDATE entries SET replaces = NULL WHERE replaces = "
            "(SELECT primary_thumbprint FROM entries WHERE id = $id)",
            {"id": entry_id},
        )
        self._con.execute("UPDATE entries SET replaced_by = ? WHERE id = ?", [thumbprint, entry_id])
        if thumbprint is not None:
            self._con.execute(
                "UPDATE entries SET replaces = "
                "(SELECT primary_thumbprint FROM entries WHERE id = $id) "
                "WHERE primary_thumbprint = $new",
                {"id": entry_id, "new": thumbprint},
            )

    def delete_entry(self, entry_id: int) -> None:
        """Delete an entry and its certificates. An entry that this one had replaced counts
        again (its renewal is gone); a renewal of this one keeps ``replaces`` as history."""
        self._con.execute(
            "UPDATE entries SET replaced_by = NULL WHERE replaced_by IN "
            "(SELECT thumbprint FROM certificates WHERE entry_id = ?)",
            [entry_id],
        )
        self._con.execute("DELETE FROM certificates WHERE entry_id = ?", [entry_id])
        self._con.execute("DELETE FROM entries WHERE id = ?", [entry_id])

    def count_entries(self) -> int:
        row = self._con.execute("SELECT count(*) FROM entries").fetchone()
        return int(row[0]) if row else 0

    def list_entries(self, query: ListQuery, now: datetime) -> Page:
        """A filtered, sorted page, with counts per clearance group and per state."""
        params: dict[str, Any] = {"now": _db(now), "soon": _db(now + query.threshold)}
        common: list[str] = []
        if query.search.strip():
            text = query.search.strip()
            params["search"] = f"%{_like_literal(text.lower())}%"
            hex_text = text.upper().replace(":", "")
            if _HEX.fullmatch(hex_text):
                params["search_tp"] = f"%{hex_text}%"
                common.append(
                    "(e.name_key LIKE $search ESCAPE '\\' OR EXISTS (SELECT 1 FROM certificates s "
                    "WHERE s.entry_id = e.id AND s.thumbprint LIKE $search_tp))"
                )
            else:  # no thumbprint holds anything but hex digits: skip scanning them all
                common.append("e.name_key LIKE $search ESCAPE '\\'")
        if query.database:
            params["database"] = f"%|{_like_literal(query.database.strip().lower())}|%"
            common.append("e.databases LIKE $database ESCAPE '\\'")
        if query.clearance:
            params["group"] = query.clearance
        if query.state:
            params["state"] = query.state.value

        def where(*extra: str | None) -> str:
            parts = [*common, *(p for p in extra if p)]
            return ("WHERE " + " AND ".join(parts)) if parts else ""

        def counted(rows: Sequence[Sequence[Any]]) -> tuple[dict[str, int], dict[str, int], int]:
            by_group: dict[str, int] = {}
            by_state: dict[str, int] = {}
            total = 0
            for group, state, count in rows:
                if not query.state or state == query.state.value:
                    by_group[group] = by_group.get(group, 0) + count
                if not query.clearance or group == query.clearance:
                    by_state[state] = by_state.get(state, 0) + count
                if (not query.state or state == query.state.value) and (
                    not query.clearance or group == query.clearance
                ):
                    total += count
            return by_group, by_state, total

        def bind(sql: str) -> dict[str, Any]:
            return {k: v for k, v in params.items() if f"${k}" in sql}

        order = _SORT_COLUMNS[query.sort]
        direction = "DESC" if query.descending else "ASC"
        ordering = f"{order} {direction} NULLS LAST, e.name_key, e.id"
        page_where = " AND ".join(
            part
            for part in (
                "m.grp = $group" if query.clearance else "",
                "m.st = $state" if query.state else "",
            )
            if part
        )
        # One pass over the entries (100,000 of them take most of the time): the matches,
        # filtered once; their counts per group and state; the page's ids. Only then the
        # certificate columns and collection members, of the page's rows alone. The primary
        # certificate is found by (entry_id, position 0), which insert_entries writes for
        # primary_thumbprint: on a fresh connection, matching 50 ids against the integer
        # column loads ~5 ms less than matching 50 thumbprints against 100,000 strings.
        page_sql = (
            f"WITH matched AS MATERIALIZED (SELECT e.id, e.name_key, {order} AS sort_key, "
            f"{_GROUP_SQL} AS grp, ({_STATE_SQL}) AS st FROM entries e {where()}), "
            "page AS (SELECT m.id FROM matched m "
            + (f"WHERE {page_where} " if page_where else "")
            + f"ORDER BY m.sort_key {direction} NULLS LAST, m.name_key, m.id "
            + ("LIMIT $limit OFFSET $offset" if query.limit is not None else "")
            + f") SELECT {_RECORD_COLUMNS.format(others='NULL')}, "
            "(SELECT array_agg(ARRAY[grp, st, n::VARCHAR]) FROM "
            "(SELECT grp, st, count(*) AS n FROM matched GROUP BY 1, 2) AS g) AS counts "
            "FROM page JOIN entries e ON e.id = page.id "
            f"JOIN certificates c ON c.entry_id = e.id AND c.position = 0 ORDER BY {ordering}"
        )
        if query.limit is not None:
            params["limit"], params["offset"] = max(query.limit, 0), max(query.offset, 0)
        rows = self._con.execute(page_sql, bind(page_sql)).fetchall()
        if rows:
            counts = [(g, s, int(n)) for g, s, n in rows[0][_COUNTS] or []]
            # Collections in a query of their own: as a correlated subquery of the page they
            # cost ~2 ms more (DuckDB plans a join and an aggregate for it).
            members: dict[int, list[str]] = {r[0]: [] for r in rows}
            for entry_id, thumbprint in self._con.execute(_MEMBERS_SQL, [list(members)]).fetchall():
                members[entry_id].append(thumbprint)
            rows = [(*r[:_OTHERS], members[r[0]], *r[_OTHERS + 1 :]) for r in rows]
        else:  # an empty page carries no counts: count on their own
            count_sql = (
                f"SELECT {_GROUP_SQL} AS grp, ({_STATE_SQL}) AS st, count(*) FROM entries e "
                f"{where()} GROUP BY 1, 2"
            )
            counts = self._con.execute(count_sql, bind(count_sql)).fetchall()
        by_group, by_state, total = counted(counts)
        return Page(
            records=tuple(self._record(r) for r in rows),
            total=total,
            offset=max(query.offset, 0),
            limit=query.limit or total,
            counts_by_clearance=by_group,
            counts_by_state={s.value: by_state.get(s.value, 0) for s in CertState},
        )

    # ------------------------------------------------------------ last used
    def touch_last_used(self, thumbprint: str, at: datetime) -> None:
        """Record a use; the latest time wins (never moves backwards)."""
        when = _db(at)
        self._con.execute(
            "UPDATE certificates SET last_used = greatest(coalesce(last_used, ?), ?) "
            "WHERE thumbprint = ?",
            [when, when, thumbprint],
        )
        self._con.execute(
            "UPDATE entries SET last_used = greatest(coalesce(last_used, ?), ?) "
            "WHERE id = (SELECT entry_id FROM certificates WHERE thumbprint = ?)",
            [when, when, thumbprint],
        )

    # ----------------------------------------------------------------- TOTP
    def totp_state(self, entry_id: int) -> TotpState:
        row = self._con.execute(
            "SELECT totp_secret, totp_last_timecode, totp_failures, totp_locked_until "
            "FROM entries WHERE id = ?",
            [entry_id],
        ).fetchone()
        if row is None:
            raise KeyError(entry_id)
        return TotpState(entry_id, row[0], row[1], int(row[2]), _aware(row[3]))

    def set_totp_state(
        self,
        entry_id: int,
        *,
        last_timecode: int | None,
        failures: int,
        locked_until: datetime | None,
    ) -> None:
        self._con.execute(
            "UPDATE entries SET totp_last_timecode = ?, totp_failures = ?, "
            "totp_locked_until = ? WHERE id = ?",
            [last_timecode, failures, _db(locked_until), entry_id],
        )

    # ----------------------------------------------------------- well-known
    def _next_row_id(self) -> int:
        row = self._con.execute("SELECT nextval('row_ids')").fetchone()
        assert row is not None
        return int(row[0])

    def add_well_known(
        self,
        kind: CertKind,
        thumbprint: str,
        certificate: NewCertificate | None,
        *,
        at: datetime,
        by: str,
    ) -> int:
        row_id = self._next_row_id()
        c = certificate
        self._con.execute(
            "INSERT INTO well_known VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                row_id,
                kind.value,
                thumbprint,
                c and c.sha256,
                c and c.subject,
                c and c.issuer,
                c and c.serial,
                _db(c.not_before) if c else None,
                _db(c.not_after) if c else None,
                c and c.der,
                _db(at),
                by,
            ],
        )
        return row_id

    def _well_known(self, row: Sequence[Any]) -> WellKnownEntry:
        return WellKnownEntry(
            id=int(row[0]),
            kind=CertKind(row[1]),
            thumbprint=row[2],
            sha256=row[3],
            subject=row[4],
            issuer=row[5],
            serial=row[6],
            not_before=_aware(row[7]),
            not_after=_aware(row[8]),
            added_at=_aware(row[10]) or datetime.now(UTC),
            added_by=row[11],
        )

    def well_known(self, kind: CertKind | None = None) -> list[WellKnownEntry]:
        rows = self._con.execute(
            "SELECT * FROM well_known WHERE ? IS NULL OR kind = ? ORDER BY id",
            [kind and kind.value, kind and kind.value],
        ).fetchall()
        return [self._well_known(r) for r in rows]

    def well_known_issuer_ders(self) -> list[bytes]:
        rows = self._con.execute(
            "SELECT der FROM well_known WHERE kind = 'well-known-issuer' ORDER BY id"
        ).fetchall()
        return [bytes(r[0]) for r in rows]

    def remove_well_known(self, row_id: int) -> WellKnownEntry | None:
        row = self._con.execute("SELECT * FROM well_known WHERE id = ?", [row_id]).fetchone()
        if row is None:
            return None
        self._con.execute("DELETE FROM well_known WHERE id = ?", [row_id])
        return self._well_known(row)

    # --------------------------------------------------- server certificates
    def install_server_certificate(
        self,
        node: str,
        certificate: NewCertificate,
        *,
        hostnames: Sequence[str],
        key_file: str,
        at: datetime,
    ) -> None:
        """Make this the node's active certificate; the previous one goes to history."""
        self._con.execute(
            "UPDATE server_certificates SET retired_at = ? WHERE node = ? AND retired_at IS NULL",
            [_db(at), node],
        )
        c = certificate
        self._con.execute(
            "INSERT INTO server_certificates VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)",
            [
                self._next_row_id(),
                node,
                c.thumbprint,
                c.sha256,
                c.subject,
                c.issuer,
                c.serial,
                _db(c.not_before),
                _db(c.not_after),
                json.dumps(list(hostnames)),
                c.der,
                key_file,
                _db(at),
            ],
        )

    def server_certificates(self, *, history: bool = False) -> list[ServerCertificate]:
        rows = self._con.execute(
            "SELECT node, thumbprint, sha256, subject, issuer, serial, not_before, not_after, "
            "hostnames, installed_at, retired_at, key_file FROM server_certificates "
            "WHERE ? OR retired_at IS NULL ORDER BY node, installed_at DESC, id DESC",
            [history],
        ).fetchall()
        return [
            ServerCertificate(
                node=r[0],
                thumbprint=r[1],
                sha256=r[2],
                subject=r[3],
                issuer=r[4],
                serial=r[5],
                not_before=_aware(r[6]) or datetime.min,
                not_after=_aware(r[7]) or datetime.min,
                hostnames=tuple(json.loads(r[8])),
                installed_at=_aware(r[9]) or datetime.min,
                retired_at=_aware(r[10]),
                key_file=r[11],
            )
            for r in rows
        ]

    def server_certificate_der(self, thumbprint: str) -> bytes | None:
        row = self._con.execute(
            "SELECT der FROM server_certificates WHERE thumbprint = ? ORDER BY id DESC",
            [thumbprint],
        ).fetchone()
        return None if row is None else bytes(row[0])

    # ---------------------------------------------------------------- audit
    def audit(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        thumbprint: str | None = None,
        name: str | None = None,
        details: Mapping[str, Any] | None = None,
    ) -> None:
        self._con.execute(
            "INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                self._next_row_id(),
                _db(at),
                actor,
                action,
                thumbprint,
                name,
                json.dumps(dict(details or {}), sort_keys=True, default=str),
            ],
        )

    def audit_many(
        self,
        *,
        at: datetime,
        actor: str,
        action: str,
        items: Sequence[tuple[str | None, str | None, Mapping[str, Any]]],
    ) -> None:
        """One audit event per (thumbprint, name, details), in one insert."""
        if not items:
            return
        ids = self._con.execute(
            "SELECT nextval('row_ids') FROM generate_series(1, ?)", [len(items)]
        ).fetchall()
        encoded: dict[int, str] = {}  # by id(): an upload of 10,000 shares one details dict

        def encode(details: Mapping[str, Any]) -> str:
            key = id(details)
            if key not in encoded:
                encoded[key] = json.dumps(dict(details), sort_keys=True, default=str)
            return encoded[key]

        events: dict[str, list[Any]] = {
            "id": [int(r[0]) for r in ids],
            "at": [at] * len(items),
            "actor": [actor] * len(items),
            "action": [action] * len(items),
            "thumbprint": [i[0] for i in items],
            "name": [i[1] for i in items],
            "details": [encode(i[2]) for i in items],
        }
        insert = self._insert_values if len(items) <= _FEW_ROWS else self._insert_columns
        insert("audit_log", events)

    def audit_events(self, *, limit: int = 100) -> list[AuditEvent]:
        rows = self._con.execute(
            'SELECT "at", actor, action, thumbprint, name, details FROM audit_log '
            "ORDER BY id DESC LIMIT ?",
            [limit],
        ).fetchall()
        return [
            AuditEvent(_aware(r[0]) or datetime.min, r[1], r[2], r[3], r[4], r[5]) for r in rows
        ]
