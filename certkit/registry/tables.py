"""What the query classes of a registry transaction share: the connection, value
conversions, record decoding and multi-row inserts (on DuckDB and PostgreSQL alike).

Timestamps are stored as naive UTC and come back as aware UTC datetimes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from certkit.model import Access, CertificateRecord, CertKind, Clearance
from certkit.registry.dialect import is_postgres


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


_RECORD_COLUMNS = """
    e.id, e.name, e.kind, e.clearance, e.permissions, e.two_factor, e.primary_thumbprint,
    e.not_before, e.not_after, e.last_used, e.created_at, e.replaced_by,
    c.sha256, c.subject, c.issuer, c.serial, {others} AS others, e.replaces
"""
_OTHERS = 16  # the column of _RECORD_COLUMNS with the other members of a collection
_FEW_ROWS = 32  # insert_entries: up to this many certificates without numpy
_TIME_COLUMNS = frozenset({"not_before", "not_after", "created_at", "at"})
_NUMPY_TYPES = {"id": "int64", "entry_id": "int64", "position": "int32", "two_factor": "bool"}


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


class Queries:
    """The connection of one transaction, and what every group of queries needs of it."""

    def __init__(self, con: Any) -> None:  # a DuckDB connection or a PgConnection
        self._con = con

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

    def _next_row_id(self) -> int:
        row = self._con.execute("SELECT nextval('row_ids')").fetchone()
        assert row is not None
        return int(row[0])
