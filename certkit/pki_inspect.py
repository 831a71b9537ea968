"""Inspecting certificates: fingerprints, a description, and the client and server checks.

Every check raises :class:`~certkit.errors.InvalidInput` with the reason (never returns False).
:mod:`certkit.pki` re-exports everything public here.
"""

from __future__ import annotations

import ipaddress
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certkit.errors import InvalidInput

# certkit names go up to 100 characters, past RFC 5280's 64 for a common name, and
# cryptography warns each time it reads such a name; the length is deliberate, so be quiet.
warnings.filterwarnings("ignore", r"Attribute's length must be >= 1 and <= 64", UserWarning)

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

_Ext = TypeVar("_Ext", bound=x509.ExtensionType)


def thumbprint(cert: x509.Certificate) -> str:
    """SHA-1 of the DER certificate: 40 uppercase hex characters, no separators."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def sha256_fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate: 64 uppercase hex characters."""
    return cert.fingerprint(hashes.SHA256()).hex().upper()


def serial_hex(cert: x509.Certificate) -> str:
    """The serial number in uppercase hex, padded to whole bytes as OpenSSL prints it."""
    text = f"{cert.serial_number:X}"
    return text.zfill(len(text) + len(text) % 2)


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """What an administrator sees of a certificate; every field derived from its DER."""

    thumbprint: str
    sha256: str
    subject: str
    issuer: str
    common_name: str | None
    serial: str
    not_before: datetime
    not_after: datetime
    is_ca: bool
    self_signed: bool
    key_description: str
    extended_key_usages: tuple[str, ...]
    key_usages: tuple[str, ...]
    dns_names: tuple[str, ...]


_KEY_USAGE_NAMES = (
    ("digital_signature", "digitalSignature"),
    ("content_commitment", "nonRepudiation"),
    ("key_encipherment", "keyEncipherment"),
    ("data_encipherment", "dataEncipherment"),
    ("key_agreement", "keyAgreement"),
    ("key_cert_sign", "keyCertSign"),
    ("crl_sign", "cRLSign"),
)
_CURVE_NAMES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}


def describe(cert: x509.Certificate) -> CertificateInfo:
    """The fields of ``cert`` that certkit shows and stores."""
    constraints = extension_value(cert, x509.BasicConstraints)
    purposes = extension_value(cert, x509.ExtendedKeyUsage)
    usage = extension_value(cert, x509.KeyUsage)
    names = extension_value(cert, x509.SubjectAlternativeName)
    common_names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return CertificateInfo(
        thumbprint=thumbprint(cert),
        sha256=sha256_fingerprint(cert),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        common_name=str(common_names[0].value) if common_names else None,
        serial=serial_hex(cert),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        is_ca=bool(constraints and constraints.ca),
        self_signed=cert.subject == cert.issuer and issued_by(cert, cert),
        key_description=_key_description(cert),
        extended_key_usages=tuple(extended_key_usage_name(oid) for oid in purposes or ()),
        key_usages=_key_usage_names(usage) if usage else (),
        dns_names=_san_strings(names) if names else (),
    )


def check_server_certificate(
    key: PrivateKey, cert: x509.Certificate, *, now: datetime, hostnames: Sequence[str]
) -> CertificateInfo:
    """Check a replacement server certificate before anything changes; return its description.

    Raises:
        InvalidInput: not yet valid or expired, the key does not match, an extended key usage
            without serverAuth or clientAuth, a key usage without digitalSignature, or a host
            name that the subject alternative names do not cover (``*.x`` covers one label).
    """
    _require_utc(now)
    if now < cert.not_valid_before_utc:
        raise InvalidInput(
            f"The server certificate is not valid before {_when(cert.not_valid_before_utc)}."
        )
    if now >= cert.not_valid_after_utc:
        raise InvalidInput(f"The server certificate expired on {_when(cert.not_valid_after_utc)}.")
    if public_key_der(key.public_key()) != public_key_der(cert.public_key()):
        raise InvalidInput("The private key does not match the server certificate.")
    purposes = extension_value(cert, x509.ExtendedKeyUsage)
    if purposes is not None and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in purposes:
        for oid, label in (
            (ExtendedKeyUsageOID.SERVER_AUTH, "serverAuth"),
            (ExtendedKeyUsageOID.CLIENT_AUTH, "clientAuth"),
        ):
            if oid not in purposes:
                raise InvalidInput(
                    f"The server certificate's extended key usage lacks {label}; it needs "
                    "serverAuth and clientAuth (nodes also connect to each other as clients)."
                )
    usage = extension_value(cert, x509.KeyUsage)
    if usage is not None and not usage.digital_signature:
        raise InvalidInput("The server certificate's key usage lacks digitalSignature.")
    names = extension_value(cert, x509.SubjectAlternativeName)
    for host in hostnames:
        if names is None or not _covers(names, host):
            raise InvalidInput(
                f"The server certificate does not cover the host name {host!r}; "
                "its subject alternative names must include it."
            )
    return describe(cert)


