"""Every bad input of issue 2, through the Python API and the command line.

Each is refused with a CertkitError whose message says what was wrong; the command line exits
2 with one ``error:`` line and no traceback; and the registry stays byte-for-byte the same.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID

from certkit.errors import CertkitError, Conflict, InvalidInput, WrongPassphrase
from certkit.model import Secret
from certkit.ops import Certkit
from certkit.pki import MAX_UPLOAD_BYTES
from tests.conftest import CertFactory, Cli, on_both_backends, registry_digest

backend = on_both_backends()  # every test here runs on DuckDB and on PostgreSQL

PASS_VAR = "CERTKIT_BAD_INPUT_PASS"
PASSPHRASE = "upload-Passphrase-7"


@dataclass(frozen=True)
class Upload:
    """``certkit upload FILE`` / ``Certkit.register``."""

    data: bytes
    filename: str
    passphrase: str | None = None
    clearance: str = "User"
    name: str | None = None
    db: tuple[str, ...] = ()


@dataclass(frozen=True)
class Generate:
    """``certkit generate NAME`` / ``Certkit.generate_client_certificate``."""

    name: str = "new user"
    clearance: str = "User"
    db: tuple[str, ...] = ()


@dataclass(frozen=True)
class Case:
    action: Upload | Generate
    error: type[CertkitError]
    message: str  # a regular expression the message must match
    setup: Callable[[Certkit, CertFactory], None] = field(default=lambda kit, certs: None)


def _permissions(items: tuple[str, ...]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in items)


def _api(kit: Certkit, action: Upload | Generate) -> object:
    if isinstance(action, Upload):
        return kit.register(
            action.data,
            clearance=action.clearance,
            name=action.name,
            permissions=_permissions(action.db),
            passphrase=Secret(action.passphrase) if action.passphrase else None,
            source=action.filename,
        )
    return kit.generate_client_certificate(
        action.name, clearance=action.clearance, permissions=_permissions(action.db)
    )


def _argv(action: Upload | Generate, tmp_path: Path) -> list[str]:
    db = [arg for item in action.db for arg in ("--db", item)]
    if isinstance(action, Upload):
        path = tmp_path / "uploads" / action.filename
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(action.data)
        argv = ["upload", str(path), "--clearance", action.clearance, *db]
        if action.name is not None:
            argv += ["--name", action.name]
        if action.passphrase is not None:
            argv += ["--passphrase-env", PASS_VAR]
        return argv
    return [
        "generate",
        action.name,
        "--clearance",
        action.clearance,
        *db,
        "--out",
        str(tmp_path / "out"),
    ]


# ------------------------------------------------------------------- the bad inputs


def _csr(certs: CertFactory) -> bytes:
    key, _ = certs.client("csr")
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "please sign")]))
        .sign(key, hashes.SHA256())
    )
    return request.public_bytes(serialization.Encoding.PEM)


def _random_bytes() -> bytes:
    data = bytearray(random.Random(20261128).randbytes(4096))
    data[0] = 0x9C  # neither a DER SEQUENCE nor text
    return bytes(data)


def _register_first(data: bytes) -> Callable[[Certkit, CertFactory], None]:
    def setup(kit: Certkit, certs: CertFactory) -> None:
        kit.register(data, clearance="User")

    return setup


def _generate_alice(kit: Certkit, certs: CertFactory) -> None:
    kit.generate_client_certificate("alice")


def _cases(certs: CertFactory) -> dict[str, Case]:
    key, cert = certs.client("upload user")
    pem = certs.pem(cert)
    der = certs.der(cert)
    pfx = certs.pfx(key, cert, certs.ca, passphrase=PASSPHRASE)
    fresh_pem = certs.pem(certs.client("fresh user")[1])
    return {
        "empty-file": Case(Upload(b"", "empty.pem"), InvalidInput, r"empty\.pem is empty"),
        "random-bytes": Case(
            Upload(_random_bytes(), "noise.bin"), InvalidInput, r"noise\.bin is not a certificate"
        ),
        "truncated-pem": Case(
            Upload(pem[: len(pem) // 2], "half.pem"), InvalidInput, r"half\.pem is truncated"
        ),
        "truncated-der": Case(
            Upload(der[: len(der) // 2], "half.der"), InvalidInput, r"half\.der is truncated"
        ),
        "pkcs12-wrong-passphrase": Case(
            Upload(pfx, "user.pfx", passphrase="not-the-passphrase"),
            WrongPassphrase,
            r"Wrong passphrase for user\.pfx",
        ),
        "pkcs12-missing-passphrase": Case(
            Upload(pfx, "user.pfx"), WrongPassphrase, r"user\.pfx is protected by a passphrase"
        ),
        "private-key-instead-of-certificate": Case(
            Upload(certs.key_pem(key), "user.key"),
            InvalidInput,
            r"user\.key contains a private key but no certificate",
        ),
        "private-key-der-instead-of-certificate": Case(
            Upload(
                key.private_bytes(
                    serialization.Encoding.DER,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                ),
                "user-key.der",
            ),
            InvalidInput,
            r"private key but no certificate",
        ),
        "csr": Case(
            Upload(_csr(certs), "request.csr"),
            InvalidInput,
            r"request\.csr is a certificate signing request \(CSR\)",
        ),
        "file-over-10-mb": Case(
            Upload(pem + b"\n" * (MAX_UPLOAD_BYTES + 1 - len(pem)), "huge.pem"),
            InvalidInput,
            r"huge\.pem is 10\.\d MB; the limit is 10 MB",
        ),
        "expired-certificate": Case(
            Upload(certs.pem(certs.expired("old user")[1]), "old.pem"),
            InvalidInput,
            r"expired on \d{4}-\d\d-\d\d",
        ),
        "ca-certificate-as-client": Case(
            Upload(certs.pem(certs.ca), "ca.pem"), InvalidInput, r"is a CA certificate"
        ),
        "already-registered": Case(
            Upload(der, "again.der", name="second copy"),
            Conflict,
            rf"{cert_thumbprint(cert)} .*is already registered",
            setup=_register_first(pem),
        ),
        "duplicate-name-generate": Case(
            Generate(name="ALICE"),
            Conflict,
            r"named 'alice' is already registered",
            setup=_generate_alice,
        ),
        "duplicate-name-upload": Case(
            Upload(fresh_pem, "fresh.pem", name=" Alice "),
            Conflict,
            r"named 'alice' is already registered",
            setup=_generate_alice,
        ),
        "blank-name-generate": Case(Generate(name="   "), InvalidInput, r"cannot be blank"),
        "blank-name-upload": Case(
            Upload(fresh_pem, "fresh.pem", name=" \t "), InvalidInput, r"cannot be blank"
        ),
        "name-101-characters-generate": Case(
            Generate(name="n" * 101), InvalidInput, r"101 characters long; the limit is 100"
        ),
        "name-101-characters-upload": Case(
            Upload(fresh_pem, "fresh.pem", name="x" * 101),
            InvalidInput,
            r"101 characters long; the limit is 100",
        ),
        "name-with-control-character": Case(
            Generate(name="bad\x1bname"), InvalidInput, r"control characters"
        ),
        "unknown-clearance-generate": Case(
            Generate(clearance="Superuser"), InvalidInput, r"Unknown security clearance 'Superuser'"
        ),
        "unknown-clearance-upload": Case(
            Upload(fresh_pem, "fresh.pem", clearance="Root"),
            InvalidInput,
            r"Unknown security clearance 'Root'",
        ),
        "unknown-access-generate": Case(
            Generate(db=("HR=Write",)), InvalidInput, r"Unknown access level 'Write'"
        ),
        "unknown-access-upload": Case(
            Upload(fresh_pem, "fresh.pem", db=("HR=Owner",)),
            InvalidInput,
            r"Unknown access level 'Owner'",
        ),
        "database-name-with-slash": Case(
            Generate(db=("hr/payroll=Read",)), InvalidInput, r"Invalid database name 'hr/payroll'"
        ),
        "database-name-with-slash-upload": Case(
            Upload(fresh_pem, "fresh.pem", db=("../etc=Read",)),
            InvalidInput,
            r"Invalid database name",
        ),
        "database-name-with-control-character": Case(
            Generate(db=("H\x07R=Read",)), InvalidInput, r"Invalid database name"
        ),
        "database-name-with-newline": Case(
            Generate(db=("HR\nSales=Read",)), InvalidInput, r"Invalid database name"
        ),
        "passphrase-not-needed-pem": Case(
            Upload(pem, "user.pem", passphrase=PASSPHRASE),
            InvalidInput,
            r"user\.pem has no encrypted key and needs no passphrase",
        ),
        "passphrase-not-needed-der": Case(
            Upload(der, "user.der", passphrase=PASSPHRASE),
            InvalidInput,
            r"user\.der has no encrypted key and needs no passphrase",
        ),
        "passphrase-not-needed-pkcs12": Case(
            Upload(certs.pfx(key, cert, passphrase=None), "open.pfx", passphrase=PASSPHRASE),
            InvalidInput,
            r"open\.pfx opens without a passphrase; leave the passphrase out",
        ),
        "passphrase-needed-but-missing": Case(
            Upload(certs.pfx(key, cert, passphrase=PASSPHRASE), "locked.p12"),
            WrongPassphrase,
            r"locked\.p12 is protected by a passphrase; give it",
        ),
    }


def cert_thumbprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA1()).hex().upper()


CASE_IDS = list(_cases(CertFactory()))


@pytest.fixture
def ready(kit: Certkit) -> Certkit:
    kit.initialise(hostnames=["localhost"])
    return kit


@pytest.fixture(params=CASE_IDS)
def case(request: pytest.FixtureRequest, certs: CertFactory) -> Case:
    return _cases(certs)[str(request.param)]


def test_the_case_list_covers_issue_2() -> None:
    required = {
        "empty-file",
        "random-bytes",
        "truncated-pem",
        "truncated-der",
        "pkcs12-wrong-passphrase",
        "pkcs12-missing-passphrase",
        "private-key-instead-of-certificate",
        "csr",
        "file-over-10-mb",
        "expired-certificate",
        "ca-certificate-as-client",
        "already-registered",
        "duplicate-name-generate",
        "blank-name-generate",
        "name-101-characters-generate",
        "unknown-clearance-generate",
        "unknown-access-generate",
        "database-name-with-slash",
        "database-name-with-control-character",
        "passphrase-not-needed-pem",
        "passphrase-needed-but-missing",
    }
    assert required <= set(CASE_IDS)


def test_api_refuses(ready: Certkit, certs: CertFactory, case: Case) -> None:
    case.setup(ready, certs)
    before = registry_digest(ready)
    with pytest.raises(case.error) as caught:
        _api(ready, case.action)
    error = caught.value
    assert isinstance(error, CertkitError)
    assert re.search(case.message, error.message), error.message
    assert error.message.endswith((".", ")"))  # a full sentence
    assert "Traceback" not in error.message
    assert registry_digest(ready) == before


def test_cli_refuses(
    ready: Certkit,
    certs: CertFactory,
    cli: Cli,
    case: Case,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case.setup(ready, certs)
    action = case.action
    if isinstance(action, Upload) and action.passphrase is not None:
        monkeypatch.setenv(PASS_VAR, action.passphrase)
    argv = _argv(action, tmp_path)
    before = registry_digest(ready)
    result = cli(*argv)
    assert result.code == 2, result
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    assert re.search(case.message, lines[0]), lines[0]
    assert "Traceback" not in result.err and "Traceback" not in result.out
    assert result.out == ""
    assert registry_digest(ready) == before
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir())


GEN = ["generate", "x", "--clearance", "User", "--out", "{tmp}/out"]


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["generate", "x", "--clearance", "User"], id="missing-out"),
        pytest.param(["generate", "x", "--out", "{tmp}/out"], id="missing-clearance"),
        pytest.param([*GEN, "--key", "dsa"], id="bad-key"),
        pytest.param([*GEN, "--pkcs12", "rc2"], id="bad-pkcs12"),
        pytest.param([*GEN, "--expires", "soon"], id="bad-expiry"),
        pytest.param([*GEN, "--expires", "0d"], id="zero-expiry"),
        pytest.param([*GEN, "--expires", "100y"], id="expiry-after-the-ca"),
        pytest.param([*GEN, "--expires", "99999y"], id="expiry-after-the-year-9999"),
        pytest.param([*GEN, "--db", "HR"], id="db-without-access"),
        pytest.param([*GEN, "--db", "HR=Read", "--db", "hr=Admin"], id="db-twice"),
        pytest.param([*GEN, "--passphrase-env", "CERTKIT_UNSET_VAR"], id="passphrase-env-unset"),
        pytest.param([*GEN, "--passphrase-file", "{tmp}/nope"], id="passphrase-file-missing"),
        pytest.param([*GEN, "--passphrase", "secret"], id="passphrase-on-command-line"),
        pytest.param(
            [*GEN, "--passphrase-env", "A", "--passphrase-file", "B"], id="two-passphrase-sources"
        ),
        pytest.param(["upload", "{tmp}/missing.pem", "--clearance", "User"], id="upload-missing"),
        pytest.param(["upload", "{tmp}", "--clearance", "User"], id="upload-directory"),
        pytest.param(["show", "xyz"], id="show-not-a-thumbprint"),
        pytest.param(["show", "AB" * 20], id="show-unknown"),
        pytest.param(["edit", "AB" * 20], id="edit-nothing-to-change"),
        pytest.param(["edit", "AB" * 20, "--name", "x"], id="edit-unknown"),
        pytest.param(["delete", "AB" * 20, "--yes"], id="delete-unknown"),
        pytest.param(["list", "--sort", "size"], id="list-bad-sort"),
        pytest.param(["list", "--clearance", "Root"], id="list-bad-clearance"),
        pytest.param(["well-known", "remove", "99"], id="well-known-remove-unknown"),
        pytest.param(["2fa", "check", "AB" * 20, "123456"], id="2fa-unknown"),
        pytest.param(["list", "--limit", "-1"], id="list-negative-limit"),
        pytest.param(["server", "export", "--out", "{tmp}/no/such/dir.p12"], id="export-no-dir"),
        pytest.param(["server", "export", "--out", "{tmp}"], id="export-to-a-directory"),
        pytest.param(
            ["generate", "x", "--clearance", "User", "--out", "{tmp}/a-file"], id="out-is-a-file"
        ),
        pytest.param(["frobnicate"], id="unknown-command"),
        pytest.param(["--database-url", "mysql://db/x", "list"], id="unsupported-database-url"),
        pytest.param(["migrate", "--to", "sqlite:x.db"], id="unsupported-migrate-target"),
    ],
)
def test_cli_usage_errors(
    ready: Certkit,
    cli: Cli,
    argv: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CERTKIT_UNSET_VAR", raising=False)
    (tmp_path / "a-file").write_text("not a directory")
    before = registry_digest(ready)
    result = cli(*(arg.replace("{tmp}", str(tmp_path)) for arg in argv))
    assert result.code == 2, result
    lines = result.err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.err
    assert "Traceback" not in result.err
    assert registry_digest(ready) == before
    assert not (tmp_path / "out").exists()
