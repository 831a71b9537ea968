"""Reading the certificates that users give certkit: PEM, DER and PKCS#12.

Every failure is a :class:`~certkit.errors.CertkitError` whose message names the file.
Private keys found in an upload are read only to check them, then dropped. The checks of
what was read are in :mod:`certkit.pki_inspect`; :mod:`certkit.pki` re-exports both.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from certkit.errors import InvalidInput, WrongPassphrase
from certkit.model import Secret
from certkit.pki_inspect import PrivateKey, issued_by, public_key_der

MAX_UPLOAD_BYTES = 10 * 1024 * 1024

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END ([A-Z0-9 ]+)-----", re.S)
_CERT_LABELS = {b"CERTIFICATE", b"X509 CERTIFICATE"}
_CSR_LABELS = {b"CERTIFICATE REQUEST", b"NEW CERTIFICATE REQUEST"}
_CHAIN_TRIES = 16  # signature checks per candidate issuer in split_collection (bounds the work)


@dataclass(frozen=True, slots=True)
class LoadedBundle:
    """The certificates read from one file, in file order, and how many private keys it held."""

    certificates: tuple[x509.Certificate, ...]
    private_key_count: int
    format: str  # "PEM", "DER" or "PKCS#12"


def load_certificates(
    data: bytes, *, passphrase: Secret | None = None, source: str = "the file"
) -> LoadedBundle:
    """Read every certificate in a PEM, DER or PKCS#12 file.

    Args:
        data: the file's bytes (at most ``MAX_UPLOAD_BYTES``).
        passphrase: for a PKCS#12 file or encrypted PEM keys; giving one to a file that
            needs none is an error. An encrypted PEM key without a passphrase is only counted.
        source: how messages name the file, e.g. ``"cert.pfx"``.

    Raises:
        WrongPassphrase: a PKCS#12 or key that the passphrase (or its absence) does not open.
        InvalidInput: anything else that is not a readable certificate file.
    """
    _check_size(data, source)
    pem = b"-----BEGIN " in data
    if data[:1] == b"\x30" and (data[1:2] >= b"\x80" or not pem):  # DER SEQUENCE, not text
        bundle = _load_binary(data, passphrase or None, source)
    elif pem:
        bundle = _load_pem(data, passphrase or None, source)
    else:
        raise InvalidInput(f"{_cap(source)} is not a certificate: expected PEM, DER or PKCS#12.")
    for position, cert in enumerate(bundle.certificates, start=1):
        try:  # parsing is lazy: surface malformed names or extensions here, not in a page
            cert.subject, cert.issuer, cert.extensions  # noqa: B018
        except (ValueError, x509.DuplicateExtension, x509.UnsupportedGeneralNameType) as error:
            raise InvalidInput(
                f"Certificate #{position} in {source} is malformed ({error}); it cannot be used."
            ) from None
    return bundle


def load_pkcs12_with_key(
    data: bytes, *, passphrase: Secret | None, source: str = "the file"
) -> tuple[PrivateKey, x509.Certificate, list[x509.Certificate]]:
    """Read a PKCS#12 file that must hold a private key and its certificate.

    Returns:
        The key, its certificate, and the other certificates (the chain) in file order.
    """
    _check_size(data, source)
    if not _is_pfx(data):
        raise InvalidInput(f"{_cap(source)} is not a PKCS#12 (.pfx/.p12) file with a private key.")
    p12 = _open_pkcs12(data, passphrase or None, source)
    key = p12.key
    if key is None:
        raise InvalidInput(f"{_cap(source)} holds no private key; export it with its key.")
    if not isinstance(key, PrivateKey):
        raise InvalidInput(
            f"{_cap(source)} holds a {type(key).__name__}; use an EC, RSA or Ed25519 key."
        )
    certs = [c.certificate for c in ([p12.cert] if p12.cert else []) + p12.additional_certs]
    cert = next(
        (c for c in certs if public_key_der(c.public_key()) == public_key_der(key.public_key())),
        None,
    )
    if cert is None:
        raise InvalidInput(f"The private key in {source} does not match any certificate in it.")
    return key, cert, [c for c in certs if c is not cert]


def split_collection(
    certificates: Sequence[x509.Certificate],
) -> tuple[list[x509.Certificate], list[tuple[x509.Certificate, str]]]:
    """Separate the certificates of a collection from duplicates and chain material.

    A certificate that (by name and signature) issued another certificate of the file is
    chain material; a self-signed certificate issuing only itself is not.

    Returns:
        The members in file order (the first is the primary), and the skipped ones with the
        reason for each.
    """
    first_seen: dict[x509.Certificate, int] = {}
    unique: list[x509.Certificate] = []
    skipped: list[tuple[x509.Certificate, str]] = []
    for position, cert in enumerate(certificates, start=1):
        first = first_seen.setdefault(cert, position)  # one hash of the DER, not two
        if first != position:
            skipped.append((cert, f"duplicate of certificate #{first} in the file"))
            continue
        unique.append(cert)
    # Grouped by the hash of the issuer name, compared as names only within a group: a dict
    # keyed by x509.Name compares every issuer with the group's first name in Python, about
    # 3 us each (30 ms for an upload of 10,000 from one CA); hashes that differ never match.
    by_issuer: dict[int, list[x509.Certificate]] = {}
    for cert in unique:
        by_issuer.setdefault(hash(cert.issuer), []).append(cert)
    members: list[x509.Certificate] = []
    for cert in unique:
        same_hash = by_issuer.get(hash(cert.subject), ())
        issued = [o for o in same_hash if o is not cert and o.issuer == cert.subject]
        if any(issued_by(other, cert) for other in issued[:_CHAIN_TRIES]):
            skipped.append((cert, "issued another certificate in the file (chain material)"))
        else:
            members.append(cert)
    return members, skipped


def _cap(source: str) -> str:
    return source[:1].upper() + source[1:] if source.startswith("the ") else source


def _check_size(data: bytes, source: str) -> None:
    if not data.strip():
        raise InvalidInput(f"{_cap(source)} is empty.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidInput(
            f"{_cap(source)} is {len(data) / 1024 / 1024:.1f} MB; the limit is "
            f"{MAX_UPLOAD_BYTES // 1024 // 1024} MB."
        )


def _no_passphrase_needed(passphrase: Secret | None, source: str) -> None:
    if passphrase:
        raise InvalidInput(
            f"{_cap(source)} has no encrypted key and needs no passphrase; "
            "leave the passphrase out."
        )


# ---- PEM -------------------------------------------------------------------------------


def _load_pem(data: bytes, passphrase: Secret | None, source: str) -> LoadedBundle:
    begins = data.count(b"-----BEGIN ")
    if begins and begins == data.count(b"-----BEGIN CERTIFICATE-----"):
        # Only certificate blocks: one call reads a whole bundle (10,000 in ~40 ms), without
        # the block regex (another ~40 ms). Every BEGIN line read as a certificate means every
        # block was whole, so anything short of that takes the checks below instead.
        try:
            fast = x509.load_pem_x509_certificates(data)
        except ValueError:
            fast = []
        if len(fast) == begins:
            _no_passphrase_needed(passphrase, source)
            return LoadedBundle(tuple(fast), 0, "PEM")
    blocks = list(_PEM_BLOCK.finditer(data))
    if len(blocks) != data.count(b"-----BEGIN ") or any(b[1] != b[3] for b in blocks):
        raise InvalidInput(
            f"{_cap(source)} is truncated or damaged: a PEM block has no matching END line."
        )
    labels = [block[1] for block in blocks]
    certificates = _pem_certificates(data, blocks, source)
    key_blocks = [block for block in blocks if block[1].endswith(b"PRIVATE KEY")]
    encrypted = sum(_check_pem_key(block[0], passphrase, source) for block in key_blocks)
    if not certificates:
        if key_blocks:
            raise InvalidInput(f"{_cap(source)} contains a private key but no certificate.")
        if _CSR_LABELS & set(labels):
            raise InvalidInput(
                f"{_cap(source)} is a certificate signing request (CSR), not a certificate; "
                "upload the certificate that a CA issued for it."
            )
        raise InvalidInput(f"{_cap(source)} contains no certificate.")
    if not encrypted:
        _no_passphrase_needed(passphrase, source)
    return LoadedBundle(tuple(certificates), len(key_blocks), "PEM")


def _pem_certificates(
    data: bytes, blocks: list[re.Match[bytes]], source: str
) -> list[x509.Certificate]:
    certificates: list[x509.Certificate] = []
    for position, block in enumerate(blocks, start=1):
        try:
            if block[1] in _CERT_LABELS:
                certificates.append(x509.load_pem_x509_certificate(block[0]))
            elif block[1] == b"TRUSTED CERTIFICATE":  # OpenSSL's cert + trust settings
                der = base64.b64decode(b"".join(block[2].split()), validate=True)
                certificates.append(x509.load_der_x509_certificate(der[: _der_size(der)]))
            elif block[1] == b"PKCS7":  # a .p7b certificate bundle
                certificates.extend(pkcs7.load_pem_pkcs7_certificates(block[0]))
        except (ValueError, binascii.Error):
            raise InvalidInput(
                f"{_cap(source)} is damaged: PEM block #{position} ({block[1].decode()}) "
                "is truncated or has bad base64."
            ) from None
    return certificates


def _check_pem_key(block: bytes, passphrase: Secret | None, source: str) -> bool:
    """Check one PEM private key; return whether it is encrypted."""
    loader: Callable[[bytes, bytes | None], object] = (
        serialization.load_ssh_private_key
        if block.startswith(b"-----BEGIN OPENSSH")
        else serialization.load_pem_private_key
    )
    try:
        loader(block, None)
        return False
    except TypeError:  # encrypted
        pass
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidInput(f"The private key in {source} is damaged or not supported.") from None
    if passphrase:
        try:
            loader(block, passphrase.reveal())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise WrongPassphrase(
                f"Wrong passphrase for the private key in {source}, or the key is damaged."
            ) from None
    return True


# ---- DER and PKCS#12 --------------------------------------------------------------------


def _load_binary(data: bytes, passphrase: Secret | None, source: str) -> LoadedBundle:
    certificates = _der_certificates(data)
    if certificates:
        _no_passphrase_needed(passphrase, source)
        return LoadedBundle(tuple(certificates), 0, "DER")
    if _is_pfx(data):
        p12 = _open_pkcs12(data, passphrase, source)
        pairs = ([p12.cert] if p12.cert else []) + p12.additional_certs
        if not pairs:
            raise InvalidInput(f"{_cap(source)} contains a private key but no certificate.")
        return LoadedBundle(
            tuple(p.certificate for p in pairs), int(p12.key is not None), "PKCS#12"
        )
    _refuse_other_der(data, source)
    size = _der_size(data)
    if size is not None and size > len(data):
        raise InvalidInput(
            f"{_cap(source)} is truncated: it is {len(data)} bytes, its DER header says {size}."
        )
    raise InvalidInput(f"{_cap(source)} is not a certificate: expected PEM, DER or PKCS#12.")


def _der_certificates(data: bytes) -> list[x509.Certificate]:
    """DER certificates one after another (padding with whitespace or zeros allowed)."""
    found: list[x509.Certificate] = []
    while data.strip(b"\x00 \t\r\n"):
        size = _der_size(data)
        if size is None or size > len(data):
            return []
        try:
            found.append(x509.load_der_x509_certificate(data[:size]))
        except ValueError:
            return []
        data = data[size:]
    return found


def _refuse_other_der(data: bytes, source: str) -> None:
    try:
        x509.load_der_x509_csr(data)
    except ValueError:
        pass
    else:
        raise InvalidInput(
            f"{_cap(source)} is a certificate signing request (CSR), not a certificate; "
            "upload the certificate that a CA issued for it."
        )
    try:
        serialization.load_der_private_key(data, None)
    except TypeError:  # an encrypted key
        raise InvalidInput(f"{_cap(source)} contains a private key but no certificate.") from None
    except (ValueError, UnsupportedAlgorithm):
        pass
    else:
        raise InvalidInput(f"{_cap(source)} contains a private key but no certificate.")


def _open_pkcs12(
    data: bytes, passphrase: Secret | None, source: str
) -> pkcs12.PKCS12KeyAndCertificates:
    size = _der_size(data)
    if size is not None and size > len(data):
        raise InvalidInput(f"{_cap(source)} is truncated: the PKCS#12 data ends early.")
    if passphrase is None:
        try:
            return pkcs12.load_pkcs12(data, None)
        except ValueError:
            raise WrongPassphrase(
                f"{_cap(source)} is protected by a passphrase; give it (or the file is damaged)."
            ) from None
    try:
        return pkcs12.load_pkcs12(data, passphrase.reveal())
    except ValueError:
        pass
    try:
        pkcs12.load_pkcs12(data, None)
    except ValueError:
        raise WrongPassphrase(f"Wrong passphrase for {source}, or the file is damaged.") from None
    raise InvalidInput(f"{_cap(source)} opens without a passphrase; leave the passphrase out.")


def _der_header(data: bytes) -> tuple[int, int | None] | None:
    """(header length, content length or None when indefinite) of the first DER element."""
    if len(data) < 2:
        return None
    first = data[1]
    if first < 0x80:
        return 2, first
    if first == 0x80:
        return 2, None
    count = first & 0x7F
    if count > 4 or len(data) < 2 + count:
        return None
    return 2 + count, int.from_bytes(data[2 : 2 + count], "big")


def _der_size(data: bytes) -> int | None:
    header = _der_header(data)
    if header is None or header[1] is None:
        return None
    return header[0] + header[1]


def _is_pfx(data: bytes) -> bool:
    """A PKCS#12 PFX starts with SEQUENCE { INTEGER 3, ... }."""
    header = _der_header(data)
    return (
        data[:1] == b"\x30"
        and header is not None
        and data[header[0] : header[0] + 3] == b"\x02\x01\x03"
    )
