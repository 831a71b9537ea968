"""Interop: real tools (openssl, keytool, curl) read what certkit.pki writes, and back.

Certificates are made here with the real clock injected, since the tools check validity
against it.
"""

from __future__ import annotations

import http.server
import io
import ssl
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from certkit import pki
from certkit.errors import WrongPassphrase
from certkit.model import KeyType, Pkcs12Profile, Secret

pytestmark = [
    pytest.mark.slow,
    pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning"),
]

NOW = datetime.now(UTC)
PASSWORD = "S3cret-pass"
PASS = Secret(PASSWORD)
LONG_NAME = "Zoë 日本語 " + "x" * 90  # 100 characters, past RFC 5280's 64 for a CN

CA = tuple[pki.PrivateKey, x509.Certificate]


def run(*args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, check=check, timeout=60
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("interop")


@pytest.fixture(scope="module")
def ca(work: Path) -> CA:
    key, cert = pki.create_ca("certkit interop CA", now=NOW)
    (work / "ca.pem").write_bytes(pki.certificate_pem(cert))
    return key, cert


@pytest.fixture(scope="module")
def client(ca: CA) -> CA:
    return pki.issue_client_certificate(*ca, "alice", now=NOW, not_after=NOW + timedelta(days=30))


def _write_pfx(
    work: Path, name: str, key: pki.PrivateKey, cert: x509.Certificate, **kw: Any
) -> Path:
    path = work / f"{pki.safe_file_stem(name)}-{kw.get('profile', Pkcs12Profile.MODERN).value}.pfx"
    path.write_bytes(pki.pkcs12_bytes(name, key, cert, kw.pop("chain"), **kw))
    return path


# ---- openssl and keytool read certkit's files ---------------------------------------------


@pytest.mark.parametrize(
    ("profile", "algorithm", "mac"),
    [
        (Pkcs12Profile.MODERN, "PBES2, PBKDF2, AES-256-CBC, Iteration 50000", "MAC: sha256"),
        (Pkcs12Profile.LEGACY, "pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 10000", "MAC: sha1"),
    ],
)
def test_openssl_reads_the_pfx(
    work: Path, ca: CA, client: CA, profile: Pkcs12Profile, algorithm: str, mac: str
) -> None:
    pfx = _write_pfx(work, "alice", *client, chain=[ca[1]], passphrase=PASS, profile=profile)
    info = run("openssl", "pkcs12", "-in", pfx, "-info", "-nokeys", "-passin", f"pass:{PASSWORD}")
    assert algorithm in info.stderr and mac in info.stderr
    assert "friendlyName: alice" in info.stdout
    assert x509.load_pem_x509_certificates(info.stdout.encode()) == [client[1], ca[1]]
    keys = run("openssl", "pkcs12", "-in", pfx, "-nocerts", "-nodes", "-passin", f"pass:{PASSWORD}")
    key = serialization.load_pem_private_key(keys.stdout.encode(), None)
    assert pki.public_key_der(key.public_key()) == pki.public_key_der(client[1].public_key())
    wrong = run(
        "openssl", "pkcs12", "-in", pfx, "-info", "-nokeys", "-passin", "pass:x", check=False
    )
    assert wrong.returncode != 0


@pytest.mark.parametrize(
    ("profile", "key_type", "name"),
    [
        (Pkcs12Profile.MODERN, KeyType.EC_P256, "alice"),
        (Pkcs12Profile.LEGACY, KeyType.EC_P256, "alice"),
        (Pkcs12Profile.MODERN, KeyType.RSA_2048, "bob"),
        (Pkcs12Profile.LEGACY, KeyType.ED25519, "carol"),
        (Pkcs12Profile.MODERN, KeyType.EC_P384, LONG_NAME),
    ],
)
def test_keytool_sees_one_private_key_entry(
    work: Path, ca: CA, profile: Pkcs12Profile, key_type: KeyType, name: str
) -> None:
    key, cert = pki.issue_client_certificate(
        *ca, name, now=NOW, not_after=NOW + timedelta(days=30), key_type=key_type
    )
    pfx = _write_pfx(work, name, key, cert, chain=[ca[1]], passphrase=PASS, profile=profile)
    listing = run(
        "keytool", "-list", "-v", "-storetype", "PKCS12", "-keystore", pfx, "-storepass", PASSWORD
    ).stdout
    assert "Your keystore contains 1 entry" in listing
    assert "Entry type: PrivateKeyEntry" in listing
    assert "Certificate chain length: 2" in listing
    assert f"Alias name: {name.lower()}" in listing
    assert pki.sha256_fingerprint(cert) in listing.replace(":", "")


def test_openssl_and_keytool_read_a_public_pkcs12(work: Path, ca: CA, client: CA) -> None:
    path = work / "export.pfx"
    path.write_bytes(pki.public_pkcs12([("node a", client[1]), ("certkit ca", ca[1])]))
    listing = run(
        "keytool", "-list", "-storetype", "PKCS12", "-keystore", path, "-storepass", ""
    ).stdout
    assert "Your keystore contains 2 entries" in listing
    assert listing.count("trustedCertEntry") == 2
    assert "node a," in listing and "certkit ca," in listing
    info = run("openssl", "pkcs12", "-in", path, "-info", "-nokeys", "-passin", "pass:")
    assert "friendlyName: node a" in info.stdout and "friendlyName: certkit ca" in info.stdout
    assert x509.load_pem_x509_certificates(info.stdout.encode()) == [client[1], ca[1]]


@pytest.mark.parametrize("key_type", list(KeyType))
def test_openssl_verify_accepts_the_chain(work: Path, ca: CA, key_type: KeyType) -> None:
    _, cert = pki.issue_client_certificate(
        *ca, LONG_NAME, now=NOW, not_after=NOW + timedelta(days=30), key_type=key_type
    )
    leaf = work / f"client-{key_type.value}.pem"
    leaf.write_bytes(pki.certificate_pem(cert))
    result = run("openssl", "verify", "-purpose", "sslclient", "-CAfile", work / "ca.pem", leaf)
    assert result.stdout.strip() == f"{leaf}: OK"
    subject = run(
        "openssl", "x509", "-in", leaf, "-noout", "-subject", "-nameopt", "utf8,sep_comma_plus"
    )
    assert subject.stdout.strip() == f"subject=CN={LONG_NAME}"


def test_openssl_verify_accepts_the_server_certificate(work: Path, ca: CA) -> None:
    _, cert = pki.create_server_certificate(
        *ca, common_name="node", hostnames=["localhost", "127.0.0.1"], now=NOW
    )
    path = work / "server.pem"
    path.write_bytes(pki.certificate_pem(cert))
    for purpose in ("sslserver", "sslclient"):
        run("openssl", "verify", "-purpose", purpose, "-CAfile", work / "ca.pem", path)
    run("openssl", "verify", "-verify_ip", "127.0.0.1", "-CAfile", work / "ca.pem", path)
    run("openssl", "verify", "-verify_hostname", "localhost", "-CAfile", work / "ca.pem", path)


def test_zip_key_opens_with_openssl(work: Path, ca: CA, client: CA) -> None:
    data = pki.client_bundle_zip("alice", *client, [ca[1]], passphrase=PASS)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(work / "zip")
    key_file = work / "zip" / "alice.key"
    public = run("openssl", "pkey", "-in", key_file, "-passin", f"pass:{PASSWORD}", "-pubout")
    expected = (
        client[1]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    assert public.stdout.encode() == expected
    wrong = run("openssl", "pkey", "-in", key_file, "-passin", "pass:nope", "-noout", check=False)
    assert wrong.returncode != 0
    run("openssl", "verify", "-CAfile", work / "ca.pem", work / "zip" / "alice.crt")


# ---- certkit reads what openssl writes -------------------------------------------------


@pytest.mark.parametrize("legacy", [True, False], ids=["rc2-legacy", "openssl-default"])
def test_openssl_pkcs12_export_loads(work: Path, ca: CA, client: CA, legacy: bool) -> None:
    (work / "k.pem").write_bytes(pki.private_key_pem(client[0], None))
    (work / "c.pem").write_bytes(pki.certificate_pem(client[1]))
    out = work / ("rc2.pfx" if legacy else "aes.pfx")
    run(
        *("openssl", "pkcs12", "-export", "-in", work / "c.pem", "-inkey", work / "k.pem"),
        *("-certfile", work / "ca.pem", "-name", "alice", "-passout", f"pass:{PASSWORD}"),
        *(["-legacy"] if legacy else []),
        *("-out", out),
    )
    if legacy:
        info = run(
            "openssl",
            "pkcs12",
            "-legacy",
            "-in",
            out,
            "-info",
            "-noout",
            "-passin",
            f"pass:{PASSWORD}",
        )
        assert "RC2" in info.stderr
    data = out.read_bytes()
    bundle = pki.load_certificates(data, passphrase=PASS, source=out.name)
    assert bundle == pki.LoadedBundle((client[1], ca[1]), 1, "PKCS#12")
    key, cert, chain = pki.load_pkcs12_with_key(data, passphrase=PASS, source=out.name)
    assert cert == client[1] and chain == [ca[1]]
    assert pki.public_key_der(key.public_key()) == pki.public_key_der(cert.public_key())
    with pytest.raises(WrongPassphrase, match=f"Wrong passphrase for {out.name}"):
        pki.load_certificates(data, passphrase=Secret("wrong"), source=out.name)


# ---- a real mutual-TLS handshake ---------------------------------------------------------


class _EchoThumbprint(http.server.BaseHTTPRequestHandler):
    """Answers with the SHA-1 thumbprint of the client certificate of the connection."""

    def do_GET(self) -> None:
        assert isinstance(self.connection, ssl.SSLSocket)
        der = self.connection.getpeercert(binary_form=True)
        body = pki.thumbprint(x509.load_der_x509_certificate(der)).encode() if der else b"none"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _MutualTlsServer(http.server.ThreadingHTTPServer):
    """Does each TLS handshake in the connection's own thread; failed ones are dropped."""

    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _EchoThumbprint)
        self.context = context
        self.refusals: list[BaseException] = []

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}/"

    def finish_request(self, request: Any, client_address: Any) -> None:
        with self.context.wrap_socket(request, server_side=True) as tls:
            _EchoThumbprint(tls, client_address, self)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if error is not None:
            self.refusals.append(error)


