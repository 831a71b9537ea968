"""Queries of well-known certificates, server certificates and the audit log."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from certkit.model import AuditEvent, CertKind, ServerCertificate, WellKnownEntry
from certkit.registry.tables import _FEW_ROWS, NewCertificate, Queries, _aware, _db


class TrustQueries(Queries):
    """Well-known admins and issuers, server certificates with their history, audit events."""

    # ----------------------------------------------------------- well-known
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
