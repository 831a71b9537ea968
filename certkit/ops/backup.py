"""Backup and restore of a certkit home's registry and key files (issue 6).

A backup is one zip file, format ``certkit-backup`` version 1 (the full description is in
``docs/backup-format.md``)::

    manifest.json            format, versions, cluster, when, row counts, SHA-256 of members
    tables/<table>.jsonl     one JSON object per row, for every table of the registry schema
    keys/ca.pfx              the client-issuing CA with its key (passphrase-protected PKCS#12)
    keys/server-*.pfx        every server certificate key file the registry names

Secrets stay encrypted: the key files are the home's own passphrase-protected PKCS#12 files and
TOTP secrets are the registry's AES-GCM tokens. The key passphrase (``CERTKIT_KEY_PASSPHRASE``
or ``secret.key``) is never in a backup, so restoring needs the same passphrase; restore checks
that it opens every key file and a TOTP secret before anything changes.

Restore reads and checks the whole file first (format, versions, checksums, every row), then
replaces every table in one registry transaction, and only after that commits writes the key
files (temp file + rename). A damaged, truncated, tampered-with or foreign file is refused
with a :class:`~certkit.errors.InvalidInput` and the home is left as it was. Checksums detect
damage, not a deliberate forgery: a backup is as trusted as the keys inside it.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from certkit import authz, pki
from certkit.errors import CertkitError, Conflict, InvalidInput
from certkit.home import SECRET_FILE, write_private_file
from certkit.model import LOCAL_ADMIN, Actor, Secret
from certkit.ops.base import CA_FILE, Base
from certkit.registry.backup_queries import (
    Column,
    TableRows,
    decode_value,
    dump_tables,
    encode_value,
    non_empty_reasons,
    restore_tables,
    server_key_files,
    upgrade_tables,
)
from certkit.registry.schema import SCHEMA_VERSION
from certkit.secretbox import SecretBox

FORMAT_NAME = "certkit-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
TABLES_DIR = "tables/"
KEYS_DIR = "keys/"
CA_CERT_FILE = "ca.crt"
MAX_MEMBER_BYTES = 2**31  # a member larger than this is not a registry backup
_KEY_FILE = re.compile(r"^(ca|server-[A-Za-z0-9]{1,4}-[0-9A-Fa-f]{1,64})\.pfx$")
_TABLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True, slots=True)
class RestoreSummary:
    """What a restore put in place."""

    cluster_name: str
    backup_created_at: datetime
    schema_version: int  # of the backup (the registry is at SCHEMA_VERSION afterwards)
    rows: Mapping[str, int]  # restored rows per table
    key_files: tuple[str, ...]  # written into the home
    replaced: bool  # a registry with content was discarded (restore with replace=True)
    removed_key_files: tuple[str, ...] = field(default=())  # the discarded registry's

    def __str__(self) -> str:
        entries = self.rows.get("entries", 0)
        return (
            f"Restored cluster {self.cluster_name!r} from the backup of "
            f"{self.backup_created_at:%Y-%m-%d %H:%M} UTC: {entries} client entries, "
            f"{sum(self.rows.values())} rows, {len(self.key_files)} key files."
        )


@dataclass(frozen=True, slots=True)
class _Backup:
    """A backup file read and checked, not yet applied."""

    manifest: Mapping[str, Any]
    schema_version: int
    created_at: datetime
    cluster_name: str
    tables: list[TableRows]  # at SCHEMA_VERSION
    key_files: dict[str, bytes]  # home file name -> bytes


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def _damaged(what: str) -> InvalidInput:
    return InvalidInput(
        f"The backup file is damaged or not a certkit backup: {what}. Nothing was changed."
    )


class BackupOps(Base):
    """``backup`` and ``restore`` of the whole home."""

    # ----------------------------------------------------------------- backup
    def backup(self, *, actor: Actor = LOCAL_ADMIN) -> bytes:
        """The registry (every table) and the home's key files, as a ``certkit-backup`` zip.

        One read transaction gives a consistent snapshot. The key passphrase is not included.
        """
        authz.require_cluster_admin(actor, "back up the registry")
        self._ensure_initialised()
        with self.registry.read() as tx:
            tables = dump_tables(tx)
            key_names = server_key_files(tx)
            cluster = tx.get_meta("cluster_name") or ""
            # Key files are written before the row naming them commits and never deleted by
            # a replacement, so every file this snapshot names exists now.
            keys: dict[str, bytes] = {CA_FILE: self._read_home_file(CA_FILE, required=True)}
            for name, active in key_names:
                if not _KEY_FILE.match(name):
                    raise CertkitError(f"The registry names an unexpected key file {name!r}.")
                data = self._read_home_file(name, required=active)
                if data:
                    keys[name] = data
        members: dict[str, bytes] = {}
        table_info: dict[str, Any] = {}
        for table in tables:
            member = f"{TABLES_DIR}{table.name}.jsonl"
            lines = [
                json.dumps(
                    {c.name: encode_value(v, c) for c, v in zip(table.columns, row, strict=True)},
                    ensure_ascii=False,
                    separators=(",", ":"),
                )
                for row in table.rows
            ]
            members[member] = "".join(line + "\n" for line in lines).encode()
            table_info[table.name] = {
                "file": member,
                "rows": len(table.rows),
                "columns": [[c.name, c.type] for c in table.columns],
            }
        for name, data in keys.items():
            members[KEYS_DIR + name] = data
        from certkit import __version__

        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "schema_version": SCHEMA_VERSION,
            "created_at": _utc_text(self.now()),
            "created_by": f"certkit {__version__}",
            "cluster_name": cluster,
            "tables": table_info,
            "key_files": sorted(keys),
            "members": {
                name: {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
                for name, data in members.items()
            },
        }
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            archive.writestr(MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
            for name, data in members.items():
                archive.writestr(name, data)
        return buffer.getvalue()

    def _read_home_file(self, name: str, *, required: bool) -> bytes:
        path = self.home.key_file(name)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            if required:
                raise CertkitError(
                    f"The key file {path} is missing; this home cannot be backed up."
                ) from None
            return b""

    # ---------------------------------------------------------------- restore
    def restore(
        self, data: bytes, *, replace: bool = False, actor: Actor = LOCAL_ADMIN
    ) -> RestoreSummary:
        """Make this home's registry and key files those of a backup from :meth:`backup`.

        Everything is checked first: the file (format, versions, checksums, rows) and that
        this home's key passphrase opens the backup's key files and TOTP secrets. A registry
        that holds anything beyond a freshly initialised home is refused unless ``replace``.

        Raises:
            InvalidInput: the file is damaged, foreign, newer than this certkit, or the key
                passphrase does not open its secrets. Nothing changes.
            Conflict: the registry is not empty and ``replace`` is False. Nothing changes.
        """
        authz.require_cluster_admin(actor, "restore the registry from a backup")
        backup = _read_backup(data)
        self._check_secrets(backup)
        now = self.now()
        with self.registry.transaction() as tx:
            old_keys = {name for name, _ in server_key_files(tx)}
            reasons = non_empty_reasons(tx)
            if reasons and not replace:
                raise Conflict(
                    f"The registry in {self.home.path} is not empty ({', '.join(reasons)}); "
                    "restoring would discard it. Restore with --replace (replace=True) to do "
                    "that, or into a new certkit home."
                )
            restore_tables(tx, backup.tables)
            rows = {t.name: len(t.rows) for t in backup.tables}
            tx.audit(
                at=now,
                actor=actor.label,
                action="restore",
                thumbprint=None,
                name=backup.cluster_name,
                details={
                    "backup_created_at": _utc_text(backup.created_at),
                    "schema_version": backup.schema_version,
                    "replaced": bool(reasons),
                    "rows": rows,
                },
            )
        # The registry has committed: now the key files, each atomically.
        for name, content in backup.key_files.items():
            write_private_file(self.home.key_file(name), content)
        ca_cert = pki.load_pkcs12_with_key(
            backup.key_files[CA_FILE], passphrase=self._passphrase(), source=CA_FILE
        )[1]
        write_private_file(self.home.key_file(CA_CERT_FILE), pki.certificate_pem(ca_cert))
        removed = sorted(old_keys - set(backup.key_files))
        for name in removed:
            self.home.key_file(name).unlink(missing_ok=True)
        self._authority = None
        self._box = None
        self._initialised = True
        self.__dict__.pop("_auth", None)  # AuthOps' view of the registry, if built
        return RestoreSummary(
            cluster_name=backup.cluster_name,
            backup_created_at=backup.created_at,
            schema_version=backup.schema_version,
            rows=MappingProxyType(rows),
            key_files=tuple(sorted(backup.key_files)),
            replaced=bool(reasons),
            removed_key_files=tuple(removed),
        )

    def _passphrase(self) -> Secret:
        """This home's key passphrase, never creating a new random one."""
        if (
            os.environ.get("CERTKIT_KEY_PASSPHRASE") is None
            and not (self.home.path / SECRET_FILE).exists()
        ):
            raise InvalidInput(
                f"The certkit home {self.home.path} has no key passphrase: set "
                "CERTKIT_KEY_PASSPHRASE to the backed-up home's passphrase, or copy its "
                f"{SECRET_FILE} into the home, then restore again. Nothing was changed."
            )
        return self.home.key_passphrase()

    def _check_secrets(self, backup: _Backup) -> None:
        """The key passphrase must open every key file and a TOTP secret of the backup."""
        passphrase = self._passphrase()
        hint = (
            "restore with the key passphrase of the backed-up home (CERTKIT_KEY_PASSPHRASE, "
            f"or its {SECRET_FILE}). Nothing was changed."
        )
        meta = _meta(backup.tables)
        for name, content in backup.key_files.items():
            try:
                _, cert, _ = pki.load_pkcs12_with_key(content, passphrase=passphrase, source=name)
            except InvalidInput:
                raise InvalidInput(
                    f"This home's key passphrase does not open {name} in the backup: {hint}"
                ) from None
            if name == CA_FILE and pki.thumbprint(cert) != meta.get("ca_thumbprint"):
                raise _damaged("ca.pfx is not the CA that the registry names")
        secrets = _first_totp_secret(backup.tables)
        if secrets is None:
            return
        salt = meta.get("secret_salt")
        try:
            box = SecretBox.from_passphrase(passphrase, salt=bytes.fromhex(salt or ""))
        except ValueError:
            raise _damaged("the registry's secret salt is missing or malformed") from None
        token, thumbprint = secrets
        try:
            box.decrypt(token, context=f"totp:{thumbprint}")
        except InvalidInput:
            raise InvalidInput(
                f"This home's key passphrase does not open the backup's two-factor secrets: {hint}"
            ) from None


