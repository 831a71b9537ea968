"""Unit tests of certkit.pki: profiles, output files, reading uploads, checks."""

from __future__ import annotations

import base64
import io
import ipaddress
import random
import subprocess
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certkit import pki
from certkit.errors import CertkitError, InvalidInput, WrongPassphrase
from certkit.model import KeyType, Pkcs12Profile, Secret
from tests.conftest import self_signed

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PASS = Secret("S3cret-pass")
SKEW = timedelta(minutes=5)

CA = tuple[pki.PrivateKey, x509.Certificate]

# names up to 100 characters pass RFC 5280's 64 for a CN; pytest resets certkit's own filter
pytestmark = pytest.mark.filterwarnings("ignore:Attribute's length must be:UserWarning")


@pytest.fixture(scope="module")
def ca() -> CA:
    return pki.create_ca("certkit test CA", now=NOW - timedelta(days=365))


@pytest.fixture(scope="module")
def client(ca: CA) -> CA:
    return pki.issue_client_certificate(*ca, "alice", now=NOW, not_after=NOW + timedelta(days=365))


@pytest.fixture(scope="module")
def server(ca: CA) -> CA:
    return pki.create_server_certificate(
        *ca, common_name="node-a", hostnames=["localhost", "127.0.0.1", "*.example.com"], now=NOW
    )


E = TypeVar("E", bound=x509.ExtensionType)


def _ext(cert: x509.Certificate, kind: type[E]) -> x509.Extension[E]:
    return cert.extensions.get_extension_for_class(kind)


def _key_usage(**flags: bool) -> x509.KeyUsage:
    names = [
        *("digital_signature", "content_commitment", "key_encipherment", "data_encipherment"),
        *("key_agreement", "key_cert_sign", "crl_sign", "encipher_only", "decipher_only"),
    ]
    return x509.KeyUsage(**{name: flags.get(name, False) for name in names})


def _pem(*certs: x509.Certificate) -> bytes:
    return b"".join(pki.certificate_pem(c) for c in certs)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


# ---- profiles ---------------------------------------------------------------------------


def test_ca_profile(ca: CA) -> None:
    key, cert = ca
    created = NOW - timedelta(days=365)
    assert cert.subject.rfc4514_string() == "O=certkit,CN=certkit test CA"
    assert cert.issuer == cert.subject and pki.issued_by(cert, cert)
    assert cert.not_valid_before_utc == created - SKEW
    assert cert.not_valid_after_utc == created.replace(year=created.year + 20)
    constraints = _ext(cert, x509.BasicConstraints)
    assert constraints.critical and constraints.value == x509.BasicConstraints(
        ca=True, path_length=0
    )
    usage = _ext(cert, x509.KeyUsage)
    assert usage.critical
    assert usage.value == _key_usage(digital_signature=True, key_cert_sign=True, crl_sign=True)
    ski = _ext(cert, x509.SubjectKeyIdentifier)
    aki = _ext(cert, x509.AuthorityKeyIdentifier)
    assert not ski.critical and not aki.critical
    assert aki.value.key_identifier == ski.value.digest
    assert len(cert.extensions) == 4
    assert cert.serial_number.bit_length() > 64
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)


def test_client_profile(ca: CA, client: CA) -> None:
    key, cert = client
    assert cert.subject.rfc4514_string() == "CN=alice"
    assert cert.issuer == ca[1].subject and pki.issued_by(cert, ca[1])
    assert cert.not_valid_before_utc == NOW - SKEW
    assert cert.not_valid_after_utc == NOW + timedelta(days=365)
    assert cert.serial_number.bit_length() > 64
    constraints = _ext(cert, x509.BasicConstraints)
    assert constraints.critical and constraints.value == x509.BasicConstraints(
        ca=False, path_length=None
    )
    usage = _ext(cert, x509.KeyUsage)
    assert usage.critical and usage.value == _key_usage(digital_signature=True)
    purposes = _ext(cert, x509.ExtendedKeyUsage)
    assert not purposes.critical and list(purposes.value) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    ski = _ext(cert, x509.SubjectKeyIdentifier)
    assert ski.value == x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    aki = _ext(cert, x509.AuthorityKeyIdentifier)
    ca_ski = _ext(ca[1], x509.SubjectKeyIdentifier).value
    assert not aki.critical and aki.value.key_identifier == ca_ski.digest
    assert len(cert.extensions) == 5
    pki.check_client_certificate(cert, now=NOW)


