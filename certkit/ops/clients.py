"""Client certificate use cases: generate, list, show, edit, clone, delete (uploads are
registered in :mod:`certkit.ops.uploads`)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from certkit import authz, pki, totp
from certkit.errors import Conflict, InvalidInput, NotFound
from certkit.model import (
    LOCAL_ADMIN,
    Access,
    Actor,
    CertificateRecord,
    CertKind,
    Clearance,
    GeneratedCertificate,
    KeyType,
    ListQuery,
    Page,
    Pkcs12Profile,
    Secret,
    ServerCertificate,
    TotpEnrollment,
    WellKnownEntry,
    add_period,
    normalize_permissions,
    parse_period,
    validate_database_name,
    validate_name,
)
from certkit.ops.base import Base, new_certificate
from certkit.registry import NewCertificate, NewEntry, Store

Expiry = str | timedelta | datetime
DEFAULT_EXPIRY = "5y"
_SLOW_KEYS = frozenset({KeyType.RSA_2048, KeyType.RSA_3072, KeyType.RSA_4096})


def normalize_thumbprint(text: str) -> str:
    """``3d:0a:...`` or ``3D0A...`` -> 40 uppercase hex characters, or a clear error."""
    value = re.sub(r"[\s:]", "", text).upper()
    if not re.fullmatch(r"[0-9A-F]{40}", value):
        raise InvalidInput(
            f"{text.strip()!r} is not a thumbprint: expected 40 hexadecimal characters "
            "(the SHA-1 of the certificate)."
        )
    return value


def as_passphrase(value: Secret | str | None) -> Secret | None:
    """A passphrase given as text or Secret; an empty one counts as none."""
    if value is None:
        return None
    secret = value if isinstance(value, Secret) else Secret(value)
    return secret if secret else None


@dataclass(frozen=True, slots=True)
class Edited:
    record: CertificateRecord
    totp: TotpEnrollment | None = None


class ClientOps(Base):
    """Use cases on client certificates."""

    # ------------------------------------------------------------ generate
    def generate_client_certificate(
        self,
        name: str,
        *,
        clearance: Clearance | str = Clearance.VALID_USER,
        permissions: Mapping[str, Access | str] | None = None,
        passphrase: Secret | str | None = None,
        expires: Expiry = DEFAULT_EXPIRY,
        key_type: KeyType | str = KeyType.EC_P256,
        pkcs12: Pkcs12Profile | str = Pkcs12Profile.MODERN,
        two_factor: bool = False,
        actor: Actor = LOCAL_ADMIN,
    ) -> GeneratedCertificate:
        """Generate a client certificate signed by certkit's CA and register it.

        Returns the record, the zip (``<name>.pfx``, ``.crt``, ``.key``) and, with
        ``two_factor``, the TOTP enrolment to show once.
        """
        name = validate_name(name)
        level = Clearance.parse(clearance)
        perms = normalize_permissions(permissions)
        kind = KeyType.parse(key_type)
        profile = Pkcs12Profile.parse(pkcs12)
        authz.check_manage(actor, level, "generate", name)
        now = self.now()
        not_after = self._expiry(expires, now)
        # The write transaction below checks the name. Check it first as well only where a
        # taken name would waste seconds of RSA key generation: an extra registry open
        # costs ~15 ms, more than a whole EC or Ed25519 certificate.
        if kind in _SLOW_KEYS:
            with self.registry.read() as tx:
                self._check_names_free(tx, [name])
        ca = self.authority()
        key, cert = pki.issue_client_certificate(
            ca.key, ca.certificate, name, now=now, not_after=not_after, key_type=kind
        )
        secret = as_passphrase(passphrase)
        zip_bytes = pki.client_bundle_zip(
            name, key, cert, [ca.certificate], passphrase=secret, profile=profile
        )
        row = new_certificate(cert)
        enrolment, token = self._enrol(name, row.thumbprint) if two_factor else (None, None)
        with self.registry.transaction() as tx:
            self._check_names_free(tx, [name])
            (entry_id,) = tx.insert_entries(
                [self._entry(name, level, perms, two_factor, [row], actor, token)]
            )
            tx.audit(
                at=now,
                actor=actor.label,
                action="generate",
                thumbprint=row.thumbprint,
                name=name,
                details=_settings(level, perms, two_factor) | {"key_type": kind.value},
            )
            record = tx.entry(entry_id)
        assert record is not None
        return GeneratedCertificate(record, zip_bytes, f"{pki.safe_file_stem(name)}.zip", enrolment)

    def _expiry(self, expires: Expiry, now: datetime) -> datetime:
        if isinstance(expires, datetime):
            not_after = expires
        elif isinstance(expires, timedelta):
            not_after = now + expires
        else:
            not_after = add_period(now, parse_period(expires))
        if not_after <= now:
            raise InvalidInput("The expiration must be in the future.")
        return not_after

    def _enrol(self, name: str, thumbprint: str) -> tuple[TotpEnrollment, str]:
        """A new TOTP secret: the enrolment to show once, and its encrypted form to store."""
        secret = totp.new_secret()
        uri = totp.provisioning_uri(secret, account=name, issuer=self.cluster_name())
        token = self.secret_box().encrypt(secret.reveal(), context=f"totp:{thumbprint}")
        from certkit import qr  # qrcode and Pillow: ~35 ms of import that only 2FA needs

        return TotpEnrollment(secret, uri, qr.qr_png(uri)), token

    def _entry(
        self,
        name: str,
        clearance: Clearance,
        permissions: Mapping[str, Access],
        two_factor: bool,
        certificates: Sequence[NewCertificate],
        actor: Actor,
        totp_secret: str | None,
        *,
        created_at: datetime | None = None,
    ) -> NewEntry:
        return NewEntry(
            name=name,
            kind=CertKind.CLIENT,
            clearance=clearance,
            permissions=permissions,
            two_factor=two_factor,
            certificates=certificates,
            created_at=created_at or self.now(),
            created_by=actor.label,
            totp_secret=totp_secret,
        )

    def _check_names_free(
        self, tx: Store, names: Sequence[str], *, exclude_entry: int | None = None
    ) -> None:
        taken = tx.names_in_use(names, exclude_entry=exclude_entry)
        if taken:
            shown = ", ".join(repr(n) for n in taken[:5])
            more = f" and {len(taken) - 5} more" if len(taken) > 5 else ""
            raise Conflict(
                f"A client certificate named {shown}{more} is already registered; "
                "choose another name."
            )

    # --------------------------------------------------------- list / show
    def list_certificates(self, query: ListQuery | None = None) -> Page:
        """A page of client certificates: search, filter by clearance group, state and
        database, sort, and counts per clearance group and state."""
        query = query or ListQuery(threshold=self.expiring_threshold)
        if query.database:
            validate_database_name(query.database)
        with self._opened() as tx:
            return tx.list_entries(query, self.now())

    @contextmanager
    def _opened(self, *, write: bool = False) -> Iterator[Store]:
        """A read (or with ``write``, a write transaction) that also makes this object's
        first check of the home.

        One registry open instead of two (~15-20 ms) for the first registry access of a
        command, e.g. ``certkit list``, ``show`` or ``upload``; a new home is initialised
        first as before. On PostgreSQL a read takes no write lock.
        """
        begin = self.registry.transaction if write else self.registry.read
        if not self._initialised:
            with begin() as tx:
                if tx.get_meta("ca_thumbprint") is not None:  # as initialise() checks
                    self._initialised = True
                    yield tx
                    return
            self.initialise()
        with begin() as tx:
            yield tx

    def show(self, thumbprint: str) -> CertificateRecord | ServerCertificate | WellKnownEntry:
        """Find any certificate certkit knows by thumbprint (client, server or well-known)."""
        value = normalize_thumbprint(thumbprint)
        with self._opened() as tx:
            record = tx.find(value)
            if record is not None:
                return record
            for server in tx.server_certificates(history=True):
                if server.thumbprint == value:
                    return server
            for known in tx.well_known():
                if known.thumbprint == value:
                    return known
        raise NotFound(f"No certificate with thumbprint {value} is registered.")

    def _client_entry(self, tx: Store, thumbprint: str, action: str) -> CertificateRecord:
        value = normalize_thumbprint(thumbprint)
        record = tx.find(value)
        if record is None:
            if any(s.thumbprint == value for s in tx.server_certificates(history=True)):
                raise InvalidInput(
                    f"{value} is a server certificate; it cannot be {action} here "
                    "(use 'certkit server replace')."
                )
            raise NotFound(f"No client certificate with thumbprint {value} is registered.")
        return record

    # ----------------------------------------------------------------- edit
    def edit(
        self,
        thumbprint: str,
        *,
        name: str | None = None,
        clearance: Clearance | str | None = None,
        permissions: Mapping[str, Access | str] | None = None,
        set_permissions: Mapping[str, Access | str] | None = None,
        remove_databases: Sequence[str] = (),
        two_factor: bool | None = None,
        actor: Actor = LOCAL_ADMIN,
    ) -> Edited:
        """Change name, clearance, permissions or 2FA of an entry (its whole collection).

        ``permissions`` replaces all database permissions; ``set_permissions`` adds or
        changes some; ``remove_databases`` takes some away. Turning 2FA on returns a new
        enrolment to show once; turning it off forgets the secret.
        """
        new_name = validate_name(name) if name is not None else None
        level = Clearance.parse(clearance) if clearance is not None else None
        with self.registry.read() as tx:
            old = self._client_entry(tx, thumbprint, "edited")
        authz.check_edit(
            actor,
            old.clearance or Clearance.VALID_USER,
            level or old.clearance or Clearance.VALID_USER,
            old.name,
        )
        _edit_permissions(old.permissions, permissions, set_permissions, remove_databases)  # valid?
        enable = two_factor is True and not old.two_factor
        enrolment, token = (
            self._enrol(new_name or old.name, old.thumbprint) if enable else (None, None)
        )
        with self.registry.transaction() as tx:
            current = self._client_entry(tx, old.thumbprint, "edited")
            assert current.entry_id is not None
            if current.clearance != old.clearance:  # changed meanwhile: check again
                authz.check_edit(
                    actor,
                    current.clearance or Clearance.VALID_USER,
                    level or current.clearance or Clearance.VALID_USER,
                    current.name,
                )
            # From the entry as it is now, not as read above: another writer's change made
            # meanwhile (another database added, say) is kept, never lost.
            perms = _edit_permissions(
                current.permissions, permissions, set_permissions, remove_databases
            )
            if new_name:
                self._check_names_free(tx, [new_name], exclude_entry=current.entry_id)
            keep_secret = tx.totp_state(current.entry_id).secret
            final_2fa = current.two_factor if two_factor is None else two_factor
            secret = token if enable else (keep_secret if final_2fa else None)
            final_level = level or current.clearance or Clearance.VALID_USER
            tx.update_entry(
                current.entry_id,
                name=new_name or current.name,
                clearance=final_level,
                permissions=perms,
                two_factor=final_2fa,
                totp_secret=secret,
                reset_totp=enable or not final_2fa,
            )
            tx.audit(
                at=self.now(),
                actor=actor.label,
                action="edit",
                thumbprint=current.thumbprint,
                name=new_name or current.name,
                details={
                    "before": _settings(current.clearance, current.permissions, current.two_factor)
                    | {"name": current.name},
                    "after": _settings(final_level, perms, final_2fa)
                    | {"name": new_name or current.name},
                },
            )
            record = tx.entry(current.entry_id)
        assert record is not None
        return Edited(record, enrolment)

    # ---------------------------------------------------------------- clone
    def clone(
        self,
        thumbprint: str,
        new_name: str,
        *,
        passphrase: Secret | str | None = None,
        expires: Expiry = DEFAULT_EXPIRY,
        key_type: KeyType | str = KeyType.EC_P256,
        pkcs12: Pkcs12Profile | str = Pkcs12Profile.MODERN,
        actor: Actor = LOCAL_ADMIN,
    ) -> GeneratedCertificate:
        """A new certificate (new key, new 2FA secret) with the settings of an existing one."""
        with self.registry.read() as tx:
            source = self._client_entry(tx, thumbprint, "cloned")
        return self.generate_client_certificate(
            new_name,
            clearance=source.clearance or Clearance.VALID_USER,
            permissions=source.permissions,
            passphrase=passphrase,
            expires=expires,
            key_type=key_type,
            pkcs12=pkcs12,
            two_factor=source.two_factor,
            actor=actor,
        )

    # --------------------------------------------------------------- delete
    def delete(self, thumbprint: str, *, actor: Actor = LOCAL_ADMIN) -> CertificateRecord:
        """Delete an entry and its whole collection; recorded in the audit log."""
        value = normalize_thumbprint(thumbprint)
        with self.registry.transaction() as tx:
            record = self._client_entry(tx, value, "deleted")
            if record.thumbprint != value:
                raise InvalidInput(
                    f"{value} belongs to the collection of {record.name!r}; delete its primary "
                    f"certificate {record.thumbprint} to remove the whole collection."
                )
            authz.check_delete(
                actor,
                record.clearance or Clearance.VALID_USER,
                (record.thumbprint, *record.collection),
                record.name,
            )
            assert record.entry_id is not None
            tx.delete_entry(record.entry_id)
            tx.audit(
                at=self.now(),
                actor=actor.label,
                action="delete",
                thumbprint=record.thumbprint,
                name=record.name,
                details={"collection": list(record.collection)},
            )
        return record


def _edit_permissions(
    old: Mapping[str, Access],
    replace: Mapping[str, Access | str] | None,
    changes: Mapping[str, Access | str] | None,
    remove: Sequence[str],
) -> dict[str, Access]:
    base: dict[str, Access | str] = dict(replace if replace is not None else old)
    for db, access in (changes or {}).items():
        for existing in [k for k in base if k.lower() == db.strip().lower()]:
            del base[existing]
        base[db] = access
    for db in remove:
        matches = [k for k in base if k.lower() == db.strip().lower()]
        if not matches:
            raise InvalidInput(f"The certificate has no permission on database {db!r} to remove.")
        for key in matches:
            del base[key]
    return normalize_permissions(base)


def _settings(
    clearance: Clearance | None, permissions: Mapping[str, Access], two_factor: bool
) -> dict[str, object]:
    return {
        "clearance": clearance.value if clearance else None,
        "permissions": {db: a.value for db, a in permissions.items()},
        "two_factor": two_factor,
    }