def check_client_certificate(
    cert: x509.Certificate, *, now: datetime, source: str = "the certificate"
) -> None:
    """Raise unless ``cert`` can authenticate a TLS client.

    Refused: an expired certificate; a CA certificate (basicConstraints CA:TRUE) that either
    allows keyCertSign in its key usage or is not self-signed; an extended key usage without
    clientAuth (or anyExtendedKeyUsage); a key usage without digitalSignature. So the default
    self-signed certificate of ``openssl req -x509`` (CA:TRUE, no key usage) is accepted, while
    an issuing CA such as the one :func:`certkit.pki.create_ca` makes is refused.

    Raises:
        InvalidInput: with the reason.
    """
    _require_utc(now)
    if now >= cert.not_valid_after_utc:
        raise InvalidInput(
            f"{_cap(source)} expired on {_when(cert.not_valid_after_utc)}; "
            "it cannot authenticate a TLS client."
        )
    constraints, usage, purposes = _client_extensions(cert)
    if constraints is not None and constraints.ca:
        if (usage is not None and usage.key_cert_sign) or not issued_by(cert, cert):
            raise InvalidInput(
                f"{_cap(source)} is a CA certificate; it cannot authenticate a TLS client. "
                "Register the certificates it issued, or add it as a well-known issuer."
            )
    allowed = {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
    if purposes is not None and not allowed & set(purposes):
        names = ", ".join(extended_key_usage_name(oid) for oid in purposes) or "none"
        raise InvalidInput(
            f"{_cap(source)} has an extended key usage ({names}) without clientAuth; "
            "it cannot authenticate a TLS client."
        )
    if usage is not None and not usage.digital_signature:
        raise InvalidInput(
            f"{_cap(source)} has a key usage without digitalSignature; "
            "it cannot authenticate a TLS client."
        )


def issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``issuer``'s name is ``cert``'s issuer and its key verifies the signature."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def same_public_key(a: x509.Certificate, b: x509.Certificate) -> bool:
    """Whether two certificates carry the same public key."""
    return public_key_der(a.public_key()) == public_key_der(b.public_key())


_EKU_NAMES = {
    ExtendedKeyUsageOID.SERVER_AUTH: "serverAuth",
    ExtendedKeyUsageOID.CLIENT_AUTH: "clientAuth",
    ExtendedKeyUsageOID.CODE_SIGNING: "codeSigning",
    ExtendedKeyUsageOID.EMAIL_PROTECTION: "emailProtection",
    ExtendedKeyUsageOID.TIME_STAMPING: "timeStamping",
    ExtendedKeyUsageOID.OCSP_SIGNING: "OCSPSigning",
    ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE: "anyExtendedKeyUsage",
}


def extended_key_usage_name(oid: x509.ObjectIdentifier) -> str:
    """The RFC 5280 name of an extended key usage ("clientAuth"), else its dotted OID."""
    return _EKU_NAMES.get(oid, oid.dotted_string)


def extension_value(cert: x509.Certificate, kind: type[_Ext]) -> _Ext | None:
    """The value of the extension of class ``kind`` in ``cert``, or None when absent."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _client_extensions(
    cert: x509.Certificate,
) -> tuple[x509.BasicConstraints | None, x509.KeyUsage | None, x509.ExtendedKeyUsage | None]:
    """The three extensions the client check reads, in one pass over the extensions.

    As :func:`extension_value` finds them (the first of each class; parsing refuses a
    duplicate), without its three scans and the exceptions for absent ones: an upload of
    10,000 certificates is checked in a third of the time.
    """
    constraints: x509.BasicConstraints | None = None
    usage: x509.KeyUsage | None = None
    purposes: x509.ExtendedKeyUsage | None = None
    for extension in cert.extensions:
        value = extension.value
        if isinstance(value, x509.BasicConstraints) and constraints is None:
            constraints = value
        elif isinstance(value, x509.KeyUsage) and usage is None:
            usage = value
        elif isinstance(value, x509.ExtendedKeyUsage) and purposes is None:
            purposes = value
    return constraints, usage, purposes


def public_key_der(key: PublicKeyTypes) -> bytes:
    """A public key as DER SubjectPublicKeyInfo (to compare keys)."""
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# ---- helpers ---------------------------------------------------------------------------


def _require_utc(*moments: datetime) -> None:
    if any(moment.tzinfo is None for moment in moments):
        raise ValueError("datetimes must be timezone-aware (UTC)")


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _covers(names: x509.SubjectAlternativeName, host: str) -> bool:
    try:
        return ipaddress.ip_address(host) in names.get_values_for_type(x509.IPAddress)
    except ValueError:
        pass
    wanted = host.strip().lower().rstrip(".")
    for pattern in (name.lower().rstrip(".") for name in names.get_values_for_type(x509.DNSName)):
        if pattern == wanted:
            return True
        label, _, rest = wanted.partition(".")
        if pattern.startswith("*.") and label and rest == pattern[2:]:
            return True
    return False


def _key_description(cert: x509.Certificate) -> str:
    try:
        key = cert.public_key()
    except (ValueError, UnsupportedAlgorithm):  # an algorithm cryptography cannot load
        return cert.public_key_algorithm_oid.dotted_string
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {_CURVE_NAMES.get(key.curve.name, key.curve.name)}"
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        return f"{'RSA' if isinstance(key, rsa.RSAPublicKey) else 'DSA'} {key.key_size}"
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "Ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "Ed448"
    return type(key).__name__.removeprefix("_")


def _key_usage_names(usage: x509.KeyUsage) -> tuple[str, ...]:
    names = [label for attribute, label in _KEY_USAGE_NAMES if getattr(usage, attribute)]
    if usage.key_agreement:
        names += [
            label
            for flag, label in (
                (usage.encipher_only, "encipherOnly"),
                (usage.decipher_only, "decipherOnly"),
            )
            if flag
        ]
    return tuple(names)


def _san_strings(names: x509.SubjectAlternativeName) -> tuple[str, ...]:
    return tuple(
        str(name.value) for name in names if isinstance(name, x509.DNSName | x509.IPAddress)
    )


def _cap(source: str) -> str:
    return source[:1].upper() + source[1:] if source.startswith("the ") else source
