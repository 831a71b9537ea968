"""The command line contract of DESIGN.md section 4: commands, exit codes and ``--json`` keys."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from certkit import pki, totp
from certkit.model import Secret
from certkit.ops import Certkit
from tests.conftest import (
    START,
    CertFactory,
    Cli,
    FakeClock,
    Result,
    on_both_backends,
    registry_digest,
)

backend = on_both_backends()  # every test here runs on DuckDB and on PostgreSQL

HOSTNAMES = ["localhost", "127.0.0.1"]
PASSPHRASE = "cli-Passphrase-99"
RECORD_KEYS = {
    "name",
    "thumbprint",
    "sha256",
    "kind",
    "clearance",
    "permissions",
    "not_before",
    "not_after",
    "state",
    "last_used",
    "two_factor",
    "collection",
    "subject",
    "issuer",
    "serial",
}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _ok(result: Result) -> Result:
    assert result.code == 0, result
    assert "Traceback" not in result.err
    return result


def _json(result: Result) -> Any:
    return json.loads(_ok(result).out)


def _secret_from(uri: str) -> Secret:
    return Secret(parse_qs(urlparse(uri).query)["secret"][0])


@pytest.fixture
def ready(cli: Cli) -> Cli:
    _ok(cli("init", "--cluster-name", "Blue", "--hostname", "localhost", "--hostname", "127.0.0.1"))
    return cli


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out"


def _generate(cli: Cli, out: Path, name: str, *extra: str) -> dict[str, Any]:
    record = _json(cli("generate", name, "--out", str(out), "--json", *extra))
    assert isinstance(record, dict)
    return record


# ------------------------------------------------------------------------------- init


def test_init_with_options(cli: Cli, home: Path) -> None:
    result = _ok(
        cli(
            "init",
            "--cluster-name",
            "Green Cluster",
            "--node",
            "b",
            "--hostname",
            "green.test",
            "--hostname",
            "10.0.0.7",
        )
    )
    assert "Initialised" in result.out and "node B" in result.out
    (server,) = _json(cli("server", "show", "--json"))
    assert server["node"] == "B"
    assert server["hostnames"] == ["green.test", "10.0.0.7"]
    assert server["subject"] == "CN=green.test"
    assert RECORD_KEYS <= set(server)
    assert (home / "secret.key").stat().st_mode & 0o777 == 0o600
    again = _ok(cli("init"))
    assert "Already initialised" in again.out
    refused = cli("init", "--cluster-name", "Other")
    assert refused.code == 2
    assert refused.err.startswith("error: ") and "already initialised" in refused.err
    assert len(refused.err.splitlines()) == 1


def test_first_command_initialises_the_home(cli: Cli, home: Path, backend: str) -> None:
    assert _json(cli("list", "--json")) == []
    assert (home / "ca.pfx").exists()  # key files live in the home on either backend
    assert (home / "registry.duckdb").exists() == (backend == "duckdb")
    assert len(_json(cli("server", "show", "--json"))) == 1


# --------------------------------------------------------------------------- generate


def test_generate_json(ready: Cli, out: Path, clock: FakeClock) -> None:
    record = _generate(ready, out, "alice", "--clearance", "Operator", "--db", "HR=ReadWrite")
    assert set(record) == RECORD_KEYS | {"zip"}
    assert record["name"] == "alice"
    assert record["kind"] == "client"
    assert record["clearance"] == "Operator"
    assert record["permissions"] == {"HR": "ReadWrite"}
    assert record["state"] == "valid"
    assert record["last_used"] is None
    assert record["two_factor"] is False
    assert record["collection"] == []
    assert record["subject"] == "CN=alice"
    assert re.fullmatch(r"[0-9A-F]{40}", record["thumbprint"])
    assert re.fullmatch(r"[0-9A-F]{64}", record["sha256"])
    assert ISO_Z.match(record["not_before"]) and ISO_Z.match(record["not_after"])
    assert record["not_after"] == "2031-11-28T12:00:00Z"  # the default: 5 years
    zip_path = Path(record["zip"])
    assert zip_path == out / "alice.zip"
    assert zip_path.stat().st_mode & 0o777 == 0o600
    with zipfile.ZipFile(zip_path) as archive:
        assert sorted(archive.namelist()) == ["alice.crt", "alice.key", "alice.pfx"]
        _, cert, _ = pkcs12.load_key_and_certificates(archive.read("alice.pfx"), None)
    assert cert is not None and pki.thumbprint(cert) == record["thumbprint"]


@pytest.mark.parametrize("source", ["env", "file"])
def test_generate_with_passphrase_options_and_two_factor(
    ready: Cli,
    out: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clock: FakeClock,
    source: str,
) -> None:
    if source == "env":
        monkeypatch.setenv("ALICE_PASS", PASSPHRASE)
        options = ["--passphrase-env", "ALICE_PASS"]
    else:
        secret_file = tmp_path / "pass.txt"
        secret_file.write_text(PASSPHRASE + "\n")
        options = ["--passphrase-file", str(secret_file)]
    record = _generate(
        ready,
        out,
        "alice",
        "--clearance",
        "ClusterAdmin",
        "--two-factor",
        "--expires",
        "18m",
        "--key",
        "rsa-2048",
        "--pkcs12",
        "legacy",
        *options,
    )
    assert set(record) == RECORD_KEYS | {"zip", "totp_uri"}
    assert record["two_factor"] is True
    assert record["not_after"] == "2028-05-28T12:00:00Z"
    assert record["totp_uri"].startswith("otpauth://totp/Blue:alice?")
    with zipfile.ZipFile(record["zip"]) as archive:
        key, cert, _ = pkcs12.load_key_and_certificates(
            archive.read("alice.pfx"), PASSPHRASE.encode()
        )
    assert key is not None and cert is not None
    assert pki.describe(cert).key_description == "RSA 2048"
    secret = _secret_from(record["totp_uri"])
    _ok(ready("2fa", "check", record["thumbprint"], totp.code_at(secret, clock())))
    # the URI was shown once: show and list never repeat it
    for command in (("show", record["thumbprint"], "--json"), ("list", "--json")):
        assert secret.reveal_text() not in _ok(ready(*command)).out


def test_generate_text_output_shows_the_secret_once(ready: Cli, out: Path) -> None:
    result = _ok(ready("generate", "bob", "--clearance", "User", "--out", str(out), "--two-factor"))
    assert "Generated 'bob'" in result.out
    assert f"Wrote {out / 'bob.zip'}" in result.out
    match = re.search(r"key: ([A-Z2-7]{32})", result.out)
    assert match is not None
    assert "otpauth://totp/" in result.out
    assert "not be shown again" in result.err


def test_generate_refuses_to_overwrite_a_zip(ready: Cli, out: Path, kit: Certkit) -> None:
    _generate(ready, out, "carol", "--clearance", "User")
    (out / "carol.zip").rename(out / "kept.zip")
    (out / "dave.zip").write_bytes(b"precious")
    before = registry_digest(kit)
    result = ready("generate", "dave", "--clearance", "User", "--out", str(out))
    assert result.code == 2 and "already exists" in result.err
    assert (out / "dave.zip").read_bytes() == b"precious"
    assert registry_digest(kit) == before


# ----------------------------------------------------------------------------- upload


def test_upload_one_file_as_a_collection(
    ready: Cli, certs: CertFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, first = certs.client("first")
    _, second = certs.client("second")
    path = tmp_path / "bundle.p12"
    path.write_bytes(certs.pfx(key, first, second, certs.ca, passphrase=PASSPHRASE))
    monkeypatch.setenv("BUNDLE_PASS", PASSPHRASE)
    records = _json(
        ready(
            "upload",
            str(path),
            "--passphrase-env",
            "BUNDLE_PASS",
            "--name",
            "the pair",
            "--clearance",
            "Operator",
            "--db",
            "Sales=Read",
            "--json",
        )
    )
    assert isinstance(records, list) and len(records) == 1
    (record,) = records
    assert set(record) == RECORD_KEYS
    assert record["name"] == "the pair"
    assert record["thumbprint"] == pki.thumbprint(first)
    assert record["collection"] == [pki.thumbprint(second)]
    assert record["permissions"] == {"Sales": "Read"}
    shown = _json(ready("show", pki.thumbprint(second), "--json"))
    assert shown == record


def test_upload_each_and_text_output(ready: Cli, certs: CertFactory, tmp_path: Path) -> None:
    path = tmp_path / "many.pem"
    members = [certs.client(name)[1] for name in ("ann", "ben")]
    path.write_bytes(certs.pem(*members, certs.ca))
    records = _json(
        ready("upload", str(path), "--each", "--clearance", "User", "--two-factor", "--json")
    )
    assert [r["name"] for r in records] == ["ann", "ben"]
    assert all(set(r) == RECORD_KEYS | {"totp_uri"} for r in records)
    path.write_bytes(certs.pem(certs.client("cat")[1], certs.ca))
    result = _ok(ready("upload", str(path), "--clearance", "User"))
    assert "Registered 'cat'" in result.out
    assert "Skipped" in result.out and "chain material" in result.out


# ------------------------------------------------------------------------------- list


@pytest.fixture
def listing(ready: Cli, out: Path, certs: CertFactory, tmp_path: Path, clock: FakeClock) -> Cli:
    """charlie (User, Sales), alpha (ClusterAdmin, HR), bravo (Operator, 20 days), delta (User,
    10 days), made an hour apart; echo registered, valid from in 30 days; then 11 days pass."""
    for name, *options in (
        ("charlie", "--clearance", "User", "--db", "Sales=Read"),
        ("alpha", "--clearance", "ClusterAdmin", "--db", "HR=Admin"),
        ("bravo", "--clearance", "Operator", "--expires", "20d"),
        ("delta", "--clearance", "User", "--expires", "10d", "--db", "hr=Read"),
    ):
        _generate(ready, out, name, *options)
        clock.advance(timedelta(hours=1))
    path = tmp_path / "echo.pem"
    path.write_bytes(certs.pem(certs.client("echo", valid_from=START + timedelta(days=30))[1]))
    _ok(ready("upload", str(path), "--clearance", "User"))
    clock.advance(timedelta(days=11))
    return ready


def _listed(cli: Cli, *options: str) -> list[str]:
    records = _json(cli("list", "--json", *options))
    assert all(set(r) == RECORD_KEYS for r in records)
    return [r["name"] for r in records]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        pytest.param((), ["alpha", "bravo", "charlie", "delta", "echo"], id="all-by-name"),
        pytest.param(("--search", "ALP"), ["alpha"], id="search"),
        pytest.param(("--clearance", "Admin"), ["alpha"], id="clearance-admin"),
        pytest.param(("--clearance", "Operator"), ["bravo"], id="clearance-operator"),
        pytest.param(("--clearance", "User"), ["charlie", "delta", "echo"], id="clearance-user"),
        pytest.param(("--state", "valid"), ["alpha", "charlie"], id="state-valid"),
        pytest.param(("--state", "expiring"), ["bravo"], id="state-expiring"),
        pytest.param(("--state", "expired"), ["delta"], id="state-expired"),
        pytest.param(("--state", "not-yet-valid"), ["echo"], id="state-not-yet-valid"),
        pytest.param(("--database", "HR"), ["alpha", "delta"], id="database-any-case"),
        pytest.param(("--database", "sales"), ["charlie"], id="database-sales"),
        pytest.param(
            ("--sort", "expiration"),
            ["delta", "bravo", "echo", "charlie", "alpha"],
            id="sort-expiration",
        ),
        pytest.param(
            ("--sort", "valid-from"),
            ["charlie", "alpha", "bravo", "delta", "echo"],
            id="sort-valid-from",
        ),
        pytest.param(
            ("--sort", "expiration", "--descending"),
            ["alpha", "charlie", "echo", "bravo", "delta"],
            id="sort-expiration-descending",
        ),
        pytest.param(
            ("--sort", "name", "--limit", "2", "--offset", "1"), ["bravo", "charlie"], id="paging"
        ),
        pytest.param(
            ("--clearance", "User", "--state", "valid", "--database", "SALES"),
            ["charlie"],
            id="combined",
        ),
    ],
)
def test_list_filters_and_sorts(
    listing: Cli, options: tuple[str, ...], expected: list[str]
) -> None:
    assert _listed(listing, *options) == expected


def test_list_sort_by_last_used(listing: Cli, kit: Certkit, clock: FakeClock) -> None:
    records = {r["name"]: r for r in _json(listing("list", "--json"))}
    with kit.registry.transaction() as tx:
        tx.touch_last_used(records["delta"]["thumbprint"], clock() - timedelta(days=1))
        tx.touch_last_used(records["bravo"]["thumbprint"], clock())
    assert _listed(listing, "--sort", "last-used") == ["delta", "bravo", "alpha", "charlie", "echo"]
    bravo = _json(listing("show", records["bravo"]["thumbprint"], "--json"))
    assert bravo["last_used"] == "2026-12-09T16:00:00Z"


def test_list_text_output(listing: Cli) -> None:
    result = _ok(listing("list"))
    lines = result.out.splitlines()
    assert lines[0].split()[:3] == ["NAME", "THUMBPRINT", "CLEARANCE"]
    assert [line.split()[0] for line in lines[1:]] == ["alpha", "bravo", "charlie", "delta", "echo"]
    assert "Cluster Admin" in lines[1] and "HR:Admin" in lines[1]
    assert "Expired" in lines[4] and "About to expire" in lines[2]
    paged = _ok(listing("list", "--limit", "2"))
    assert "(2 of 5 shown)" in paged.out
    assert "No client certificates match." in _ok(listing("list", "--search", "zzz")).out


# --------------------------------------------------------------------------- show/edit


def test_show_client_server_and_well_known(ready: Cli, out: Path, certs: CertFactory) -> None:
    record = _generate(ready, out, "alice", "--clearance", "User")
    shown = _json(ready("show", record["thumbprint"].lower(), "--json"))
    assert shown == {k: v for k, v in record.items() if k != "zip"}
    (server,) = _json(ready("server", "show", "--json"))
    shown_server = _json(ready("show", server["thumbprint"], "--json"))
    assert shown_server["kind"] == "server" and shown_server["clearance"] == "ClusterNode"
    assert RECORD_KEYS <= set(shown_server)
    thumbprint = pki.thumbprint(certs.client("outsider")[1])
    _ok(ready("well-known", "add-admin", thumbprint))
    known = _json(ready("show", thumbprint, "--json"))
    assert known["kind"] == "well-known-admin" and known["clearance"] == "ClusterAdmin"
    assert RECORD_KEYS <= set(known)
    text = _ok(ready("show", record["thumbprint"])).out
    assert re.search(r"^name\s+alice$", text, re.M)
    assert re.search(r"^last_used\s+-$", text, re.M)


def test_edit(ready: Cli, out: Path, clock: FakeClock) -> None:
    record = _generate(ready, out, "alice", "--clearance", "User", "--db", "HR=Read")
    tp = record["thumbprint"]
    edited = _json(
        ready(
            "edit",
            tp,
            "--name",
            "Alice A",
            "--clearance",
            "Operator",
            "--db",
            "hr=Admin",
            "--db",
            "Ops=ReadWrite",
            "--json",
        )
    )
    assert (edited["name"], edited["clearance"]) == ("Alice A", "Operator")
    assert edited["permissions"] == {"hr": "Admin", "Ops": "ReadWrite"}
    edited = _json(ready("edit", tp, "--remove-db", "HR", "--json"))
    assert edited["permissions"] == {"Ops": "ReadWrite"}
    on = _json(ready("edit", tp, "--two-factor", "--json"))
    assert on["two_factor"] is True and on["totp_uri"].startswith("otpauth://totp/")
    _ok(ready("2fa", "check", tp, totp.code_at(_secret_from(on["totp_uri"]), clock())))
    off = _json(ready("edit", tp, "--no-two-factor", "--json"))
    assert off["two_factor"] is False and "totp_uri" not in off
    text = _ok(ready("edit", tp, "--name", "Alice B"))
    assert "Updated 'Alice B'" in text.out
    both = ready("edit", tp, "--two-factor", "--no-two-factor")
    assert both.code == 2 and both.err.startswith("error: ")


def test_clone(ready: Cli, out: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = _generate(ready, out, "alice", "--clearance", "Operator", "--db", "HR=Admin")
    monkeypatch.setenv("CLONE_PASS", PASSPHRASE)
    clone = _json(
        ready(
            "clone",
            source["thumbprint"],
            "alice 2",
            "--out",
            str(tmp_path / "clones"),
            "--passphrase-env",
            "CLONE_PASS",
            "--json",
        )
    )
    assert set(clone) == RECORD_KEYS | {"zip"}
    assert clone["name"] == "alice 2" and clone["thumbprint"] != source["thumbprint"]
    assert (clone["clearance"], clone["permissions"]) == ("Operator", {"HR": "Admin"})
    with zipfile.ZipFile(clone["zip"]) as archive:
        assert pkcs12.load_key_and_certificates(archive.read("alice 2.pfx"), PASSPHRASE.encode())[1]


# ----------------------------------------------------------------------------- delete


def test_delete(ready: Cli, out: Path, kit: Certkit, monkeypatch: pytest.MonkeyPatch) -> None:
    record = _generate(ready, out, "alice", "--clearance", "User")
    tp = record["thumbprint"]
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))  # not a terminal
    before = registry_digest(kit)
    refused = ready("delete", tp)
    assert refused.code == 2 and "add --yes" in refused.err
    assert len(refused.err.splitlines()) == 1
    assert registry_digest(kit) == before
    result = _ok(ready("delete", tp, "--yes"))
    assert f"Deleted 'alice' ({tp})" in result.out
    assert ready("show", tp).code == 2


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "code"), [("y\n", 0), ("n\n", 1), ("\n", 1)])
def test_delete_asks_on_a_terminal(
    ready: Cli, out: Path, monkeypatch: pytest.MonkeyPatch, answer: str, code: int
) -> None:
    tp = _generate(ready, out, "alice", "--clearance", "User")["thumbprint"]
    monkeypatch.setattr(sys, "stdin", _Terminal(answer))
    result = ready("delete", tp)
    assert result.code == code
    assert (ready("show", tp).code == 0) is (code == 1)


def test_delete_refuses_the_server_certificate(ready: Cli, kit: Certkit) -> None:
    (server,) = _json(ready("server", "show", "--json"))
    before = registry_digest(kit)
    result = ready("delete", server["thumbprint"], "--yes")
    assert result.code == 2 and "server certificate" in result.err
    assert registry_digest(kit) == before


# ----------------------------------------------------------------------------- server


def test_server_show_export_replace(
    ready: Cli,
    certs: CertFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clock: FakeClock,
) -> None:
    (old,) = _json(ready("server", "show", "--json"))
    assert old["hostnames"] == HOSTNAMES and old["retired_at"] is None
    assert ISO_Z.match(old["installed_at"])
    text = _ok(ready("server", "show")).out
    assert f"node A  {old['thumbprint']}" in text and "active" in text
    exported = tmp_path / "server.p12"
    assert f"Wrote {exported}" in _ok(ready("server", "export", "--out", str(exported))).out
    loaded = pkcs12.load_pkcs12(exported.read_bytes(), None)
    assert [pki.thumbprint(c.certificate) for c in loaded.additional_certs] == [old["thumbprint"]]
    info = subprocess.run(
        ["openssl", "pkcs12", "-in", str(exported), "-passin", "pass:", "-nokeys"],
        capture_output=True,
        timeout=60,
    )
    assert info.returncode == 0 and b"BEGIN CERTIFICATE" in info.stdout
    key, cert = certs.server(HOSTNAMES)
    replacement = tmp_path / "new.pfx"
    replacement.write_bytes(certs.pfx(key, cert, certs.ca, passphrase=PASSPHRASE))
    pass_file = tmp_path / "pass"
    pass_file.write_text(PASSPHRASE)
    wrong = ready("server", "replace", str(replacement))
    assert wrong.code == 2 and "protected by a passphrase" in wrong.err
    clock.advance(timedelta(minutes=1))
    result = _ok(ready("server", "replace", str(replacement), "--passphrase-file", str(pass_file)))
    assert pki.thumbprint(cert) in result.out and "kept in history" in result.out
    history = _json(ready("server", "show", "--json", "--history"))
    assert [s["thumbprint"] for s in history] == [pki.thumbprint(cert), old["thumbprint"]]
    assert history[1]["retired_at"] == "2026-11-28T12:01:00Z"
    # another node's certificate
    key_b, cert_b = certs.server(["node-b.test"])
    replacement.write_bytes(certs.pfx(key_b, cert_b, passphrase=PASSPHRASE))
    monkeypatch.setenv("NODE_PASS", PASSPHRASE)
    _ok(
        ready("server", "replace", str(replacement), "--passphrase-env", "NODE_PASS", "--node", "B")
    )
    assert [s["node"] for s in _json(ready("server", "show", "--json"))] == ["A", "B"]


# ------------------------------------------------------------------------- well-known


def test_well_known(ready: Cli, certs: CertFactory, tmp_path: Path) -> None:
    thumbprint = pki.thumbprint(certs.client("outside admin")[1])
    added = _ok(ready("well-known", "add-admin", thumbprint.lower()))
    assert thumbprint in added.out
    duplicate = ready("well-known", "add-admin", thumbprint)
    assert duplicate.code == 2 and "already" in duplicate.err
    ca_file = tmp_path / "issuer.pem"
    ca_file.write_bytes(certs.pem(certs.ca))
    assert "Added well-known issuer" in _ok(ready("well-known", "add-issuer", str(ca_file))).out
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(certs.pem(certs.client("leaf")[1]))
    refused = ready("well-known", "add-issuer", str(leaf))
    assert refused.code == 2 and "not a CA certificate" in refused.err
    entries = _json(ready("well-known", "list", "--json"))
    assert [e["kind"] for e in entries] == ["well-known-admin", "well-known-issuer"]
    assert all(RECORD_KEYS <= set(e) for e in entries)
    assert entries[1]["thumbprint"] == pki.thumbprint(certs.ca)
    text = _ok(ready("well-known", "list")).out
    assert thumbprint in text and "well-known-issuer" in text
    _ok(ready("well-known", "remove", str(entries[0]["id"])))
    _ok(ready("well-known", "remove", entries[1]["thumbprint"]))
    assert _json(ready("well-known", "list", "--json")) == []


# -------------------------------------------------------------------------------- 2FA


def test_two_factor_check_exit_codes(ready: Cli, out: Path, clock: FakeClock) -> None:
    record = _generate(ready, out, "alice", "--clearance", "User", "--two-factor")
    secret = _secret_from(record["totp_uri"])
    tp = record["thumbprint"]
    code = totp.code_at(secret, clock())
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    refused = ready("2fa", "check", tp, wrong)
    assert refused.code == 1 and refused.err.startswith("error: ") and refused.out == ""
    accepted = _ok(ready("2fa", "check", tp, code))
    assert "Code accepted for 'alice'" in accepted.out
    reused = ready("2fa", "check", tp, code)
    assert reused.code == 1 and "already used" in reused.err
    for _ in range(4):
        assert ready("2fa", "check", tp, wrong).code == 1
    clock.advance(timedelta(seconds=30))
    locked = ready("2fa", "check", tp, totp.code_at(secret, clock()))
    assert locked.code == 1 and "Too many wrong codes" in locked.err
    no_2fa = _generate(ready, out, "bob", "--clearance", "User")
    plain = ready("2fa", "check", no_2fa["thumbprint"], "123456")
    assert plain.code == 2 and "does not use two-factor" in plain.err


# ------------------------------------------------------------------------ processes

_HEAVY = ("pandas", "ipywidgets", "matplotlib")
_PROBE = textwrap.dedent(
    """
    import json, runpy, sys
    argv, report = sys.argv[1:-1], sys.argv[-1]
    sys.argv = ["certkit", *argv]
    try:
        runpy.run_module("certkit", run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        code = exit_.code
    else:
        code = 0
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
    with open(report, "w") as handle:
        json.dump({{"code": code, "heavy": heavy}}, handle)
    """
)


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(["show", "{thumbprint}"], id="show"),
        pytest.param(["show", "{thumbprint}", "--json"], id="show-json"),
        pytest.param(["list"], id="list"),
        pytest.param(["list", "--json"], id="list-json"),
        pytest.param(["--help"], id="help"),
    ],
)
def test_reading_commands_import_no_heavy_modules(
    ready: Cli, out: Path, home: Path, tmp_path: Path, command: list[str]
) -> None:
    thumbprint = _generate(ready, out, "alice", "--clearance", "User")["thumbprint"]
    report = tmp_path / "report.json"
    argv = [a.replace("{thumbprint}", thumbprint) for a in command]
    args = ["--home", str(home), *argv] if argv != ["--help"] else argv
    done = subprocess.run(
        [sys.executable, "-c", _PROBE.format(heavy=set(_HEAVY)), *args, str(report)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(report.read_text())
    assert result["code"] in (0, None), done.stderr
    assert result["heavy"] == []
    if argv == ["--help"]:
        assert "usage: certkit" in done.stdout


def test_the_real_entry_points(ready: Cli, out: Path, home: Path) -> None:
    thumbprint = _generate(ready, out, "alice", "--clearance", "User")["thumbprint"]
    script = Path(sys.executable).with_name("certkit")
    commands = [[sys.executable, "-m", "certkit"]]
    if script.exists():
        commands.append([str(script)])
    env = {**os.environ, "CERTKIT_HOME": str(home)}
    for command in commands:
        shown = subprocess.run(
            [*command, "show", thumbprint, "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
        )
        assert shown.returncode == 0, shown.stderr
        assert json.loads(shown.stdout)["name"] == "alice"
        missing = subprocess.run(
            [*command, "show", "AB" * 20], capture_output=True, text=True, timeout=120, env=env
        )
        assert missing.returncode == 2
        assert missing.stderr.startswith("error: ") and len(missing.stderr.splitlines()) == 1
        assert "Traceback" not in missing.stderr
        refused = subprocess.run(
            [*command, "delete", thumbprint],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            stdin=subprocess.DEVNULL,
        )
        assert refused.returncode == 2 and "--yes" in refused.stderr


def test_a_bug_is_one_error_line_not_a_traceback(
    ready: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    from certkit.ops import Certkit as Kit

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(Kit, "list_certificates", broken)
    result = ready("list")
    assert result.code == 3
    assert result.err.strip().splitlines() == [
        "error: internal error (RuntimeError: boom); run again with CERTKIT_DEBUG=1 for the details"
    ]


def test_list_refuses_a_bad_database_filter(ready: Cli) -> None:
    result = ready("list", "--database", "a|b")
    assert result.code == 2
    assert result.err.startswith("error: Invalid database name 'a|b'")