def test_server_profile(ca: CA, server: CA) -> None:
    key, cert = server
    assert cert.subject.rfc4514_string() == "CN=node-a"
    assert pki.issued_by(cert, ca[1])
    assert cert.not_valid_after_utc == NOW + timedelta(days=825)
    names = _ext(cert, x509.SubjectAlternativeName)
    assert not names.critical
    assert names.value.get_values_for_type(x509.DNSName) == ["localhost", "*.example.com"]
    assert names.value.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    purposes = _ext(cert, x509.ExtendedKeyUsage)
    assert list(purposes.value) == [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    ]
    assert not purposes.critical
    usage = _ext(cert, x509.KeyUsage)
    assert usage.critical and usage.value == _key_usage(digital_signature=True)
    assert _ext(cert, x509.BasicConstraints).critical
    assert not _ext(cert, x509.BasicConstraints).value.ca
    assert _ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier == (
        _ext(ca[1], x509.SubjectKeyIdentifier).value.digest
    )
    assert len(cert.extensions) == 6
    info = pki.check_server_certificate(key, cert, now=NOW, hostnames=["localhost", "127.0.0.1"])
    assert info.dns_names == ("localhost", "127.0.0.1", "*.example.com")


KEY_DESCRIPTIONS = {
    KeyType.EC_P256: "EC P-256",
    KeyType.EC_P384: "EC P-384",
    KeyType.RSA_2048: "RSA 2048",
    KeyType.RSA_3072: "RSA 3072",
    KeyType.RSA_4096: "RSA 4096",
    KeyType.ED25519: "Ed25519",
}


@pytest.mark.parametrize("key_type", list(KeyType))
def test_client_key_types(ca: CA, key_type: KeyType) -> None:
    key, cert = pki.issue_client_certificate(
        *ca, "bob", now=NOW, not_after=NOW + timedelta(days=30), key_type=key_type
    )
    assert pki.describe(cert).key_description == KEY_DESCRIPTIONS[key_type]
    assert pki.same_public_key(cert, cert)
    usage = _ext(cert, x509.KeyUsage).value
    assert usage.key_encipherment is isinstance(key, rsa.RSAPrivateKey)
    assert pki.issued_by(cert, ca[1])


@pytest.mark.parametrize(
    ("key_type", "hash_name"),
    [
        (KeyType.EC_P256, "sha256"),
        (KeyType.EC_P384, "sha384"),
        (KeyType.RSA_2048, "sha256"),
        (KeyType.ED25519, None),
    ],
)
def test_ca_key_types_sign_with_the_right_hash(key_type: KeyType, hash_name: str | None) -> None:
    ca_key, ca_cert = pki.create_ca("CA " + key_type.value, now=NOW, key_type=key_type, years=2)
    _, leaf = pki.issue_client_certificate(
        ca_key, ca_cert, "carol", now=NOW, not_after=NOW + timedelta(days=1)
    )
    _, host = pki.create_server_certificate(
        ca_key, ca_cert, common_name="h", hostnames=["h"], now=NOW, days=10
    )
    for cert in (ca_cert, leaf, host):
        algorithm = cert.signature_hash_algorithm
        assert (algorithm.name if algorithm else None) == hash_name
        assert pki.issued_by(cert, ca_cert)
    assert pki.describe(ca_cert).key_description == KEY_DESCRIPTIONS[key_type]


@pytest.mark.parametrize(
    "name",
    [
        "x" * 100,
        "Zoë Ünïcødé - 日本語の名前 🔐",
        "🔐" * 100,
        'O\'Brien, Jr. + "quotes" = <tag>/path\\back',
    ],
)
def test_client_names_are_kept_exactly(ca: CA, name: str) -> None:
    _, cert = pki.issue_client_certificate(*ca, name, now=NOW, not_after=NOW + timedelta(days=1))
    attribute = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert [a.value for a in attribute] == [name]
    again = x509.load_pem_x509_certificate(pki.certificate_pem(cert))
    assert pki.describe(again).common_name == name


