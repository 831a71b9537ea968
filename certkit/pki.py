"""Keys, certificate profiles, and PEM/PKCS#12/zip output (cryptography only).

Three profiles, each one builder expression: certkit's client-issuing CA
(:func:`create_ca`), a server certificate (:func:`create_server_certificate`) and a client
certificate (:func:`issue_client_certificate`). Reading uploads (:mod:`certkit.pki_load`),
fingerprints, descriptions and checks (:mod:`certkit.pki_inspect`) are re-exported here, so
callers need only ``certkit.pki``. Datetimes are timezone-aware UTC.
"""

from __future__ import annotations

import io
import ipaddress
import re
import unicodedata
import zipfile
from collections.abc import Sequence
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import PrivateFormat, pkcs12
from cryptography.hazmat.primitives.serialization.pkcs12 import PBES
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certkit.errors import InvalidInput
from certkit.model import KeyType, Pkcs12Profile, Secret, add_period, validate_name
from certkit.pki_inspect import (
    CertificateInfo,
    PrivateKey,
    check_client_certificate,
    check_server_certificate,
    describe,
    extended_key_usage_name,
    extension_value,
    issued_by,
    public_key_der,
    same_public_key,
    serial_hex,
    sha256_fingerprint,
    thumbprint,
)
from certkit.pki_load import (
    MAX_UPLOAD_BYTES,
    LoadedBundle,
    load_certificates,
    load_pkcs12_with_key,
    split_collection,
)

__all__ = [
    "MAX_UPLOAD_BYTES",
    "CertificateInfo",
    "LoadedBundle",
    "PrivateKey",
    "certificate_pem",
    "check_client_certificate",
    "check_server_certificate",
    "client_bundle_zip",
    "create_ca",
    "create_server_certificate",
    "describe",
    "extended_key_usage_name",
    "extension_value",
    "generate_private_key",
    "issue_client_certificate",
    "issued_by",
    "key_pkcs12",
    "load_certificates",
    "load_pkcs12_with_key",
    "pkcs12_bytes",
    "private_key_pem",
    "public_key_der",
    "public_pkcs12",
    "safe_file_stem",
    "same_public_key",
    "serial_hex",
    "sha256_fingerprint",
    "split_collection",
    "thumbprint",
]

CLOCK_SKEW = timedelta(minutes=5)
"""Certificates are valid from this long before they are made, for clocks that lag."""

MODERN_KDF_ROUNDS = 50_000
"""PBKDF2-SHA256 rounds of the modern PKCS#12 profile: ~12 ms for a whole client zip here."""
LEGACY_KDF_ROUNDS = 10_000
"""PKCS#12-KDF rounds of the 3DES profile (Java's own default; ~10 ms for a client zip here)."""


def generate_private_key(key_type: KeyType) -> PrivateKey:
    """A new private key of ``key_type``."""
    match key_type:
        case KeyType.EC_P256:
            return ec.generate_private_key(ec.SECP256R1())
        case KeyType.EC_P384:
            return ec.generate_private_key(ec.SECP384R1())
        case KeyType.RSA_2048 | KeyType.RSA_3072 | KeyType.RSA_4096:
            return rsa.generate_private_key(65537, int(key_type.value.split("-")[1]))
        case KeyType.ED25519:
            return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unknown key type {key_type!r}")


def create_ca(
    common_name: str,
    *,
    now: datetime,
    key_type: KeyType = KeyType.EC_P256,
    years: int = 20,
) -> tuple[PrivateKey, x509.Certificate]:
    """certkit's self-signed client-issuing CA (``CN=common_name, O=certkit``)."""
    _require_utc(now)
    key = generate_private_key(key_type)
    name = x509.Name(
        [_common_name(common_name), x509.NameAttribute(NameOID.ORGANIZATION_NAME, "certkit")]
    )
    key_id = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(add_period(now, (years * 12, "m")))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(key_id, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(key_id), critical=False
        )
        .sign(key, _signature_hash(key))
    )
    return key, cert