@pytest.fixture(scope="module")
def https_server(work: Path, ca: CA) -> Iterator[_MutualTlsServer]:
    key, cert = pki.create_server_certificate(
        *ca, common_name="localhost", hostnames=["localhost", "127.0.0.1"], now=NOW
    )
    pki.check_server_certificate(key, cert, now=NOW, hostnames=["localhost", "127.0.0.1"])
    (work / "server.key").write_bytes(pki.private_key_pem(key, PASS))
    (work / "server.crt").write_bytes(pki.certificate_pem(cert))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(work / "server.crt", work / "server.key", password=PASSWORD)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(work / "ca.pem")
    server = _MutualTlsServer(context)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def _curl(work: Path, url: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return run(
        "curl", "-sS", "--max-time", "20", "--cacert", work / "ca.pem", *args, url, check=False
    )


@pytest.mark.parametrize("profile", list(Pkcs12Profile))
def test_curl_mutual_tls_with_the_pfx(
    work: Path, ca: CA, https_server: _MutualTlsServer, profile: Pkcs12Profile
) -> None:
    key, cert = pki.issue_client_certificate(
        *ca, f"curl {profile.value}", now=NOW, not_after=NOW + timedelta(days=1)
    )
    pfx = _write_pfx(
        work, f"curl {profile.value}", key, cert, chain=[ca[1]], passphrase=PASS, profile=profile
    )
    result = _curl(work, https_server.url, "--cert", f"{pfx}:{PASSWORD}", "--cert-type", "P12")
    assert result.returncode == 0, result.stderr
    assert result.stdout == pki.thumbprint(cert)


def test_curl_mutual_tls_with_pem_files_and_localhost(
    work: Path, ca: CA, client: CA, https_server: _MutualTlsServer
) -> None:
    data = pki.client_bundle_zip("alice", *client, [ca[1]], passphrase=PASS)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        archive.extractall(work / "pem-client")
    port = https_server.server_address[1]
    result = _curl(
        work,
        f"https://localhost:{port}/",
        *("--resolve", f"localhost:{port}:127.0.0.1"),
        *("--cert", work / "pem-client" / "alice.crt", "--key", work / "pem-client" / "alice.key"),
        *("--pass", PASSWORD),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == pki.thumbprint(client[1])


def test_mutual_tls_refuses_no_certificate_and_a_foreign_one(
    work: Path, https_server: _MutualTlsServer
) -> None:
    https_server.refusals.clear()
    bare = _curl(work, https_server.url)
    # curl reports the server's "certificate required" alert (56), or a reset (55) if the
    # server's close overtakes it; the server's own record of the refusal is deterministic
    assert bare.returncode in (35, 55, 56) and bare.stdout == ""
    assert _refused(https_server, "PEER_DID_NOT_RETURN_A_CERTIFICATE")
    other_ca = pki.create_ca("some other CA", now=NOW)
    key, cert = pki.issue_client_certificate(
        *other_ca, "mallory", now=NOW, not_after=NOW + timedelta(days=1)
    )
    pfx = _write_pfx(work, "mallory", key, cert, chain=[other_ca[1]], passphrase=PASS)
    foreign = _curl(work, https_server.url, "--cert", f"{pfx}:{PASSWORD}", "--cert-type", "P12")
    assert foreign.returncode != 0 and foreign.stdout == ""
    assert _refused(https_server, "CERTIFICATE_VERIFY_FAILED")


def _refused(server: _MutualTlsServer, reason: str) -> bool:
    """Whether the server recorded a failed handshake for ``reason`` (waits up to 10 s)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if any(reason in str(error) for error in server.refusals):
            return True
        time.sleep(0.02)
    return False
