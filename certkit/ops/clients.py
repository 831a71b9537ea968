"""Client certificate use cases: generate, register, list, show, edit, clone, delete."""

from __future__ import annotations

import functools
import gc
import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

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

Progress = Callable[[int, int], None]
_P = ParamSpec("_P")
_R = TypeVar("_R")
Expiry = str | timedelta | datetime
DEFAULT_EXPIRY = "5y"
_SLOW_KEYS = frozenset({KeyType.RSA_2048, KeyType.RSA_3072, KeyType.RSA_4096})


def _gc_paused(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Run ``fn`` with Python's cyclic garbage collector paused, for bulk uploads.

    Reading 10,000 certificates allocates about a million small objects, and every few
    thousand allocations the collector walks the whole growing heap: a quarter of the time
    of registering a 10,000-certificate bundle (measured in ``benchmarks/``). The collector
    resumes, and catches up, when ``fn`` returns.
    """

    @functools.wraps(fn)
    def paused(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return fn(*args, **kwargs)
        finally:
            if was_enabled:
                gc.enable()

    return paused


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
class Registration:
    """The result of registering an upload: the records of the entries created, in upload
    order (all of them unless ``register(records=...)`` asked for fewer), and their count."""

    records: tuple[CertificateRecord, ...]
    skipped: tuple[tuple[str, str], ...]  # (subject, reason)
    totp: Mapping[str, TotpEnrollment] = field(default_factory=dict)  # by primary thumbprint
    count: int = -1  # entries created; -1 (the default): as many as records

    def __post_init__(self) -> None:
        if self.count < 0:
            object.__setattr__(self, "count", len(self.records))

    def __repr__(self) -> str:
        return f"Registration({self.count} entries, {len(self.skipped)} skipped)"


@dataclass(frozen=True, slots=True)
class UploadPreview:
    """What an upload holds, before anything is registered."""

    format: str
    members: tuple[pki.CertificateInfo, ...]
    skipped: tuple[tuple[pki.CertificateInfo, str], ...]
    problems: tuple[tuple[pki.CertificateInfo, str], ...]
    private_keys: int


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

    # ------------------------------------------------------------ register
    @_gc_paused
    def preview_upload(
        self, data: bytes, *, passphrase: Secret | str | None = None, source: str = "the file"
    ) -> UploadPreview:
        """Read an upload and say what would be registered, skipped or refused."""
        bundle = pki.load_certificates(data, passphrase=as_passphrase(passphrase), source=source)
        members, skipped = pki.split_collection(bundle.certificates)
        server = self._server_thumbprints()
        problems: list[tuple[pki.CertificateInfo, str]] = []
        for cert in members:
            reason = self._client_problem(cert, source, server)
            if reason:
                problems.append((pki.describe(cert), reason))
        return UploadPreview(
            format=bundle.format,
            members=tuple(pki.describe(c) for c in members),
            skipped=tuple((pki.describe(c), why) for c, why in skipped),
            problems=tuple(problems),
            private_keys=bundle.private_key_count,
        )

    def _client_problem(
        self,
        cert: x509.Certificate,
        source: str,
        server: AbstractSet[str],
        row: NewCertificate | None = None,
        now: datetime | None = None,
    ) -> str | None:
        row = row or new_certificate(cert)
        if row.thumbprint in server:
            return _own_server_certificate(source)
        try:
            pki.check_client_certificate(
                cert,
                now=now or self.now(),
                source=f"{row.subject or row.thumbprint} ({row.thumbprint})",
            )
        except InvalidInput as error:
            return error.message
        return None

    def _server_thumbprints(self) -> set[str]:
        with self._reading() as tx:  # the first command on a new home initialises it
            return _active_server_thumbprints(tx)

    @_gc_paused
    def register(
        self,
        data: bytes,
        *,
        clearance: Clearance | str,
        name: str | None = None,
        permissions: Mapping[str, Access | str] | None = None,
        two_factor: bool = False,
        passphrase: Secret | str | None = None,
        each: bool = False,
        source: str = "the file",
        actor: Actor = LOCAL_ADMIN,
        progress: Progress | None = None,
        records: int | None = None,
    ) -> Registration:
        """Register existing certificates from a PEM, DER or PKCS#12 upload.

        By default the client certificates in the file become one entry (a collection:
        the first is the primary); with ``each`` every certificate becomes its own entry,
        named from its common name. Private keys in the file are only checked, never kept.
        Nothing is registered unless every certificate is acceptable.

        ``records``: how many records of the new entries to return, the first ones in upload
        order; ``Registration.count`` always says how many entries were created. None (the
        default) or True returns them all, 0 or False none: ``certkit upload`` shows 20.
        """
        level = Clearance.parse(clearance)
        perms = normalize_permissions(permissions)
        given_name = validate_name(name) if name is not None else None
        if each and given_name:
            raise InvalidInput(
                "--name and --each do not go together: each entry is named from its certificate."
            )
        authz.check_manage(actor, level, "register", given_name or "from the upload")
        bundle = pki.load_certificates(data, passphrase=as_passphrase(passphrase), source=source)
        members, skipped = pki.split_collection(bundle.certificates)
        if not members:
            raise InvalidInput(f"{source} holds no client certificate, only chain material.")
        rows: list[NewCertificate] = []
        names: list[str] = []
        issuers: dict[bytes, str] = {}
        now = self.now()
        for done, cert in enumerate(members, 1):
            row, entry_name = _upload_row(cert, issuers)  # one pass: uploads hold up to ~10,000
            # The server's own certificates are refused in the write transaction below:
            # reading them here took a registry open of its own (~15-20 ms).
            problem = self._client_problem(cert, source, _NONE, row, now)
            if problem:
                raise InvalidInput(problem)
            rows.append(row)
            names.append(entry_name)
            if progress and (done % 500 == 0 or done == len(members)):
                progress(done, len(members))
        groups = [[r] for r in rows] if each else [rows]
        entry_names = names if each else [given_name or names[0]]
        _check_unique_in_upload(entry_names)
        enrolments: dict[str, TotpEnrollment] = {}
        tokens: list[str | None] = []
        for entry_name, group in zip(entry_names, groups, strict=True):
            if two_factor:
                enrolments[group[0].thumbprint], token = self._enrol(
                    entry_name, group[0].thumbprint
                )
                tokens.append(token)
            else:
                tokens.append(None)
        settings = _settings(level, perms, two_factor)
        alone = settings | {"collection": []}  # one shared dict: audit_many encodes it once
        entries = [  # one creation time for the whole upload
            self._entry(n, level, perms, two_factor, g, actor, t, created_at=now)
            for n, g, t in zip(entry_names, groups, tokens, strict=True)
        ]
        with self._reading() as tx:  # the first command on a new home initialises it
            server = _active_server_thumbprints(tx)
            if any(r.thumbprint in server for r in rows):
                raise InvalidInput(_own_server_certificate(source))
            taken = tx.registered_thumbprints([r.thumbprint for r in rows])
            if taken:
                more = f" and {len(taken) - 3} more" if len(taken) > 3 else ""
                raise Conflict(
                    f"Certificate {', '.join(taken[:3])}{more} is already registered; "
                    "edit the existing entry instead of uploading it again."
                )
            self._check_names_free(tx, entry_names)
            ids = tx.insert_entries(entries)
            tx.audit_many(
                at=self.now(),
                actor=actor.label,
                action="register",
                items=[
                    (
                        g[0].thumbprint,
                        n,
                        settings | {"collection": [r.thumbprint for r in g[1:]]}
                        if len(g) > 1
                        else alone,
                    )
                    for n, g in zip(entry_names, groups, strict=True)
                ],
            )
        shown = len(entries) if records is None or records is True else max(records, 0)
        return Registration(
            tuple(Store.new_records(entries[:shown], ids[:shown])),
            tuple((pki.describe(c).subject, why) for c, why in skipped),
            enrolments,
            len(entries),
        )

    # --------------------------------------------------------- list / show
    def list_certificates(self, query: ListQuery | None = None) -> Page:
        """A page of client certificates: search, filter by clearance group, state and
        database, sort, and counts per clearance group and state."""
        query = query or ListQuery(threshold=self.expiring_threshold)
        if query.database:
            validate_database_name(query.database)
        with self._reading() as tx:
            return tx.list_entries(query, self.now())

    @contextmanager
    def _reading(self) -> Iterator[Store]:
        """A transaction that also makes this object's first check of the home.

        One registry open instead of two (~15-20 ms) for the first registry access of a
        command, e.g. ``certkit list``, ``show`` or ``upload``; a new home is initialised
        first as before. Reads and writes alike (``Registry.read`` is ``transaction``).
        """
        if not self._initialised:
            with self.registry.transaction() as tx:
                if tx.get_meta("ca_thumbprint") is not None:  # as initialise() checks
                    self._initialised = True
                    yield tx
                    return
            self.initialise()
        with self.registry.transaction() as tx:
            yield tx

    def show(self, thumbprint: str) -> CertificateRecord | ServerCertificate | WellKnownEntry:
        """Find any certificate certkit knows by thumbprint (client, server or well-known)."""
        value = normalize_thumbprint(thumbprint)
        with self._reading() as tx:
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


_NONE: frozenset[str] = frozenset()


def _active_server_thumbprints(tx: Store) -> set[str]:
    return {s.thumbprint for s in tx.server_certificates()}


def _own_server_certificate(source: str) -> str:
    return (
        f"{source} holds this server's own certificate; it cannot be registered "
        "as a client certificate."
    )


def _upload_row(
    cert: x509.Certificate, issuers: dict[bytes, str] | None = None
) -> tuple[NewCertificate, str]:
    """The registry columns of an uploaded certificate and the entry name from its CN.

    The same columns as :func:`certkit.ops.base.new_certificate`, without the rest of
    :func:`certkit.pki.describe` (key, usages, names, self-signature): registering 10,000
    certificates spent most of its time describing each one three times. The fingerprints
    are hashed from the DER that is stored anyway (``Certificate.fingerprint`` encodes the
    DER again for each hash). ``issuers``: issuer strings by DER name, shared by the rows
    of one upload (mostly from one CA): encoding a name takes half as long as formatting it.
    """
    der = cert.public_bytes(Encoding.DER)
    if issuers is None:
        issuer = cert.issuer.rfc4514_string()
    else:
        issuer_der = cert.issuer.public_bytes()
        found = issuers.get(issuer_der)
        issuer = issuers[issuer_der] = found or cert.issuer.rfc4514_string()
    row = NewCertificate(
        thumbprint=hashlib.sha1(der).hexdigest().upper(),
        sha256=hashlib.sha256(der).hexdigest().upper(),
        subject=cert.subject.rfc4514_string(),
        issuer=issuer,
        serial=pki.serial_hex(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        der=der,
        spki_sha256=authz.spki_hash(cert),
    )
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    common_name = str(common_names[0].value) if common_names else ""
    candidate = _printable(common_name) or _printable(row.subject) or row.thumbprint
    return row, candidate[:100].strip()


def _printable(text: str) -> str:
    """``text`` trimmed, with control and format characters shown as ``?``: a name from a
    certificate must pass :func:`certkit.model.validate_name` like a typed one."""
    if not text.isprintable():
        text = "".join("?" if unicodedata.category(ch).startswith("C") else ch for ch in text)
    return text.strip()


def _check_unique_in_upload(names: Sequence[str]) -> None:
    seen: dict[str, str] = {}
    for entry_name in names:
        key = entry_name.lower()
        if key in seen:
            raise Conflict(
                f"Two certificates in the upload would both be named {entry_name!r}; "
                "upload them as one collection or rename one."
            )
        seen[key] = entry_name


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