def test_client_refusals(ca: CA) -> None:
    with pytest.raises(InvalidInput, match="limit is 100"):
        pki.issue_client_certificate(*ca, "x" * 101, now=NOW, not_after=NOW + timedelta(days=1))
    with pytest.raises(InvalidInput, match="blank"):
        pki.issue_client_certificate(*ca, "  ", now=NOW, not_after=NOW + timedelta(days=1))
    with pytest.raises(InvalidInput, match="later than now"):
        pki.issue_client_certificate(*ca, "a", now=NOW, not_after=NOW)
    with pytest.raises(InvalidInput, match="after the issuing CA expires"):
        pki.issue_client_certificate(*ca, "a", now=NOW, not_after=NOW + timedelta(days=365 * 25))
    with pytest.raises(ValueError, match="timezone-aware"):
        pki.issue_client_certificate(
            *ca, "a", now=NOW.replace(tzinfo=None), not_after=NOW + timedelta(days=1)
        )
    with pytest.raises(InvalidInput, match="at least one host"):
        pki.create_server_certificate(*ca, common_name="n", hostnames=[], now=NOW)


# ---- fingerprints and description --------------------------------------------------------


def _openssl_x509(tmp_path: Path, cert: x509.Certificate, *args: str) -> str:
    path = tmp_path / "cert.pem"
    path.write_bytes(pki.certificate_pem(cert))
    return subprocess.run(
        ["openssl", "x509", "-in", str(path), "-noout", *args],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def test_fingerprints_match_openssl(tmp_path: Path, client: CA) -> None:
    cert = client[1]
    sha1 = _openssl_x509(tmp_path, cert, "-fingerprint", "-sha1").split("=", 1)[1]
    sha256 = _openssl_x509(tmp_path, cert, "-fingerprint", "-sha256").split("=", 1)[1]
    serial = _openssl_x509(tmp_path, cert, "-serial").split("=", 1)[1]
    assert pki.thumbprint(cert) == sha1.replace(":", "")
    assert len(pki.thumbprint(cert)) == 40 and pki.thumbprint(cert).isupper()
    assert pki.sha256_fingerprint(cert) == sha256.replace(":", "")
    assert pki.serial_hex(cert) == serial


def test_describe(ca: CA, client: CA) -> None:
    info = pki.describe(client[1])
    assert info.thumbprint == pki.thumbprint(client[1])
    assert info.subject == "CN=alice" and info.common_name == "alice"
    assert info.issuer == "O=certkit,CN=certkit test CA"
    assert info.serial == pki.serial_hex(client[1])
    assert (info.not_before, info.not_after) == (NOW - SKEW, NOW + timedelta(days=365))
    assert not info.is_ca and not info.self_signed
    assert info.extended_key_usages == ("clientAuth",)
    assert info.key_usages == ("digitalSignature",)
    assert info.dns_names == ()
    ca_info = pki.describe(ca[1])
    assert ca_info.is_ca and ca_info.self_signed
    assert ca_info.key_usages == ("digitalSignature", "keyCertSign", "cRLSign")
    odd = self_signed(
        "odd", (x509.ExtendedKeyUsage([x509.ObjectIdentifier("1.2.3.4")]), False), now=NOW
    )
    assert pki.describe(odd).extended_key_usages == ("1.2.3.4",)


# ---- output files ---------------------------------------------------------------------


@pytest.mark.parametrize("profile", list(Pkcs12Profile))
def test_client_bundle_zip(ca: CA, client: CA, profile: Pkcs12Profile) -> None:
    key, cert = client
    data = pki.client_bundle_zip("alice", key, cert, [ca[1]], passphrase=PASS, profile=profile)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = {info.filename: info for info in archive.infolist()}
        assert sorted(infos) == ["alice.crt", "alice.key", "alice.pfx"]
        assert {info.external_attr >> 16 for info in infos.values()} == {0o100600}
        files = {name: archive.read(name) for name in infos}
    assert x509.load_pem_x509_certificates(files["alice.crt"]) == [cert, ca[1]]
    assert files["alice.key"].startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = serialization.load_pem_private_key(files["alice.key"], PASS.reveal())
    assert pki.public_key_der(loaded.public_key()) == pki.public_key_der(key.public_key())
    p12 = pkcs12.load_pkcs12(files["alice.pfx"], PASS.reveal())
    assert p12.cert is not None and p12.cert.certificate == cert
    assert p12.cert.friendly_name == b"alice"
    assert [c.certificate for c in p12.additional_certs] == [ca[1]]
    assert p12.key is not None
    bundle = pki.load_certificates(files["alice.pfx"], passphrase=PASS, source="alice.pfx")
    assert bundle == pki.LoadedBundle((cert, ca[1]), 1, "PKCS#12")


def test_zip_without_passphrase_and_with_an_unsafe_name(ca: CA) -> None:
    name = '../évil: "name"?'
    key, cert = pki.issue_client_certificate(*ca, name, now=NOW, not_after=NOW + timedelta(days=1))
    data = pki.client_bundle_zip(name, key, cert, [ca[1]], passphrase=None)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        stem = "___évil_ _name__"
        assert sorted(archive.namelist()) == [f"{stem}.crt", f"{stem}.key", f"{stem}.pfx"]
        assert archive.read(f"{stem}.key").startswith(b"-----BEGIN PRIVATE KEY-----")
        p12 = pkcs12.load_pkcs12(archive.read(f"{stem}.pfx"), None)
    assert p12.cert is not None and p12.cert.friendly_name == name.encode()


@pytest.mark.parametrize(
    ("name", "stem"),
    [
        ("alice", "alice"),
        ('a/b\\c:d*e?f"g<h>i|j', "a_b_c_d_e_f_g_h_i_j"),
        ("..hidden", "__hidden"),
        ("tab\tand\nnewline\x7f", "tab_and_newline_"),
        ("trailing.", "trailing_"),
        ("CON", "CON_"),
        ("nul.txt", "nul.txt_"),
        ("", "certificate"),
        ("日本語 🔐", "日本語 🔐"),
    ],
)
def test_safe_file_stem(name: str, stem: str) -> None:
    assert pki.safe_file_stem(name) == stem


def test_private_key_pem(client: CA) -> None:
    key = client[0]
    plain = pki.private_key_pem(key, None)
    assert plain.startswith(b"-----BEGIN PRIVATE KEY-----")
    assert b"ENCRYPTED" not in pki.private_key_pem(key, Secret(""))
    encrypted = pki.private_key_pem(key, PASS)
    with pytest.raises(ValueError):
        serialization.load_pem_private_key(encrypted, b"wrong")


def test_key_pkcs12_round_trip(ca: CA, server: CA) -> None:
    data = pki.key_pkcs12("server", *server, [ca[1]], passphrase=PASS)
    key, cert, chain = pki.load_pkcs12_with_key(data, passphrase=PASS, source="server.pfx")
    assert cert == server[1] and chain == [ca[1]]
    assert pki.public_key_der(key.public_key()) == pki.public_key_der(server[0].public_key())
    with pytest.raises(ValueError):
        pki.key_pkcs12("server", *server, [], passphrase=Secret(""))


def test_load_pkcs12_with_key_refusals(ca: CA, server: CA) -> None:
    data = pki.key_pkcs12("server", *server, [ca[1]], passphrase=PASS)
    with pytest.raises(WrongPassphrase, match=r"Wrong passphrase for server\.pfx"):
        pki.load_pkcs12_with_key(data, passphrase=Secret("nope"), source="server.pfx")
    with pytest.raises(WrongPassphrase, match="protected by a passphrase"):
        pki.load_pkcs12_with_key(data, passphrase=None, source="server.pfx")
    public = pki.public_pkcs12([("server", server[1])])
    with pytest.raises(InvalidInput, match="no private key"):
        pki.load_pkcs12_with_key(public, passphrase=None, source="public.pfx")
    with pytest.raises(InvalidInput, match="not a PKCS#12"):
        pki.load_pkcs12_with_key(_pem(server[1]), passphrase=None, source="server.pem")
    other_key = ec.generate_private_key(ec.SECP256R1())
    mismatched = pkcs12.serialize_key_and_certificates(
        b"x", other_key, None, [server[1]], serialization.BestAvailableEncryption(b"pw")
    )
    with pytest.raises(InvalidInput, match="does not match"):
        pki.load_pkcs12_with_key(mismatched, passphrase=Secret("pw"), source="m.pfx")


def test_public_pkcs12_round_trip(ca: CA, client: CA, server: CA) -> None:
    data = pki.public_pkcs12([("node A", server[1]), ("alice", client[1]), ("CA", ca[1])])
    bundle = pki.load_certificates(data, source="export.pfx")
    assert bundle == pki.LoadedBundle((server[1], client[1], ca[1]), 0, "PKCS#12")
    p12 = pkcs12.load_pkcs12(data, None)
    assert [c.friendly_name for c in p12.additional_certs] == [b"node A", b"alice", b"CA"]
    with pytest.raises(InvalidInput, match="no certificate to export"):
        pki.public_pkcs12([])


# ---- load_certificates --------------------------------------------------------------------


def test_load_pem_single_and_crlf(client: CA) -> None:
    pem = _pem(client[1])
    assert pki.load_certificates(pem) == pki.LoadedBundle((client[1],), 0, "PEM")
    crlf = pem.replace(b"\n", b"\r\n")
    assert pki.load_certificates(b"Bag Attributes\r\n" + crlf).certificates == (client[1],)
    assert pki.load_certificates(b"0 looks like DER\n" + pem).certificates == (client[1],)


def test_load_pem_bundle_with_key_and_certs(ca: CA, client: CA, server: CA) -> None:
    key_pem = pki.private_key_pem(client[0], None)
    data = _pem(client[1]) + key_pem + _pem(server[1], ca[1])
    bundle = pki.load_certificates(data, source="bundle.pem")
    assert bundle == pki.LoadedBundle((client[1], server[1], ca[1]), 1, "PEM")
    traditional = client[0].private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    assert pki.load_certificates(traditional + _pem(client[1])).private_key_count == 1


def test_load_pem_with_encrypted_key(client: CA) -> None:
    data = pki.private_key_pem(client[0], PASS) + _pem(client[1])
    assert pki.load_certificates(data, passphrase=PASS).private_key_count == 1
    # without a passphrase the encrypted key is counted but not opened: the upload needs no key
    assert pki.load_certificates(data).certificates == (client[1],)
    with pytest.raises(WrongPassphrase, match=r"Wrong passphrase for the private key in k\.pem"):
        pki.load_certificates(data, passphrase=Secret("wrong"), source="k.pem")


def test_load_der(ca: CA, client: CA) -> None:
    bundle = pki.load_certificates(_der(client[1]), source="alice.cer")
    assert bundle == pki.LoadedBundle((client[1],), 0, "DER")
    padded = pki.load_certificates(_der(client[1]) + b"\r\n\x00")
    assert padded.certificates == (client[1],)
    several = pki.load_certificates(_der(client[1]) + _der(ca[1]))
    assert several == pki.LoadedBundle((client[1], ca[1]), 0, "DER")
    with pytest.raises(InvalidInput, match="expected PEM, DER or PKCS#12"):
        pki.load_certificates(_der(client[1]) + b"junk")


def test_load_pkcs12_with_several_certificates(ca: CA, client: CA, server: CA) -> None:
    other = self_signed("bob", now=NOW)
    data = pkcs12.serialize_key_and_certificates(
        b"alice",
        client[0],
        client[1],
        [pkcs12.PKCS12Certificate(other, b"bob"), pkcs12.PKCS12Certificate(ca[1], b"ca")],
        serialization.BestAvailableEncryption(PASS.reveal()),
    )
    bundle = pki.load_certificates(data, passphrase=PASS, source="many.pfx")
    assert bundle == pki.LoadedBundle((client[1], other, ca[1]), 1, "PKCS#12")
    no_key = pkcs12.serialize_key_and_certificates(
        None, None, None, [client[1], server[1]], serialization.BestAvailableEncryption(b"pw")
    )
    assert pki.load_certificates(no_key, passphrase=Secret("pw")).certificates == (
        client[1],
        server[1],
    )


def test_load_ten_thousand_pem_certificates(ca: CA) -> None:
    distinct = [
        pki.issue_client_certificate(*ca, f"u{i}", now=NOW, not_after=NOW + timedelta(days=9))[1]
        for i in range(20)
    ]
    data = _pem(*distinct) * 500
    bundle = pki.load_certificates(data, source="big.pem")
    assert len(bundle.certificates) == 10_000
    assert bundle.certificates[:20] == tuple(distinct)


BadInput = Callable[[CA, CA], bytes]


def _damaged_pem_body(pem: bytes) -> bytes:
    """Valid base64 whose DER is broken: the second line of the body becomes all 'A'."""
    lines = pem.split(b"\n")
    lines[2] = b"A" * len(lines[2])
    return b"\n".join(lines)


def _truncated_pkcs12(ca: CA, client: CA) -> bytes:
    return pki.pkcs12_bytes("alice", *client, [ca[1]], passphrase=PASS)[:-100]


def _random_bytes(ca: CA, client: CA) -> bytes:
    data = random.Random(7).randbytes(3000)
    return b"\x01" + data[1:]


def _csr(client: CA, encoding: serialization.Encoding) -> bytes:
    request = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "req")]))
        .sign(client[0], hashes.SHA256())
    )
    return request.public_bytes(encoding)


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda ca, c: b"", InvalidInput, r"^bad\.bin is empty\.$"),
        (lambda ca, c: b" \n\t\n", InvalidInput, "is empty"),
        (lambda ca, c: b"x" * (pki.MAX_UPLOAD_BYTES + 1), InvalidInput, "the limit is 10 MB"),
        (
            _random_bytes,
            InvalidInput,
            r"bad\.bin is not a certificate: expected PEM, DER or PKCS#12",
        ),
        (lambda ca, c: b"hello, world\n" * 10, InvalidInput, "expected PEM, DER or PKCS#12"),
        (lambda ca, c: _pem(c[1])[:-30], InvalidInput, "truncated or damaged"),
        (lambda ca, c: _pem(c[1])[:200], InvalidInput, "truncated or damaged"),
        (lambda ca, c: _pem(c[1]).replace(b"M", b"!", 2), InvalidInput, "bad base64"),
        (lambda ca, c: _damaged_pem_body(_pem(c[1])), InvalidInput, "bad base64"),
        (lambda ca, c: _der(c[1])[:-40], InvalidInput, r"bad\.bin is truncated"),
        (lambda ca, c: _der(c[1])[:5], InvalidInput, "truncated"),
        (_truncated_pkcs12, InvalidInput, "truncated"),
        (
            lambda ca, c: pki.private_key_pem(c[0], None),
            InvalidInput,
            "contains a private key but no certificate",
        ),
        (
            lambda ca, c: pki.private_key_pem(c[0], PASS),
            InvalidInput,
            "contains a private key but no certificate",
        ),
        (
            lambda ca, c: c[0].private_bytes(
                serialization.Encoding.DER,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            InvalidInput,
            "contains a private key but no certificate",
        ),
        (
            lambda ca, c: _csr(c, serialization.Encoding.PEM),
            InvalidInput,
            r"is a certificate signing request \(CSR\), not a certificate",
        ),
        (
            lambda ca, c: _csr(c, serialization.Encoding.DER),
            InvalidInput,
            r"is a certificate signing request \(CSR\), not a certificate",
        ),
        (
            lambda ca, c: (
                _pem(c[1]) + b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
            ),
            InvalidInput,
            "private key in bad.bin is damaged",
        ),
        (
            lambda ca, c: pki.pkcs12_bytes("a", c[0], c[1], [], passphrase=PASS),
            WrongPassphrase,
            r"^bad\.bin is protected by a passphrase; give it",
        ),
    ],
    ids=[
        "empty",
        "whitespace",
        "oversized",
        "random-bytes",
        "text",
        "pem-without-end",
        "pem-cut-short",
        "pem-bad-base64",
        "pem-bad-der",
        "der-truncated",
        "der-header-only",
        "pkcs12-truncated",
        "pem-key-only",
        "pem-encrypted-key-only",
        "der-key-only",
        "pem-csr",
        "der-csr",
        "pem-damaged-key",
        "pkcs12-passphrase-missing",
    ],
)
def test_load_refuses_bad_input(
    ca: CA, client: CA, make: BadInput, error: type[CertkitError], message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        pki.load_certificates(make(ca, client), source="bad.bin")
    assert type(caught.value) is error


def test_load_pkcs12_wrong_passphrase(ca: CA, client: CA) -> None:
    for profile in Pkcs12Profile:
        data = pki.pkcs12_bytes("alice", *client, [ca[1]], passphrase=PASS, profile=profile)
        with pytest.raises(
            WrongPassphrase, match=r"^Wrong passphrase for cert\.pfx, or the file is damaged\.$"
        ):
            pki.load_certificates(data, passphrase=Secret("wrong"), source="cert.pfx")


@pytest.mark.parametrize("kind", ["pem", "der", "pkcs12"])
def test_load_refuses_a_passphrase_that_is_not_needed(client: CA, kind: str) -> None:
    data = {
        "pem": _pem(client[1]) + pki.private_key_pem(client[0], None),
        "der": _der(client[1]),
        "pkcs12": pki.pkcs12_bytes("alice", *client, [], passphrase=None),
    }[kind]
    with pytest.raises(InvalidInput, match="leave the passphrase out") as caught:
        pki.load_certificates(data, passphrase=PASS, source="c")
    assert type(caught.value) is InvalidInput
    assert pki.load_certificates(data, passphrase=None).certificates == (client[1],)
    assert pki.load_certificates(data, passphrase=Secret("")).certificates == (client[1],)


def test_load_legacy_trusted_and_pkcs7_pem_forms(ca: CA, client: CA) -> None:
    pem = _pem(client[1])
    old_label = pem.replace(b"CERTIFICATE", b"X509 CERTIFICATE")
    assert pki.load_certificates(old_label).certificates == (client[1],)
    body = "".join(pem.decode().splitlines()[1:-1])
    aux = base64.b64decode(body) + bytes.fromhex("3000")  # cert followed by empty X509_CERT_AUX
    trusted = (
        b"-----BEGIN TRUSTED CERTIFICATE-----\n"
        + base64.encodebytes(aux)
        + b"-----END TRUSTED CERTIFICATE-----\n"
    )
    assert pki.load_certificates(trusted).certificates == (client[1],)
    p7b = pkcs7.serialize_certificates([client[1], ca[1]], serialization.Encoding.PEM)
    assert pki.load_certificates(p7b).certificates == (client[1], ca[1])


# ---- split_collection -----------------------------------------------------------------


def test_split_collection(ca: CA, client: CA, server: CA) -> None:
    members, skipped = pki.split_collection([client[1], ca[1], server[1], client[1]])
    assert members == [client[1], server[1]]
    assert skipped == [
        (client[1], "duplicate of certificate #1 in the file"),
        (ca[1], "issued another certificate in the file (chain material)"),
    ]


def test_split_collection_keeps_self_signed_certificates_with_the_same_name() -> None:
    first, second = self_signed("same", now=NOW), self_signed("same", now=NOW)
    assert pki.split_collection([first, second]) == ([first, second], [])
    assert pki.split_collection([]) == ([], [])


def test_split_collection_alone_ca_is_a_member(ca: CA) -> None:
    assert pki.split_collection([ca[1]]) == ([ca[1]], [])


# ---- checks ---------------------------------------------------------------------------


def test_check_client_accepts_openssl_default_self_signed(tmp_path: Path) -> None:
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"),
            *("-nodes", "-subj", "/CN=x", "-keyout", str(tmp_path / "k.pem")),
            *("-out", str(tmp_path / "c.pem")),
        ],
        check=True,
        capture_output=True,
    )
    cert = pki.load_certificates((tmp_path / "c.pem").read_bytes()).certificates[0]
    constraints = _ext(cert, x509.BasicConstraints)  # OpenSSL 3.0.19 here: CA:TRUE, critical
    assert constraints.value == x509.BasicConstraints(ca=True, path_length=None)
    assert _ext(cert, x509.SubjectKeyIdentifier)  # and no key usage, no extended key usage
    assert not any(
        isinstance(e.value, x509.KeyUsage | x509.ExtendedKeyUsage) for e in cert.extensions
    )
    pki.check_client_certificate(cert, now=cert.not_valid_before_utc + timedelta(minutes=1))


