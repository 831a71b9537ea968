"""Backup and restore (issue 6): a round trip into a new home, refusals that change nothing,
damaged files, and the command line handlers."""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from certkit import totp
from certkit.cli_backup import add_parsers, backup_command, restore_command
from certkit.errors import CertkitError, Conflict, InvalidInput, PermissionDenied
from certkit.model import Actor, CertificateRecord, Clearance, ListQuery, Secret
from certkit.ops import Certkit, open_certkit
from certkit.registry.postgres import PostgresRegistry
from certkit.registry.schema import SCHEMA_VERSION
from tests.conftest import CertFactory, FakeClock, on_both_backends, registry_digest
from tests.postgres import PostgresServer

backend = on_both_backends()  # every test here runs on DuckDB and on PostgreSQL

PASSPHRASE = "backup-test-passphrase-1"
HOSTNAMES = ["localhost", "127.0.0.1", "certkit.test"]


@pytest.fixture
def new_registry(backend: str, request: pytest.FixtureRequest) -> Callable[[], str | None]:
    """A new, empty registry of the backend under test, for one more home: None gives the
    home's own DuckDB file, on PostgreSQL a new schema's URL."""

    def make() -> str | None:
        if backend == "duckdb":
            return None
        server: PostgresServer = request.getfixturevalue("postgres_server")
        return server.new_schema_url()

    return make


@pytest.fixture
def open_home(
    clock: FakeClock, new_registry: Callable[[], str | None]
) -> Callable[[Path], Certkit]:
    """Open a certkit home with a registry of its own on the backend under test."""

    def open_(path: Path) -> Certkit:
        return open_certkit(path, clock=clock, database_url=new_registry())

    return open_


@pytest.fixture(autouse=True)
def _passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTKIT_KEY_PASSPHRASE", PASSPHRASE)


@pytest.fixture
def source(tmp_path: Path, open_home: Callable[[Path], Certkit]) -> Certkit:
    return open_home(tmp_path / "source")


@pytest.fixture
def populated(source: Certkit, certs: CertFactory, clock: FakeClock) -> dict[str, Any]:
    """A registry with something in every table."""
    source.initialise(cluster_name="Blue Cluster", hostnames=HOSTNAMES)
    plain = source.generate_client_certificate(
        "alice", clearance="Operator", permissions={"HR": "ReadWrite", "Sales": "Read"}
    )
    with_2fa = source.generate_client_certificate(
        "bob", permissions={"HR": "Read"}, two_factor=True
    )
    assert with_2fa.totp is not None
    source.generate_client_certificate("carol", clearance="ClusterAdmin", expires="90d")
    members = [certs.client(f"node-{i}")[1] for i in range(3)]
    source.register(certs.pem(*members), clearance="User", name="trio")
    source.add_well_known_admin("AB" * 20)
    source.add_well_known_issuer(certs.pem(certs.ca))
    key, cert = certs.server(HOSTNAMES)
    clock.advance(timedelta(hours=1))
    source.replace_server_certificate(
        certs.pfx(key, cert, certs.ca, passphrase="pfx"), passphrase="pfx"
    )
    source.edit(plain.record.thumbprint, clearance="ValidUser")
    secret = with_2fa.totp.secret
    source.open_two_factor_session(
        with_2fa.record.thumbprint, totp.code_at(secret, clock()), browser_only=False
    )
    source.delete(source.generate_client_certificate("dave").record.thumbprint)
    return {"secret": secret, "bob": with_2fa.record.thumbprint}


def _listing(kit: Certkit) -> list[dict[str, Any]]:
    now = kit.now()
    page = kit.list_certificates(ListQuery(limit=1000))
    return [r.to_json(now) for r in page.records]


def _state(kit: Certkit) -> dict[str, Any]:
    now = kit.now()
    with kit.registry.read() as tx:
        audit = tx.audit_events(limit=10_000)
    return {
        "clients": _listing(kit),
        "shown": [kit.show(r["thumbprint"]).to_json(now) for r in _listing(kit)],
        "well_known": [w.to_json(now) for w in kit.well_known()],
        "servers": [s.to_json(now) for s in kit.server_certificates(history=True)],
        "audit": list(reversed(audit)),
        "cluster": kit.cluster_name(),
    }


