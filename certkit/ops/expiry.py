"""Expiry alerts, purging expired or unused entries, and the registry read for analysis.

Thresholds (DESIGN.md, issue 5): a client certificate is "expiring" within 30 days; the
server certificates (one per node) and certkit's client-issuing CA warn at 20 days and are
an error at 3 days. An entry replaced by its renewal never alerts.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from cryptography import x509

from certkit import authz
from certkit.errors import CertkitError, InvalidInput, PermissionDenied
from certkit.model import (
    DEFAULT_EXPIRING_THRESHOLD,
    LOCAL_ADMIN,
    Actor,
    CertificateRecord,
    CertKind,
    Clearance,
    iso_utc,
)
from certkit.ops.base import new_certificate
from certkit.ops.clients import ClientOps
from certkit.registry import Store
from certkit.registry import lifecycle_queries as lifecycle

SERVER_WARNING = timedelta(days=20)
SERVER_ERROR = timedelta(days=3)
_KEY_HASH_BATCH = 5000
CA_CERT = "ca.crt"  # the CA's public certificate, written beside the registry at init


class AlertLevel(StrEnum):
    """How urgent an expiry is."""

    OK = "ok"
    WARNING = "warning"
    ERROR = "error"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class ExpiryThresholds:
    """When to alert: clients within ``client``; server and CA certificates warn within
    ``server_warning`` and are an error within ``server_error``."""

    client: timedelta = DEFAULT_EXPIRING_THRESHOLD
    server_warning: timedelta = SERVER_WARNING
    server_error: timedelta = SERVER_ERROR

    def __post_init__(self) -> None:
        if min(self.client, self.server_warning, self.server_error) < timedelta(0):
            raise InvalidInput("Expiry thresholds cannot be negative.")
        if self.server_error > self.server_warning:
            raise InvalidInput(
                "The server certificate's error threshold must not be longer than its "
                "warning threshold."
            )

    def server_level(self, not_after: datetime, now: datetime) -> AlertLevel:
        """The alert level of a server or CA certificate that expires at ``not_after``."""
        if not_after <= now:
            return AlertLevel.EXPIRED
        if not_after - now <= self.server_error:
            return AlertLevel.ERROR
        if not_after - now <= self.server_warning:
            return AlertLevel.WARNING
        return AlertLevel.OK


def days_left(not_after: datetime, now: datetime) -> float:
    """Days until ``not_after`` (negative once expired), to a tenth."""
    return round((not_after - now).total_seconds() / 86400, 1)


@dataclass(frozen=True, slots=True)
class OwnCertificate:
    """A certificate of certkit itself: a node's server certificate (``server``), the
    client-issuing CA (``ca``) or a well-known issuer (``well-known-issuer``)."""

    kind: str
    name: str
    node: str | None
    thumbprint: str
    subject: str
    not_before: datetime
    not_after: datetime

    def to_json(self, now: datetime, thresholds: ExpiryThresholds) -> dict[str, Any]:
        return {
            "name": self.name,
            "thumbprint": self.thumbprint,
            "kind": self.kind,
            "node": self.node,
            "subject": self.subject,
            "not_before": iso_utc(self.not_before),
            "not_after": iso_utc(self.not_after),
            "days_left": days_left(self.not_after, now),
            "level": thresholds.server_level(self.not_after, now).value,
        }


@dataclass(frozen=True, slots=True)
class ExpiryAlerts:
    """What expires soon: client entries that expire within ``within`` from ``now`` (not
    those replaced by a renewal), and certkit's own certificates with their alert levels.
    Client entries that have already expired are only counted (``expired``): they broke
    already, and ``purge_expired`` is how they leave."""

    now: datetime
    within: timedelta
    thresholds: ExpiryThresholds
    clients: tuple[CertificateRecord, ...]
    own: tuple[OwnCertificate, ...]
    expired: int = 0

    @property
    def own_alerts(self) -> tuple[OwnCertificate, ...]:
        """Own certificates at warning, error or expired level."""
        return tuple(
            o
            for o in self.own
            if self.thresholds.server_level(o.not_after, self.now) is not AlertLevel.OK
        )

    @property
    def failing(self) -> bool:
        """Anything to act on: what ``certkit expiry --fail`` exits 1 for."""
        return bool(self.clients or self.own_alerts)


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """Entries a purge deleted, and those it left because the actor may not delete them."""

    deleted: tuple[CertificateRecord, ...]
    skipped: tuple[tuple[CertificateRecord, str], ...] = field(default=())


class ExpiryOps(ClientOps):
    """Expiry alerts and purges; the registry read behind :mod:`certkit.analysis`."""

    # ------------------------------------------------------------- alerts
    def own_certificates(self) -> list[OwnCertificate]:
        """The active server certificate of every node, the client-issuing CA and the
        well-known issuers: the certificates whose expiry breaks more than one client."""
        self._ensure_initialised()
        with self.registry.read() as tx:
            local = self._meta(tx, "local_node", "A")
            servers = tx.server_certificates()
            issuers = tx.well_known(CertKind.WELL_KNOWN_ISSUER)
        own = [
            OwnCertificate(
                kind="server",
                name=(
                    f"Server certificate (node {s.node})"
                    if s.node == local
                    else f"Server certificate for communication {s.node}"
                ),
                node=s.node,
                thumbprint=s.thumbprint,
                subject=s.subject,
                not_before=s.not_before,
                not_after=s.not_after,
            )
            for s in servers
        ]
        ca = new_certificate(self._ca_certificate())
        own.append(
            OwnCertificate(
                "ca",
                "Client-issuing CA",
                None,
                ca.thumbprint,
                ca.subject,
                ca.not_before,
                ca.not_after,
            )
        )
        own += [
            OwnCertificate(
                "well-known-issuer",
                "Well-known issuer",
                None,
                w.thumbprint,
                w.subject or "",
                w.not_before,
                w.not_after,
            )
            for w in issuers
            if w.not_before is not None and w.not_after is not None
        ]
        return own

    def _ca_certificate(self) -> x509.Certificate:
        """The CA's public certificate: ``ca.crt`` in the home (no key to decrypt), or the
        key file's when that copy is missing or unreadable."""
        try:
            return x509.load_pem_x509_certificate((self.home.path / CA_CERT).read_bytes())
        except (OSError, ValueError):
            return self.authority().certificate

    def expiry_alerts(
        self,
        *,
        within: timedelta | None = None,
        thresholds: ExpiryThresholds | None = None,
    ) -> ExpiryAlerts:
        """Client entries that expire within ``within`` (default: the client threshold,
        30 days), the number already expired, and certkit's own certificates with their
        levels."""
        limits = thresholds or ExpiryThresholds(client=self.expiring_threshold)
        window = limits.client if within is None else within
        if window < timedelta(0):
            raise InvalidInput("The expiry window cannot be negative.")
        now = self.now()
        own = self.own_certificates()
        with self.registry.read() as tx:
            clients = lifecycle.expiring_between(tx, now, now + window)
            expired = lifecycle.count_expired_before(tx, now)
        return ExpiryAlerts(now, window, limits, tuple(clients), tuple(own), expired)

    # -------------------------------------------------------------- purge
    def expired_entries(self, *, older_than: timedelta = timedelta(0)) -> list[CertificateRecord]:
        """Entries expired for at least ``older_than``: what :meth:`purge_expired` deletes."""
        self._ensure_initialised()
        with self.registry.read() as tx:
            return lifecycle.expired_before(tx, self.now() - _not_negative(older_than))

    def count_expired(self, *, older_than: timedelta = timedelta(0)) -> int:
        """How many entries :meth:`expired_entries` would list (without loading them)."""
        self._ensure_initialised()
        with self.registry.read() as tx:
            return lifecycle.count_expired_before(tx, self.now() - _not_negative(older_than))

    def count_unused(self, *, unused_for: timedelta) -> int:
        """How many entries :meth:`unused_entries` would list (without loading them)."""
        self._ensure_initialised()
        now = self.now()
        with self.registry.read() as tx:
            return lifecycle.count_idle_since(tx, now, now - _not_negative(unused_for))

    def unused_entries(self, *, unused_for: timedelta) -> list[CertificateRecord]:
        """Entries not expired whose last use (or registration, if never used) is older
        than ``unused_for``: what :meth:`purge_unused` deletes."""
        self._ensure_initialised()
        now = self.now()
        with self.registry.read() as tx:
            return lifecycle.idle_since(tx, now, now - _not_negative(unused_for))

    def purge_expired(
        self, *, older_than: timedelta = timedelta(0), actor: Actor = LOCAL_ADMIN
    ) -> PurgeResult:
        """Delete every entry (with its whole collection) whose certificate expired at least
        ``older_than`` ago. Entries the actor may not delete (higher clearance) are left and
        reported; each deletion is an audit event ``purge``."""
        authz.require_operator(actor, "purge expired certificates")
        cutoff = _not_negative(older_than)
        self._ensure_initialised()
        with self.registry.transaction() as tx:
            now = self.now()
            found = lifecycle.expired_before(tx, now - cutoff)
            return self._purge(
                tx, found, actor, {"reason": "expired", "older_than_days": cutoff.days}
            )

    def purge_unused(self, *, unused_for: timedelta, actor: Actor = LOCAL_ADMIN) -> PurgeResult:
        """Delete every entry not expired that has not been used (or, never used, was
        registered) more than ``unused_for`` ago; as :meth:`purge_expired` otherwise."""
        authz.require_operator(actor, "purge unused certificates")
        idle = _not_negative(unused_for)
        if idle < timedelta(days=1):
            raise InvalidInput("Purging unused certificates needs a period of a day or more.")
        self._ensure_initialised()
        with self.registry.transaction() as tx:
            now = self.now()
            found = lifecycle.idle_since(tx, now, now - idle)
            return self._purge(tx, found, actor, {"reason": "unused", "unused_days": idle.days})

    def _purge(
        self,
        tx: Store,
        found: Sequence[CertificateRecord],
        actor: Actor,
        details: dict[str, Any],
    ) -> PurgeResult:
        deleted: list[CertificateRecord] = []
        skipped: list[tuple[CertificateRecord, str]] = []
        for record in found:
            try:
                authz.check_delete(
                    actor,
                    record.clearance or Clearance.VALID_USER,
                    (record.thumbprint, *record.collection),
                    record.name,
                )
            except PermissionDenied as refused:
                skipped.append((record, refused.message))
                continue
            deleted.append(record)
        lifecycle.delete_entries(tx, [r.entry_id for r in deleted if r.entry_id is not None])
        tx.audit_many(
            at=self.now(),
            actor=actor.label,
            action="purge",
            items=[
                (
                    r.thumbprint,
                    r.name,
                    details | {"not_after": iso_utc(r.not_after), "collection": list(r.collection)},
                )
                for r in deleted
            ],
        )
        return PurgeResult(tuple(deleted), tuple(skipped))

    # --------------------------------------------------- analysis support
    def fill_key_hashes(self) -> int:
        """Compute the public-key hash of certificates stored before schema version 3 (SQL
        cannot parse DER); returns how many were filled. A no-op on a current registry."""
        self._ensure_initialised()
        filled = 0
        while True:
            with self.registry.transaction() as tx:
                rows = lifecycle.certificates_without_key_hash(tx, limit=_KEY_HASH_BATCH)
                if not rows:
                    return filled
                lifecycle.set_key_hashes(tx, {tp: _key_hash(der) for tp, der in rows})
            filled += len(rows)

    @contextmanager
    def read_registry(self) -> Iterator[Store]:
        """One read transaction for :mod:`certkit.analysis` (the queries in
        :mod:`certkit.registry.analysis_queries` run on it). The home is initialised first,
        and key hashes missing from an older registry are filled before it is read."""
        self._ensure_initialised()
        with self.registry.read() as tx:
            complete = lifecycle.missing_key_hashes(tx) == 0
            if complete:
                yield tx
        if not complete:
            self.fill_key_hashes()
            with self.registry.read() as tx:
                yield tx


def _not_negative(period: timedelta) -> timedelta:
    if period < timedelta(0):
        raise InvalidInput("A period cannot be negative.")
    return period


def _key_hash(der: bytes) -> str:
    try:
        return authz.spki_hash(x509.load_der_x509_certificate(der))
    except (ValueError, CertkitError):
        return ""  # unreadable: marked, so it is not parsed again