def test_check_client_refuses_a_ca(ca: CA) -> None:
    with pytest.raises(InvalidInput, match=r"^ca\.pem is a CA certificate; it cannot"):
        pki.check_client_certificate(ca[1], now=NOW, source="ca.pem")
    key_cert_sign_only = self_signed(
        "odd",
        (x509.BasicConstraints(ca=True, path_length=None), True),
        (_key_usage(key_cert_sign=True, crl_sign=True), True),
        now=NOW,
    )
    with pytest.raises(InvalidInput, match="is a CA certificate"):
        pki.check_client_certificate(key_cert_sign_only, now=NOW)


def test_check_client_refuses_an_intermediate_ca_without_key_usage(ca: CA) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    intermediate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sub CA")]))
        .issuer_name(ca[1].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=10))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca[0], hashes.SHA256())
    )
    with pytest.raises(InvalidInput, match="is a CA certificate"):
        pki.check_client_certificate(intermediate, now=NOW)


def test_check_client_refuses_expired_and_limited_certificates(ca: CA) -> None:
    _, old = pki.issue_client_certificate(
        *ca, "old", now=NOW - timedelta(days=60), not_after=NOW - timedelta(days=1)
    )
    with pytest.raises(InvalidInput, match=r"^old\.pem expired on 2026-02-28 12:00 UTC"):
        pki.check_client_certificate(old, now=NOW, source="old.pem")
    server_only = self_signed(
        "odd", (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False), now=NOW
    )
    with pytest.raises(InvalidInput, match=r"extended key usage \(serverAuth\) without clientAuth"):
        pki.check_client_certificate(server_only, now=NOW)
    key_cert_sign = self_signed("odd", (_key_usage(key_cert_sign=True), True), now=NOW)
    with pytest.raises(InvalidInput, match="key usage without digitalSignature"):
        pki.check_client_certificate(key_cert_sign, now=NOW)


