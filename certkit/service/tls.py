"""TLS for ``certkit serve``: the server certificate, and which client certificates get in.

Python's :mod:`ssl` cannot accept *any* client certificate and leave the decision to the
application, as nginx's ``ssl_verify_client optional_no_ca`` does: a presented certificate
that fails verification ends the handshake. So the context trusts exactly what the registry
could accept, and the registry decides the rest:

* certkit's client CA, the well-known issuers and the active server certificates;
* every registered client certificate itself, as a trust anchor of its own
  (``VERIFY_X509_PARTIAL_CHAIN``), so self-signed and foreign-issued registered
  certificates complete the handshake without their CA;
* no time check in the handshake (``X509_V_FLAG_NO_CHECK_TIME``), so an expired or not yet
  valid certificate reaches :func:`certkit.authz.authenticate` and gets a clear answer.

The trade-off: a certificate nobody registered, from an unknown CA, is refused in the
handshake (TLS alert ``unknown_ca``) instead of with a JSON 401. Behind the nginx front door
(``deploy/nginx``), which forwards any client certificate, it gets the JSON 401.

A new context is built when the server certificate changes or anchors are added (new
connections use it; open ones keep theirs, and every request is re-authenticated anyway).
Removed anchors are pruned only now and then: OpenSSL loads trust anchors in quadratic time
(3.5 s for 10,000 here), and an anchor left over from a deleted certificate only lets a
handshake finish, after which the registry refuses the certificate.
"""

from __future__ import annotations

import os
import secrets
import ssl
import tempfile
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import Encoding

from certkit import pki
from certkit.ops import Certkit

NO_CHECK_TIME = 0x200000  # X509_V_FLAG_NO_CHECK_TIME (OpenSSL 1.1.0+), not exported by ssl


class TlsContexts:
    """The current server-side TLS context of one node, rebuilt when the registry changes."""

    def __init__(self, kit: Certkit, *, node: str | None = None) -> None:
        self.kit = kit
        self.node = node or kit.local_node()
        self._lock = threading.Lock()
        self._context: ssl.SSLContext | None = None
        self._server_thumbprint: str | None = None
        self._anchors: frozenset[bytes] = frozenset()
        self._identity: tuple[pki.PrivateKey, list[bytes]] | None = None

    @property
    def server_thumbprint(self) -> str | None:
        return self._server_thumbprint

    def current(self) -> ssl.SSLContext:
        """The context for a new connection."""
        context = self._context
        if context is None:
            self.refresh()
            context = self._context
            assert context is not None
        return context

    def refresh(self, *, prune: bool = False) -> bool:
        """Build a new context if the server certificate changed or trust anchors were
        added (with ``prune``, also if some were removed). Returns True if it did."""
        with self._lock:
            view = self.kit.auth_view()
            local = sorted(t for t, node in view.servers.items() if node == self.node)
            thumbprint = local[0] if local else None
            anchors = frozenset(self.kit.trust_anchors())
            if (
                self._context is not None
                and thumbprint == self._server_thumbprint
                and anchors <= self._anchors
                and not (prune and anchors != self._anchors)
            ):
                return False
            if self._identity is None or thumbprint != self._server_thumbprint:
                key, cert, chain = self.kit.server_identity(self.node)
                self._identity = (
                    key,
                    [c.public_bytes(Encoding.PEM) for c in (cert, *chain)],
                )
                thumbprint = pki.thumbprint(cert)
            self._context = _server_context(*self._identity, sorted(anchors))
            self._server_thumbprint, self._anchors = thumbprint, anchors
            return True


def _server_context(
    key: pki.PrivateKey, chain_pem: list[bytes], anchors: list[bytes]
) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    _load_identity(context, key, chain_pem)
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(cadata=b"".join(anchors))
    context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN | NO_CHECK_TIME
    return context


def _load_identity(context: ssl.SSLContext, key: pki.PrivateKey, chain_pem: list[bytes]) -> None:
    """``load_cert_chain`` reads files only: write them to a private temporary directory,
    the key encrypted with a one-time password, and remove them at once."""
    password = secrets.token_urlsafe(24).encode()
    key_pem = key.private_bytes(
        Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )
    with tempfile.TemporaryDirectory(prefix="certkit-tls-") as directory:
        cert_path, key_path = Path(directory) / "cert.pem", Path(directory) / "key.pem"
        for path, data in ((cert_path, b"".join(chain_pem)), (key_path, key_pem)):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
        context.load_cert_chain(cert_path, key_path, password=password)
