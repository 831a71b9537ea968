"""What every use case shares: the home, the registry, the clock and certkit's own keys.

The first operation on a new home initialises it (no separate step needed): the client-
issuing CA and the local node's server certificate are created inside a registry
transaction, so two processes starting at once agree on one of each.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from certkit import pki
from certkit.authz import spki_hash
from certkit.errors import CertkitError, InvalidInput
from certkit.home import Home, write_private_file
from certkit.model import DEFAULT_EXPIRING_THRESHOLD, Clock, Secret, utc_now
from certkit.registry import NewCertificate, Registry, RegistryBackend, Store
from certkit.secretbox import SecretBox, new_salt

DEFAULT_CLUSTER_NAME = "certkit"
DEFAULT_NODE = "A"
CA_FILE = "ca.pfx"


def default_hostnames() -> list[str]:
    names = ["localhost", "127.0.0.1"]
    host = socket.gethostname()
    if host and host not in names:
        names.append(host)
    return names


def new_certificate(cert: x509.Certificate) -> NewCertificate:
    """The registry columns of a certificate, derived from it."""
    info = pki.describe(cert)
    return NewCertificate(
        thumbprint=info.thumbprint,
        sha256=info.sha256,
        subject=info.subject,
        issuer=info.issuer,
        serial=info.serial,
        not_before=info.not_before,
        not_after=info.not_after,
        der=cert.public_bytes(Encoding.DER),
        spki_sha256=spki_hash(cert),
    )


@dataclass(frozen=True, slots=True)
class Authority:
    """certkit's client-issuing CA, loaded with its key."""

    key: pki.PrivateKey
    certificate: x509.Certificate

    def __repr__(self) -> str:
        return f"Authority({self.certificate.subject.rfc4514_string()!r})"


class Base:
    """State shared by the use-case mixins of :class:`certkit.Certkit`."""

    def __init__(
        self,
        home: Home,
        *,
        clock: Clock = utc_now,
        expiring_threshold: timedelta = DEFAULT_EXPIRING_THRESHOLD,
        registry: RegistryBackend | None = None,
    ) -> None:
        self.home = home
        self.registry: RegistryBackend = registry or Registry(home.registry_path)
        self.clock = clock
        self.expiring_threshold = expiring_threshold
        self._authority: Authority | None = None
        self._box: SecretBox | None = None
        self._initialised = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}(home={str(self.home.path)!r})"

    def now(self) -> datetime:
        return self.clock()

    # ------------------------------------------------------------ initialise
    def initialise(
        self,
        *,
        cluster_name: str | None = None,
        node: str | None = None,
        hostnames: Sequence[str] | None = None,
    ) -> bool:
        """Create the CA and server certificate if this home has none; True if it did."""
        created = False
        with self.registry.transaction() as tx:
            if tx.get_meta("ca_thumbprint") is None:
                self._create_home(tx, cluster_name, node, hostnames)
                created = True
            elif cluster_name or node or hostnames:
                raise InvalidInput(
                    f"The certkit home {self.home.path} is already initialised; cluster name, "
                    "node and hostnames can only be chosen on a new home."
                )
        self._initialised = True
        return created

    def _ensure_initialised(self) -> None:
        if not self._initialised:
            self.initialise()

    def _create_home(
        self,
        tx: Store,
        cluster_name: str | None,
        node: str | None,
        hostnames: Sequence[str] | None,
    ) -> None:
        name = (cluster_name or DEFAULT_CLUSTER_NAME).strip()
        if not name or len(name) > 64:
            raise InvalidInput("The cluster name must be 1-64 characters.")
        tag = validate_node(node or DEFAULT_NODE)
        names = [h.strip() for h in (hostnames or default_hostnames()) if h.strip()]
        if not names:
            raise InvalidInput("Give at least one hostname for the server certificate.")
        now = self.now()
        passphrase = self.home.key_passphrase()
        ca_key, ca_cert = pki.create_ca(f"{name} client CA", now=now)
        write_private_file(
            self.home.key_file(CA_FILE),
            pki.key_pkcs12("certkit-ca", ca_key, ca_cert, [], passphrase=passphrase),
        )
        (self.home.path / "ca.crt").write_bytes(pki.certificate_pem(ca_cert))
        tx.set_meta("cluster_name", name)
        tx.set_meta("local_node", tag)
        tx.set_meta("hostnames", ",".join(names))
        tx.set_meta("secret_salt", new_salt().hex())
        self._authority = Authority(ca_key, ca_cert)
        server_key, server_cert = pki.create_server_certificate(
            ca_key, ca_cert, common_name=names[0], hostnames=names, now=now
        )
        self._install_server(tx, tag, server_key, server_cert, [ca_cert], names, passphrase)
        tx.set_meta("ca_thumbprint", pki.thumbprint(ca_cert))
        tx.audit(
            at=now,
            actor="local administrator",
            action="initialise",
            thumbprint=pki.thumbprint(ca_cert),
            name=name,
            details={"node": tag, "hostnames": names},
        )

    def _install_server(
        self,
        tx: Store,
        node: str,
        key: pki.PrivateKey,
        cert: x509.Certificate,
        chain: Sequence[x509.Certificate],
        hostnames: Sequence[str],
        passphrase: Secret,
    ) -> str:
        record = new_certificate(cert)
        key_file = f"server-{node}-{record.thumbprint[:16]}.pfx"
        write_private_file(
            self.home.key_file(key_file),
            pki.key_pkcs12(f"server-{node}", key, cert, chain, passphrase=passphrase),
        )
        tx.install_server_certificate(
            node, record, hostnames=hostnames, key_file=key_file, at=self.now()
        )
        return key_file

    # ------------------------------------------------------------ own keys
    def authority(self) -> Authority:
        """certkit's client-issuing CA with its key (loaded once per process)."""
        if self._authority is None:
            self._ensure_initialised()
            path = self.home.key_file(CA_FILE)
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                raise CertkitError(
                    f"The CA key file {path} is missing; restore the certkit home from a backup."
                ) from None
            key, cert, _ = pki.load_pkcs12_with_key(
                data, passphrase=self.home.key_passphrase(), source=str(path)
            )
            self._authority = Authority(key, cert)
        return self._authority

    def secret_box(self) -> SecretBox:
        """Encrypts TOTP secrets for the registry with a key the database does not hold."""
        if self._box is None:
            self._ensure_initialised()
            with self.registry.read() as tx:
                salt = tx.get_meta("secret_salt")
            if salt is None:
                raise CertkitError("The registry has no secret salt; it was not initialised.")
            self._box = SecretBox.from_passphrase(
                self.home.key_passphrase(), salt=bytes.fromhex(salt)
            )
        return self._box

    def cluster_name(self) -> str:
        self._ensure_initialised()
        with self.registry.read() as tx:
            return tx.get_meta("cluster_name") or DEFAULT_CLUSTER_NAME

    def _meta(self, tx: Store, key: str, default: str = "") -> str:
        value = tx.get_meta(key)
        return default if value is None else value


def validate_node(tag: str) -> str:
    node = tag.strip().upper()
    if not node.isalnum() or not node.isascii() or len(node) > 4:
        raise InvalidInput(f"Invalid node tag {tag!r}; use 1-4 letters or digits, e.g. A.")
    return node


def read_key_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise CertkitError(f"The key file {path} is missing.") from None
