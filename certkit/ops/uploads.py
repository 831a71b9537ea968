"""Registering uploaded certificates: preview an upload, then register it (issue 2).

An upload is PEM, DER, PKCS#12 or a collection of several; it becomes one entry (a
collection) or, with ``each``, one entry per certificate named from its CN. Everything is
checked before anything is stored, and the whole upload is one transaction.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from datetime import datetime
from typing import ParamSpec, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from certkit import authz, pki
from certkit.errors import Conflict, InvalidInput
from certkit.model import (
    LOCAL_ADMIN,
    Access,
    Actor,
    CertificateRecord,
    Clearance,
    Secret,
    TotpEnrollment,
    normalize_permissions,
    validate_name,
)
from certkit.ops.base import new_certificate
from certkit.ops.clients import ClientOps, _settings, as_passphrase
from certkit.registry import NewCertificate, Store

Progress = Callable[[int, int], None]
_P = ParamSpec("_P")
_R = TypeVar("_R")


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


class UploadOps(ClientOps):
    """Use cases on uploaded client certificates."""

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
        with self._opened() as tx:  # the first command on a new home initialises it
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
        with self._opened(write=True) as tx:  # the first command on a new home initialises it
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