def create_server_certificate(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    *,
    common_name: str,
    hostnames: Sequence[str],
    now: datetime,
    key_type: KeyType = KeyType.EC_P256,
    days: int = 825,
) -> tuple[PrivateKey, x509.Certificate]:
    """A TLS server certificate for ``hostnames`` (DNS names or IP addresses), signed by the CA.

    It carries serverAuth and clientAuth, so cluster nodes can also present it to each other.
    """
    _require_utc(now)
    if not hostnames:
        raise InvalidInput("A server certificate needs at least one host name or IP address.")
    not_after = now + timedelta(days=days)
    _check_within_ca(ca_cert, not_after)
    key = generate_private_key(key_type)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([_common_name(common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.SubjectAlternativeName([_general_name(host) for host in hostnames]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_authority_key_identifier(ca_cert), critical=False)
        .sign(ca_key, _signature_hash(ca_key))
    )
    return key, cert


def issue_client_certificate(
    ca_key: PrivateKey,
    ca_cert: x509.Certificate,
    name: str,
    *,
    now: datetime,
    not_after: datetime,
    key_type: KeyType = KeyType.EC_P256,
) -> tuple[PrivateKey, x509.Certificate]:
    """A client certificate ``CN=name`` (1-100 printable characters), signed by the CA.

    Raises:
        InvalidInput: a bad name, ``not_after`` not after ``now``, or after the CA expires.
    """
    _require_utc(now, not_after)
    if not_after <= now:
        raise InvalidInput("The expiration must be later than now.")
    _check_within_ca(ca_cert, not_after)
    key = generate_private_key(key_type)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([_common_name(validate_name(name))]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=isinstance(key, rsa.RSAPrivateKey),
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_authority_key_identifier(ca_cert), critical=False)
        .sign(ca_key, _signature_hash(ca_key))
    )
    return key, cert


# ---- output ---------------------------------------------------------------------------


def pkcs12_bytes(
    name: str,
    key: PrivateKey,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    *,
    passphrase: Secret | None,
    profile: Pkcs12Profile = Pkcs12Profile.MODERN,
) -> bytes:
    """A PKCS#12 (.pfx) with the key, the certificate (friendly name ``name``) and the chain.

    Modern: PBES2 AES-256-CBC, PBKDF2, MAC SHA-256. Legacy: 3DES, MAC SHA-1. Never RC2.
    Without a passphrase the key bag is unencrypted, which Java keystores ignore.
    """
    return pkcs12.serialize_key_and_certificates(
        name.encode(), key, cert, list(chain), _pkcs12_encryption(passphrase, profile)
    )


def key_pkcs12(
    name: str,
    key: PrivateKey,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    *,
    passphrase: Secret,
) -> bytes:
    """A passphrase-protected modern PKCS#12, for the CA and server keys kept in the home."""
    if not passphrase:
        raise ValueError("a key file needs a non-empty passphrase")
    return pkcs12_bytes(name, key, cert, chain, passphrase=passphrase)


def public_pkcs12(certificates: Sequence[tuple[str, x509.Certificate]]) -> bytes:
    """A PKCS#12 of public certificates only, each with its friendly name, and no passphrase.

    Java sees trustedCertEntry items (``keytool -storepass ''``); OpenSSL reads it with
    ``-passin pass:``. The MAC is keyed with the empty password.
    """
    if not certificates:
        raise InvalidInput("There is no certificate to export.")
    entries = [pkcs12.PKCS12Certificate(cert, name.encode()) for name, cert in certificates]
    return pkcs12.serialize_java_truststore(entries, serialization.NoEncryption())


def client_bundle_zip(
    name: str,
    key: PrivateKey,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate],
    *,
    passphrase: Secret | None,
    profile: Pkcs12Profile = Pkcs12Profile.MODERN,
) -> bytes:
    """A zip with ``<stem>.pfx``, ``<stem>.crt`` (certificate, then chain) and ``<stem>.key``.

    The key is PEM PKCS#8, encrypted when a passphrase is given. Entries are mode 0600 and
    stamped with the certificate's issue time.
    """
    stem = safe_file_stem(name)
    issued = (cert.not_valid_before_utc + CLOCK_SKEW).timetuple()[:6]
    files = {
        f"{stem}.pfx": pkcs12_bytes(name, key, cert, chain, passphrase=passphrase, profile=profile),
        f"{stem}.crt": b"".join(certificate_pem(c) for c in [cert, *chain]),
        f"{stem}.key": private_key_pem(key, passphrase),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for filename, content in files.items():
            info = zipfile.ZipInfo(filename, date_time=issued)
            info.external_attr = 0o100600 << 16  # regular file, rw-------
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


_UNSAFE_FILE_CHARS = set('/\\:*?"<>|')
_WINDOWS_DEVICES = re.compile(r"(?i)^(con|prn|aux|nul|com[1-9]|lpt[1-9])(\..*)?$")


def safe_file_stem(name: str) -> str:
    """``name`` made safe as a file name on Linux, macOS and Windows; never empty."""
    stem = "".join(
        "_" if ch in _UNSAFE_FILE_CHARS or unicodedata.category(ch) == "Cc" else ch for ch in name
    )
    stem = re.sub(r"^[. ]+|[. ]+$", lambda m: "_" * len(m.group()), stem)
    if _WINDOWS_DEVICES.match(stem):
        stem = f"{stem}_"
    return stem or "certificate"


def private_key_pem(key: PrivateKey, passphrase: Secret | None) -> bytes:
    """PEM PKCS#8, encrypted when a non-empty passphrase is given.

    Encryption is cryptography's ``BestAvailableEncryption``: today PBES2, AES-256-CBC,
    PBKDF2-HMAC-SHA256 with 2048 rounds (as ``openssl pkcs8 -topk8``).
    """
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.reveal())
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(serialization.Encoding.PEM, PrivateFormat.PKCS8, encryption)


