"""Shared fixtures: a fresh certkit home per test, an injected clock, CLI runner."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from certkit import pki
from certkit.model import KeyType, Secret
from certkit.ops import Certkit, open_certkit
from tests.postgres import PostgresServer

START = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


class FakeClock:
    """An injected clock that tests move by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.moment = now

    def __call__(self) -> datetime:
        return self.moment

    def advance(self, delta: timedelta) -> None:
        self.moment += delta


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's ~/.certkit or key passphrase."""
    monkeypatch.setenv("CERTKIT_HOME", str(tmp_path / "default-home"))
    monkeypatch.delenv("CERTKIT_KEY_PASSPHRASE", raising=False)
    monkeypatch.delenv("CERTKIT_DATABASE_URL", raising=False)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


BACKENDS = ("duckdb", "postgresql")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole run (each test gets a schema of its own)."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def backend() -> str:
    """The registry backend of ``kit``, ``cli`` and ``database_url``: DuckDB, unless a
    module runs its tests on both (``backend = on_both_backends()``)."""
    return "duckdb"


def on_both_backends() -> Any:
    """A ``backend`` fixture for a module whose every test runs on DuckDB and PostgreSQL."""

    @pytest.fixture(params=BACKENDS)
    def backend(request: pytest.FixtureRequest) -> str:
        return str(request.param)

    return backend


@pytest.fixture
def database_url(
    backend: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str | None:
    """None for the DuckDB file of the home; on PostgreSQL a fresh schema's URL, also set
    as ``CERTKIT_DATABASE_URL`` so that the CLI and child processes use it as a user's would."""
    if backend == "duckdb":
        return None
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = server.new_schema_url()
    monkeypatch.setenv("CERTKIT_DATABASE_URL", url)
    return url


@pytest.fixture
def kit(home: Path, clock: FakeClock, database_url: str | None) -> Certkit:
    return open_certkit(home, clock=clock, database_url=database_url)


def registry_rows(kit: Certkit) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of the registry, on either backend."""
    with kit.registry.read() as tx:
        con = tx._con
        tables = [
            str(r[0])
            for r in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() ORDER BY table_name"
            ).fetchall()
        ]
        return {t: [tuple(r) for r in con.execute(f"SELECT * FROM {t}").fetchall()] for t in tables}


def registry_digest(kit: Certkit) -> str:
    """A digest of every row of every table: equal digests mean an unchanged registry."""
    digest = hashlib.sha256()
    for table, rows in registry_rows(kit).items():
        digest.update(table.encode())
        for row in sorted(repr(row) for row in rows):
            digest.update(row.encode())
    return digest.hexdigest()


def registry_bytes(kit: Certkit) -> bytes:
    """Every stored value as bytes (BLOBs raw), to search for what must never be stored."""
    return b"\n".join(
        bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
        for rows in registry_rows(kit).values()
        for row in rows
        for value in row
    )


@dataclass
class Result:
    code: int
    out: str
    err: str


Cli = Callable[..., Result]
"""The ``cli`` fixture: ``cli("list", "--json")`` runs ``certkit --home HOME list --json``."""


@pytest.fixture
def cli(
    home: Path,
    clock: FakeClock,
    database_url: str | None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Cli]:
    """Run ``certkit --home HOME ...`` in-process and capture its output.

    The command line runs on the injected clock, so it agrees with the ``kit`` fixture.
    """
    import certkit.ops
    from certkit.cli import main

    real_open = certkit.ops.open_certkit

    def open_with_clock(home: Path | str | None = None, **options: Any) -> Certkit:
        return real_open(home, **{"clock": clock, **options})

    monkeypatch.setattr(certkit.ops, "open_certkit", open_with_clock)

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            code = main(["--home", str(home), *args])
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return Result(code, captured.out, captured.err)

    yield run
    os.environ.pop("CERTKIT_TEST_PASS", None)


Pair = tuple[pki.PrivateKey, x509.Certificate]


def self_signed(
    name: str,
    *extensions: tuple[x509.ExtensionType, bool],
    now: datetime = START,
    days: int = 30,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> x509.Certificate:
    """A self-signed P-256 certificate ``CN=name`` (any text, unchecked) with exactly the
    extensions given, each with its criticality; valid from a day before ``now`` to ``days``
    after it. Without extensions: no key usage, no EKU."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name, _validate=False)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=days))
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(key, hashes.SHA256())


class CertFactory:
    """Certificates that certkit did not make, for uploads: a foreign CA and what it issues.

    Every certificate is generated here with :mod:`certkit.pki` at the test clock's start.
    """

    def __init__(self, now: datetime = START) -> None:
        self.now = now
        self.ca_key, self.ca = pki.create_ca("Foreign Test CA", now=now - timedelta(days=365))

    def client(
        self,
        name: str,
        *,
        valid_from: datetime | None = None,
        days: float = 365,
        key_type: KeyType = KeyType.EC_P256,
    ) -> Pair:
        start = valid_from or self.now
        return pki.issue_client_certificate(
            self.ca_key,
            self.ca,
            name,
            now=start,
            not_after=start + timedelta(days=days),
            key_type=key_type,
        )

    def expired(self, name: str) -> Pair:
        return self.client(name, valid_from=self.now - timedelta(days=400), days=30)

    def server(
        self, hostnames: list[str], *, valid_from: datetime | None = None, days: int = 825
    ) -> Pair:
        return pki.create_server_certificate(
            self.ca_key,
            self.ca,
            common_name=hostnames[0],
            hostnames=hostnames,
            now=valid_from or self.now,
            days=days,
        )

    @staticmethod
    def pem(*certs: x509.Certificate) -> bytes:
        return b"".join(pki.certificate_pem(c) for c in certs)

    @staticmethod
    def der(cert: x509.Certificate) -> bytes:
        return cert.public_bytes(serialization.Encoding.DER)

    @staticmethod
    def key_pem(key: pki.PrivateKey) -> bytes:
        return pki.private_key_pem(key, None)

    @staticmethod
    def pfx(
        key: pki.PrivateKey | None,
        cert: x509.Certificate | None,
        *chain: x509.Certificate,
        passphrase: str | None,
    ) -> bytes:
        """A PKCS#12; ``key`` may belong to another certificate (cryptography allows it
        only when ``cert`` is None and the certificates travel as the chain)."""
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase.encode())
            if passphrase
            else serialization.NoEncryption()
        )
        if key is not None and cert is not None:
            return pki.pkcs12_bytes(
                "upload", key, cert, chain, passphrase=Secret(passphrase) if passphrase else None
            )
        return pkcs12.serialize_key_and_certificates(b"upload", key, cert, list(chain), encryption)


@pytest.fixture(scope="session")
def certs() -> CertFactory:
    return CertFactory()