def _home_files(path: Path) -> dict[str, bytes]:
    """Every file of a home but the registry (compared by registry_digest instead)."""
    return {
        p.name: p.read_bytes()
        for p in sorted(path.iterdir())
        if p.is_file() and not p.name.startswith("registry.duckdb")
    }


# --------------------------------------------------------------- round trip
def test_round_trip_into_a_new_home(
    open_home: Callable[[Path], Certkit],
    source: Certkit,
    populated: dict[str, Any],
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    before = _state(source)
    servers_before = [s.to_json(source.now()) for s in source.server_certificates(history=True)]
    assert len(servers_before) == 2
    data = source.backup()

    target = open_home(tmp_path / "target")
    summary = target.restore(data)
    assert summary.cluster_name == "Blue Cluster"
    assert summary.rows["entries"] == 4 and summary.rows["sessions"] == 1
    assert not summary.replaced
    assert set(summary.key_files) == {"ca.pfx"} | {
        s.key_file for s in source.server_certificates(history=True)
    }

    after = _state(target)
    restore_event = after["audit"].pop()
    assert restore_event.action == "restore" and restore_event.name == "Blue Cluster"
    assert json.loads(restore_event.details)["replaced"] is False
    assert after == before
    # key files: identical bytes, owner-only; the CA loads and signs again
    for name in summary.key_files:
        restored = target.home.key_file(name)
        assert restored.read_bytes() == source.home.key_file(name).read_bytes()
        assert restored.stat().st_mode & 0o777 == 0o600
    assert "secret.key" not in _home_files(target.home.path)
    assert target.authority().certificate == source.authority().certificate
    assert target.server_identity()[1] == source.server_identity()[1]

    # 2FA verification works with the restored (still encrypted) secret
    clock.advance(timedelta(minutes=5))
    checked = target.check_two_factor(populated["bob"], totp.code_at(populated["secret"], clock()))
    assert checked.name == "bob"

    # sequences advanced: new rows do not collide with restored ids
    made = target.generate_client_certificate("erin", two_factor=True)
    assert made.record.entry_id is not None
    assert made.record.entry_id > max(r.entry_id or 0 for r in _records(source))
    target.add_well_known_admin("CD" * 20)
    assert len(_listing(target)) == 5


def _records(kit: Certkit) -> list[CertificateRecord]:
    return list(kit.list_certificates(ListQuery(limit=1000)).records)


def test_restore_into_a_freshly_initialised_home_replaces_its_keys(
    open_home: Callable[[Path], Certkit],
    source: Certkit,
    populated: dict[str, Any],
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    target = open_home(tmp_path / "target")
    target.initialise(cluster_name="Other")
    (own,) = target.server_certificates()
    summary = target.restore(source.backup())
    assert summary.removed_key_files == (own.key_file,)
    assert not target.home.key_file(own.key_file).exists()
    assert target.cluster_name() == "Blue Cluster"
    assert target.ca_certificate_pem() == source.ca_certificate_pem()
    assert (target.home.path / "ca.crt").read_bytes() == source.ca_certificate_pem()


def test_backup_needs_a_cluster_admin(source: Certkit) -> None:
    with pytest.raises(PermissionDenied):
        source.backup(actor=Actor(Clearance.OPERATOR, name="olga"))
    with pytest.raises(PermissionDenied):
        source.restore(b"", actor=Actor(Clearance.OPERATOR, name="olga"))


# ----------------------------------------------------------------- refusals
def _unchanged(kit: Certkit) -> Callable[[], None]:
    digest, files = registry_digest(kit), _home_files(kit.home.path)

    def check() -> None:
        assert registry_digest(kit) == digest
        assert _home_files(kit.home.path) == files

    return check


def test_restore_into_a_non_empty_registry_needs_replace(
    open_home: Callable[[Path], Certkit],
    source: Certkit,
    populated: dict[str, Any],
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    data = source.backup()
    target = open_home(tmp_path / "target")
    target.generate_client_certificate("zed")
    check = _unchanged(target)
    with pytest.raises(Conflict, match=r"not empty .*1 client certificate entries.*--replace"):
        target.restore(data)
    check()
    summary = target.restore(data, replace=True)
    assert summary.replaced
    names = [r["name"] for r in _listing(target)]
    assert "zed" not in names and "alice" in names
    # the source can take its own backup back only with replace, too
    with pytest.raises(Conflict):
        source.restore(data)
    source.restore(data, replace=True)


def test_restore_with_another_passphrase_is_refused(
    open_home: Callable[[Path], Certkit],
    source: Certkit,
    populated: dict[str, Any],
    tmp_path: Path,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = source.backup()
    monkeypatch.setenv("CERTKIT_KEY_PASSPHRASE", "another passphrase")
    target = open_home(tmp_path / "target")
    target.initialise()
    check = _unchanged(target)
    with pytest.raises(InvalidInput, match=r"passphrase does not open ca\.pfx"):
        target.restore(data)
    check()


def test_restore_with_only_the_totp_key_wrong_is_refused(
    open_home: Callable[[Path], Certkit],
    source: Certkit,
    populated: dict[str, Any],
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    """The salt is part of the TOTP key: a backup whose salt was swapped opens no secret."""
    data = _rewrite(
        source.backup(),
        "tables/meta.jsonl",
        lambda text: _replace_salt(text),
    )
    target = open_home(tmp_path / "target")
    assert not _has_registry(target)
    with pytest.raises(InvalidInput, match="two-factor secrets"):
        target.restore(data)
    assert not _has_registry(target)  # refused before the registry was even created


def _has_registry(kit: Certkit) -> bool:
    """Whether the home's registry exists yet (without creating it, as opening it would)."""
    if not isinstance(kit.registry, PostgresRegistry):
        return kit.home.registry_path.exists()
    with psycopg.connect(kit.registry.url) as con:
        row = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchone()
    return bool(row and row[0])


def _replace_salt(text: str) -> str:
    rows = [json.loads(line) for line in text.splitlines()]
    for row in rows:
        if row["key"] == "secret_salt":
            row["value"] = "00" * 16
    return "".join(json.dumps(r) + "\n" for r in rows)


def test_restore_into_a_new_home_without_a_passphrase_is_refused(
    open_home: Callable[[Path], Certkit],
    source: Certkit,
    populated: dict[str, Any],
    tmp_path: Path,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = source.backup()
    monkeypatch.delenv("CERTKIT_KEY_PASSPHRASE")
    target = open_home(tmp_path / "target")
    with pytest.raises(InvalidInput, match="no key passphrase"):
        target.restore(data)
    assert _home_files(target.home.path) == {}


# ------------------------------------------------------------ damaged files
def _rewrite(
    data: bytes,
    member: str,
    change: Callable[[str], str] | None = None,
    *,
    manifest: Callable[[dict[str, Any]], None] | None = None,
    drop: str | None = None,
    add: tuple[str, bytes] | None = None,
    rehash: bool = True,
) -> bytes:
    """A copy of a backup with one member changed (and, with ``rehash``, valid checksums)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    meta = json.loads(members.pop("manifest.json"))
    if change is not None:
        members[member] = change(members[member].decode()).encode()
        if rehash:
            meta["members"][member] = {
                "size": len(members[member]),
                "sha256": hashlib.sha256(members[member]).hexdigest(),
            }
    if drop is not None:
        del members[drop]
    if add is not None:
        members[add[0]] = add[1]
    if manifest is not None:
        manifest(meta)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("manifest.json", json.dumps(meta))
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def _set(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(meta: dict[str, Any]) -> None:
        meta[key] = value

    return change


def _first_line_changed(text: str) -> str:
    lines = text.splitlines()
    row = json.loads(lines[0])
    row["name"] = row["name"] + "X"
    return "\n".join([json.dumps(row), *lines[1:]]) + "\n"


def _rows_of(text: str) -> str:
    rows = [json.loads(line) for line in text.splitlines()]
    return "".join(json.dumps(r) + "\n" for r in rows + rows[:1])


DAMAGES: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "not a zip": (lambda d: b"hello, not a zip", "not a zip file"),
    "empty": (lambda d: b"", "not a zip file"),
    "truncated": (lambda d: d[: len(d) // 2], "not a zip file|truncated|cannot be read"),
    "a flipped byte": (
        lambda d: d[:200] + bytes([d[200] ^ 0xFF]) + d[201:],
        "damaged",
    ),
    "foreign zip": (
        lambda d: _zip_of({"manifest.json": b'{"format": "something-else"}'}),
        "not a certkit backup",
    ),
    "no manifest": (lambda d: _zip_of({"tables/meta.jsonl": b""}), "manifest.json is missing"),
    "bad manifest JSON": (lambda d: _zip_of({"manifest.json": b"{"}), "not valid JSON"),
    "newer format": (
        lambda d: _rewrite(d, "", manifest=_set("format_version", 2)),
        "format version 2, newer",
    ),
    "newer schema": (
        lambda d: _rewrite(d, "", manifest=_set("schema_version", SCHEMA_VERSION + 1)),
        "schema version .* newer",
    ),
    "tampered rows": (
        lambda d: _rewrite(d, "tables/entries.jsonl", _first_line_changed, rehash=False),
        "does not match its checksum|wrong size",
    ),
    "missing member": (
        lambda d: _rewrite(d, "", drop="tables/audit_log.jsonl"),
        "tables/audit_log.jsonl is missing",
    ),
    "missing key file": (lambda d: _rewrite(d, "", drop="keys/ca.pfx"), "keys/ca.pfx is missing"),
    "unexpected member": (
        lambda d: _rewrite(d, "", add=("evil/../x", b"1")),
        "unexpected member",
    ),
    "bad JSON line": (
        lambda d: _rewrite(d, "tables/entries.jsonl", lambda t: t + "{not json\n"),
        "entries.jsonl line 5 is not valid JSON",
    ),
    "a row with a wrong type": (
        lambda d: _rewrite(
            d, "tables/entries.jsonl", lambda t: t.replace('"two_factor":true', '"two_factor":1')
        ),
        "two_factor: expected true or false",
    ),
    "row count off": (
        lambda d: _rewrite(d, "tables/audit_log.jsonl", lambda t: "".join(t.splitlines(True)[1:])),
        "audit_log has .* rows, the manifest says",
    ),
    "duplicate key": (
        lambda d: _rewrite(
            d,
            "tables/certificates.jsonl",
            _rows_of,
            manifest=lambda m: m["tables"]["certificates"].update(
                rows=m["tables"]["certificates"]["rows"] + 1
            ),
        ),
        "break the registry's rules",
    ),
}


LATE_DAMAGES = {"duplicate key"}


def _zip_of(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_a_damaged_backup_is_refused_and_changes_nothing(
    open_home: Callable[[Path], Certkit],
    damage: str,
    source: Certkit,
    populated: dict[str, Any],
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    make, message = DAMAGES[damage]
    data = make(source.backup())
    target = open_home(tmp_path / "target")
    target.initialise()
    target.generate_client_certificate("keep me")
    for replace in (False, True):
        check = _unchanged(target)
        if damage in LATE_DAMAGES and not replace:  # found only by the insert
            with pytest.raises(Conflict, match="not empty"):
                target.restore(data, replace=replace)
        else:
            with pytest.raises(InvalidInput, match=message):
                target.restore(data, replace=replace)
        check()
    assert [r["name"] for r in _listing(target)] == ["keep me"]


def test_an_older_schema_version_is_upgraded_on_restore(
    open_home: Callable[[Path], Certkit],
    source: Certkit,
    populated: dict[str, Any],
    tmp_path: Path,
    clock: FakeClock,
) -> None:
    """A backup of schema version 2 (no spki_sha256, no replaces) restores at version 3."""

    def drop(column: str) -> Callable[[str], str]:
        def change(text: str) -> str:
            rows = [json.loads(line) for line in text.splitlines()]
            return "".join(
                json.dumps({k: v for k, v in r.items() if k != column}) + "\n" for r in rows
            )

        return change

    def v2(meta: dict[str, Any]) -> None:
        meta["schema_version"] = 2
        for table, column in (("certificates", "spki_sha256"), ("entries", "replaces")):
            spec = meta["tables"][table]
            spec["columns"] = [c for c in spec["columns"] if c[0] != column]

    data = _rewrite(source.backup(), "tables/certificates.jsonl", drop("spki_sha256"))
    data = _rewrite(data, "tables/entries.jsonl", drop("replaces"), manifest=v2)
    target = open_home(tmp_path / "target")
    summary = target.restore(data)
    assert summary.schema_version == 2
    assert _listing(target) == _listing(source)
    with target.registry.read() as tx:
        assert tx.get_meta("schema_version") == str(SCHEMA_VERSION)


# --------------------------------------------------------------- command line
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="certkit")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    return parser


def _run(kit: Certkit, *argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The handler behind ``main``: exit code, stdout, stderr (one ``error:`` line)."""
    capsys.readouterr()
    args = _parser().parse_args(argv)
    handler = backup_command if args.command == "backup" else restore_command
    try:
        code = handler(kit, args)
    except CertkitError as error:
        print(f"error: {error.message}", file=sys.stderr)
        code = error.exit_code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_backup_and_restore(
    open_home: Callable[[Path], Certkit],
    source: Certkit,
    populated: dict[str, Any],
    tmp_path: Path,
    clock: FakeClock,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "registry.certkit-backup"
    code, stdout, _ = _run(source, "backup", "--out", str(out), capsys=capsys)
    assert code == 0 and "Backed up" in stdout
    assert out.stat().st_mode & 0o777 == 0o600
    first = out.read_bytes()

    code, _, err = _run(source, "backup", "--out", str(out), capsys=capsys)
    assert code == 2 and err.startswith("error: ") and "already exists" in err
    assert err.count("\n") == 1 and out.read_bytes() == first

    target = open_home(tmp_path / "target")
    code, stdout, _ = _run(target, "restore", str(out), capsys=capsys)
    assert code == 0 and "Restored cluster 'Blue Cluster'" in stdout
    assert _listing(target) == _listing(source)

    code, _, err = _run(target, "restore", str(out), capsys=capsys)
    assert code == 2 and "not empty" in err and err.count("\n") == 1

    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal: no prompt
    code, _, err = _run(target, "restore", str(out), "--replace", capsys=capsys)
    assert code == 2 and "add --yes" in err
    code, _, err = _run(target, "restore", str(out), "--replace", "--yes", capsys=capsys)
    assert code == 0, err

    bad = tmp_path / "bad.zip"
    bad.write_bytes(first[:100])
    check = _unchanged(target)
    code, _, err = _run(target, "restore", str(bad), "--replace", "--yes", capsys=capsys)
    assert code == 2 and err.startswith("error: The backup file is damaged")
    assert err.count("\n") == 1
    check()
    code, _, err = _run(target, "restore", str(tmp_path / "nope"), capsys=capsys)
    assert code == 2 and "Cannot read" in err


def test_cli_main_exit_codes(
    cli: Any, kit: Certkit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit.generate_client_certificate("alice")
    out = tmp_path / "b.zip"
    assert cli("backup", "--out", str(out)).code == 0
    refused = cli("restore", str(out))
    assert refused.code == 2 and refused.err.startswith("error: ") and "not empty" in refused.err
    assert cli("restore", str(out), "--replace", "--yes").code == 0
    out.write_bytes(b"junk")
    bad = cli("restore", str(out), "--replace", "--yes")
    assert bad.code == 2 and bad.err.count("\n") == 1 and "Traceback" not in bad.err
    assert Secret(PASSPHRASE)  # the autouse passphrase applies to the CLI too