def certificate_pem(cert: x509.Certificate) -> bytes:
    """The certificate as PEM."""
    return cert.public_bytes(serialization.Encoding.PEM)


# ---- helpers ---------------------------------------------------------------------------


def _require_utc(*moments: datetime) -> None:
    if any(moment.tzinfo is None for moment in moments):
        raise ValueError("datetimes must be timezone-aware (UTC)")


def _check_within_ca(ca_cert: x509.Certificate, not_after: datetime) -> None:
    if not_after > ca_cert.not_valid_after_utc:
        raise InvalidInput(
            f"The expiration {_when(not_after)} is after the issuing CA expires "
            f"({_when(ca_cert.not_valid_after_utc)}); choose a shorter period."
        )


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _common_name(value: str) -> x509.NameAttribute[str]:
    """A CN attribute; RFC 5280's 64-character bound is not enforced (names go up to 100)."""
    return x509.NameAttribute(NameOID.COMMON_NAME, value, _validate=False)


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        return x509.DNSName(host.strip().lower().encode("idna").decode("ascii"))
    except UnicodeError:
        raise InvalidInput(f"{host!r} is not a valid host name.") from None


def _signature_hash(key: PrivateKey) -> hashes.SHA256 | hashes.SHA384 | hashes.SHA512 | None:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size > 256:
        return hashes.SHA384() if key.curve.key_size <= 384 else hashes.SHA512()
    return hashes.SHA256()


def _authority_key_identifier(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    key_id = extension_value(ca_cert, x509.SubjectKeyIdentifier)
    if key_id is None:
        key_id = x509.SubjectKeyIdentifier.from_public_key(ca_cert.public_key())
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(key_id)


def _pkcs12_encryption(
    passphrase: Secret | None, profile: Pkcs12Profile
) -> serialization.KeySerializationEncryption:
    if not passphrase:
        return serialization.NoEncryption()
    builder = PrivateFormat.PKCS12.encryption_builder()
    if profile is Pkcs12Profile.LEGACY:
        builder = (
            builder.kdf_rounds(LEGACY_KDF_ROUNDS)
            .key_cert_algorithm(PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())
        )
    else:
        builder = (
            builder.kdf_rounds(MODERN_KDF_ROUNDS)
            .key_cert_algorithm(PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
        )
    return builder.build(passphrase.reveal())