# ------------------------------------------------------------------ reading
def _meta(tables: list[TableRows]) -> dict[str, str]:
    for table in tables:
        if table.name == "meta":
            names = [c.name for c in table.columns]
            key, value = names.index("key"), names.index("value")
            return {str(r[key]): str(r[value]) for r in table.rows}
    return {}


def _first_totp_secret(tables: list[TableRows]) -> tuple[str, str] | None:
    for table in tables:
        if table.name == "entries":
            names = [c.name for c in table.columns]
            secret, primary = names.index("totp_secret"), names.index("primary_thumbprint")
            for row in table.rows:
                if row[secret] is not None:
                    return str(row[secret]), str(row[primary])
    return None


def _read_backup(data: bytes) -> _Backup:
    """Read and check a whole backup file (nothing is changed here)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError):
        raise _damaged("it is not a zip file, or it is truncated") from None
    with archive:
        infos = archive.infolist()
        names = [i.filename for i in infos]
        if len(set(names)) != len(names):
            raise _damaged("a member appears twice")
        sizes = {i.filename: i.file_size for i in infos}

        def read(name: str) -> bytes:
            if name not in sizes:
                raise _damaged(f"{name} is missing")
            if sizes[name] > MAX_MEMBER_BYTES:
                raise _damaged(f"{name} is implausibly large")
            try:
                return archive.read(name)
            except (
                zipfile.BadZipFile,
                zlib.error,
                EOFError,
                OSError,
                ValueError,
                RuntimeError,
            ) as error:
                raise _damaged(f"{name} cannot be read ({error})") from None

        manifest = _manifest(read(MANIFEST))
        members: Mapping[str, Any] = manifest["members"]
        extra = sorted(set(names) - set(members) - {MANIFEST})
        if extra:
            raise _damaged(f"unexpected member {extra[0]}")
        contents: dict[str, bytes] = {}
        for name, info in members.items():
            if not isinstance(info, dict) or not isinstance(info.get("sha256"), str):
                raise _damaged(f"the manifest's entry for {name} is malformed")
            if sizes.get(name) is not None and sizes[name] != info.get("size"):
                raise _damaged(f"{name} has the wrong size")
            content = read(name)
            if hashlib.sha256(content).hexdigest() != info["sha256"].lower():
                raise _damaged(f"{name} does not match its checksum")
            contents[name] = content

    version = manifest["schema_version"]
    tables = [_table(name, spec, contents) for name, spec in manifest["tables"].items()]
    key_files: dict[str, bytes] = {}
    for name in manifest["key_files"]:
        if not isinstance(name, str) or not _KEY_FILE.match(name):
            raise _damaged(f"unexpected key file name {name!r}")
        if KEYS_DIR + name not in contents:
            raise _damaged(f"{KEYS_DIR}{name} is missing")
        key_files[name] = contents[KEYS_DIR + name]
    if CA_FILE not in key_files:
        raise _damaged(f"{KEYS_DIR}{CA_FILE} is missing")
    tables = upgrade_tables(tables, version)
    for table in tables:  # every active server certificate needs its key file
        if table.name == "server_certificates":
            cols = [c.name for c in table.columns]
            key, retired = cols.index("key_file"), cols.index("retired_at")
            for row in table.rows:
                if row[retired] is None and row[key] not in key_files:
                    raise _damaged(f"the key file {row[key]} of a server certificate is missing")
    created = datetime.fromisoformat(str(manifest["created_at"]).removesuffix("Z"))
    return _Backup(
        manifest=manifest,
        schema_version=version,
        created_at=created.replace(tzinfo=UTC),
        cluster_name=str(manifest.get("cluster_name") or ""),
        tables=tables,
        key_files=key_files,
    )


def _manifest(raw: bytes) -> dict[str, Any]:
    try:
        manifest = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _damaged("manifest.json is not valid JSON") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_NAME:
        raise InvalidInput(
            f"This is not a certkit backup (manifest.json does not say format {FORMAT_NAME!r}). "
            "Nothing was changed."
        )
    fmt, schema = manifest.get("format_version"), manifest.get("schema_version")
    if not isinstance(fmt, int) or isinstance(fmt, bool) or fmt < 1:
        raise _damaged("the format version is malformed")
    if fmt > FORMAT_VERSION:
        raise InvalidInput(
            f"The backup has format version {fmt}, newer than this certkit reads "
            f"({FORMAT_VERSION}); upgrade certkit to restore it. Nothing was changed."
        )
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise _damaged("the schema version is malformed")
    if schema > SCHEMA_VERSION:
        raise InvalidInput(
            f"The backup has registry schema version {schema}, newer than this certkit "
            f"({SCHEMA_VERSION}); upgrade certkit to restore it. Nothing was changed."
        )
    for key, kind in (("members", dict), ("tables", dict), ("key_files", list)):
        if not isinstance(manifest.get(key), kind):
            raise _damaged(f"the manifest has no valid {key!r}")
    try:
        datetime.fromisoformat(str(manifest.get("created_at")).removesuffix("Z"))
    except ValueError:
        raise _damaged("the manifest's created_at is malformed") from None
    return manifest


def _table(name: str, spec: Any, contents: Mapping[str, bytes]) -> TableRows:
    if not _TABLE_NAME.match(name) or not isinstance(spec, dict):
        raise _damaged(f"the manifest's table {name!r} is malformed")
    member, count, columns_spec = spec.get("file"), spec.get("rows"), spec.get("columns")
    if not isinstance(member, str) or member not in contents:
        raise _damaged(f"the rows of table {name} are missing")
    if not isinstance(columns_spec, list) or not all(
        isinstance(c, list) and len(c) == 2 and all(isinstance(p, str) for p in c)
        for c in columns_spec
    ):
        raise _damaged(f"the columns of table {name} are malformed")
    columns = tuple(Column(c[0], c[1].upper()) for c in columns_spec)
    names = {c.name for c in columns}
    rows: list[tuple[Any, ...]] = []
    try:
        text = contents[member].decode()
    except UnicodeDecodeError:
        raise _damaged(f"{member} is not UTF-8 text") from None
    for number, line in enumerate(text.splitlines(), start=1):
        where = f"{member} line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            raise _damaged(f"{where} is not valid JSON") from None
        if not isinstance(record, dict) or set(record) != names:
            raise _damaged(f"{where} does not have the columns of table {name}")
        try:
            rows.append(tuple(decode_value(record[c.name], c) for c in columns))
        except ValueError as error:
            raise _damaged(f"{where}: {error}") from None
    if count != len(rows):
        raise _damaged(f"table {name} has {len(rows)} rows, the manifest says {count}")
    return TableRows(name, columns, rows)