def test_check_client_accepts_unrestricted_and_any_purpose_certificates() -> None:
    pki.check_client_certificate(self_signed("odd", now=NOW), now=NOW)
    any_purpose = self_signed(
        "odd",
        (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE]), False),
        (_key_usage(digital_signature=True), True),
        (x509.BasicConstraints(ca=True, path_length=None), False),
        now=NOW,
    )
    pki.check_client_certificate(any_purpose, now=NOW)


def test_check_server_certificate_refusals(ca: CA, client: CA, server: CA) -> None:
    key, cert = server
    hosts = ["localhost"]
    with pytest.raises(InvalidInput, match="not valid before"):
        pki.check_server_certificate(key, cert, now=NOW - timedelta(hours=1), hostnames=hosts)
    with pytest.raises(InvalidInput, match="expired on"):
        pki.check_server_certificate(key, cert, now=NOW + timedelta(days=900), hostnames=hosts)
    with pytest.raises(InvalidInput, match="private key does not match"):
        pki.check_server_certificate(client[0], cert, now=NOW, hostnames=hosts)
    with pytest.raises(InvalidInput, match="lacks serverAuth"):
        pki.check_server_certificate(*client, now=NOW, hostnames=hosts)
    for host in ["db.example.org", "a.b.example.com", "example.com", "127.0.0.2", "::1"]:
        with pytest.raises(InvalidInput, match="does not cover the host name"):
            pki.check_server_certificate(key, cert, now=NOW, hostnames=[host])
    info = pki.check_server_certificate(
        key, cert, now=NOW, hostnames=["LOCALHOST", "db.example.com", "127.0.0.1"]
    )
    assert info.thumbprint == pki.thumbprint(cert)


def test_issued_by_and_same_public_key(ca: CA, client: CA, server: CA) -> None:
    assert pki.issued_by(client[1], ca[1])
    assert not pki.issued_by(ca[1], client[1])
    assert not pki.issued_by(client[1], server[1])
    impostor = pki.create_ca("certkit test CA", now=NOW - timedelta(days=365))[1]
    assert impostor.subject == ca[1].subject
    assert not pki.issued_by(client[1], impostor)
    ed_ca = pki.create_ca("ed", now=NOW, key_type=KeyType.ED25519, years=1)[1]
    assert not pki.issued_by(client[1], ed_ca)
    assert pki.same_public_key(client[1], client[1])
    assert not pki.same_public_key(client[1], server[1])


def test_generate_private_key_types() -> None:
    assert isinstance(pki.generate_private_key(KeyType.ED25519), ed25519.Ed25519PrivateKey)
    key = pki.generate_private_key(KeyType.EC_P384)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1"
