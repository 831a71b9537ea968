"""Server certificates and well-known certificates."""

from __future__ import annotations

from cryptography import x509

from certkit import authz, pki
from certkit.errors import Conflict, InvalidInput, NotFound
from certkit.model import (
    LOCAL_ADMIN,
    Actor,
    CertKind,
    Secret,
    ServerCertificate,
    WellKnownEntry,
)
from certkit.ops.base import Base, new_certificate, read_key_file, validate_node
from certkit.ops.clients import as_passphrase, normalize_thumbprint


class ServerOps(Base):
    """Use cases on the server certificates and the well-known certificates."""

    # ---------------------------------------------------- server certificates
    def server_certificates(self, *, history: bool = False) -> list[ServerCertificate]:
        """The active certificate of each node (and, with ``history``, the replaced ones)."""
        self._ensure_initialised()
        with self.registry.read() as tx:
            return tx.server_certificates(history=history)

    def local_node(self) -> str:
        self._ensure_initialised()
        with self.registry.read() as tx:
            return self._meta(tx, "local_node", "A")

    def hostnames(self) -> list[str]:
        self._ensure_initialised()
        with self.registry.read() as tx:
            return [h for h in self._meta(tx, "hostnames").split(",") if h]

    def export_server_certificates(self) -> bytes:
        """A PKCS#12 of the public server certificates (one per distinct node certificate)."""
        seen: set[str] = set()
        items: list[tuple[str, x509.Certificate]] = []
        with self.registry.read() as tx:
            for server in tx.server_certificates():
                if server.thumbprint in seen:
                    continue
                seen.add(server.thumbprint)
                der = tx.server_certificate_der(server.thumbprint)
                assert der is not None
                items.append((f"node {server.node}", x509.load_der_x509_certificate(der)))
        if not items:
            raise NotFound("This cluster has no server certificate yet.")
        return pki.public_pkcs12(items)

    def server_identity(
        self, node: str | None = None
    ) -> tuple[pki.PrivateKey, x509.Certificate, list[x509.Certificate]]:
        """The active server certificate of a node with its key and chain (for TLS)."""
        tag = validate_node(node) if node else self.local_node()
        with self.registry.read() as tx:
            active = [s for s in tx.server_certificates() if s.node == tag]
        if not active:
            raise NotFound(f"Node {tag} has no server certificate.")
        path = self.home.key_file(active[0].key_file)
        return pki.load_pkcs12_with_key(
            read_key_file(path), passphrase=self.home.key_passphrase(), source=str(path)
        )

    def ca_certificate_pem(self) -> bytes:
        """certkit's client-issuing CA certificate (public), PEM."""
        return pki.certificate_pem(self.authority().certificate)

    def replace_server_certificate(
        self,
        data: bytes,
        *,
        passphrase: Secret | str | None = None,
        node: str | None = None,
        source: str = "the file",
        actor: Actor = LOCAL_ADMIN,
    ) -> ServerCertificate:
        """Check a PKCS#12 with key and make it the node's server certificate.

        It must not be expired, its key must match, it needs serverAuth and clientAuth,
        and (for the local node) it must cover the configured hostnames. The old one is
        kept in the history. Nothing changes if a check fails.
        """
        authz.require_cluster_admin(actor, "replace the server certificate")
        tag, key, cert, chain, names = self._checked_replacement(data, passphrase, node, source)
        row = new_certificate(cert)
        with self.registry.transaction() as tx:
            current = [s for s in tx.server_certificates() if s.node == tag]
            if current and current[0].thumbprint == row.thumbprint:
                raise Conflict(f"{row.thumbprint} is already node {tag}'s server certificate.")
            if tx.find(row.thumbprint) is not None:
                raise Conflict(
                    f"{row.thumbprint} is registered as a client certificate; delete that "
                    "entry before using it as the server certificate."
                )
            self._install_server(
                tx,
                tag,
                key,
                cert,
                chain,
                names or pki.describe(cert).dns_names,
                self.home.key_passphrase(),
            )
            tx.audit(
                at=self.now(),
                actor=actor.label,
                action="replace-server-certificate",
                thumbprint=row.thumbprint,
                name=f"node {tag}",
                details={"previous": current[0].thumbprint if current else None},
            )
            (installed,) = [s for s in tx.server_certificates() if s.node == tag]
        return installed

    def preview_server_replacement(
        self,
        data: bytes,
        *,
        passphrase: Secret | str | None = None,
        node: str | None = None,
        source: str = "the file",
    ) -> pki.CertificateInfo:
        """Run every check of :meth:`replace_server_certificate` without changing anything."""
        _, _, cert, _, _ = self._checked_replacement(data, passphrase, node, source)
        return pki.describe(cert)

    def _checked_replacement(
        self, data: bytes, passphrase: Secret | str | None, node: str | None, source: str
    ) -> tuple[str, pki.PrivateKey, x509.Certificate, list[x509.Certificate], list[str]]:
        key, cert, chain = pki.load_pkcs12_with_key(
            data, passphrase=as_passphrase(passphrase), source=source
        )
        local = self.local_node()
        tag = validate_node(node) if node else local
        names = self.hostnames() if tag == local else []
        pki.check_server_certificate(key, cert, now=self.now(), hostnames=names)
        return tag, key, cert, chain, names

    # --------------------------------------------------------------- well-known
    def well_known(self) -> list[WellKnownEntry]:
        self._ensure_initialised()
        with self.registry.read() as tx:
            return tx.well_known()

    def add_well_known_admin(
        self, thumbprint: str, *, actor: Actor = LOCAL_ADMIN
    ) -> WellKnownEntry:
        """Treat a certificate thumbprint as ClusterAdmin."""
        authz.require_cluster_admin(actor, "add a well-known admin certificate")
        value = normalize_thumbprint(thumbprint)
        self._ensure_initialised()
        with self.registry.transaction() as tx:
            if any(w.thumbprint == value for w in tx.well_known(CertKind.WELL_KNOWN_ADMIN)):
                raise Conflict(f"{value} is already a well-known admin certificate.")
            row_id = tx.add_well_known(
                CertKind.WELL_KNOWN_ADMIN, value, None, at=self.now(), by=actor.label
            )
            tx.audit(
                at=self.now(), actor=actor.label, action="add-well-known-admin", thumbprint=value
            )
            return next(w for w in tx.well_known() if w.id == row_id)

    def add_well_known_issuer(
        self,
        data: bytes,
        *,
        source: str = "the file",
        passphrase: Secret | str | None = None,
        actor: Actor = LOCAL_ADMIN,
    ) -> list[WellKnownEntry]:
        """Trust CA certificates: clients that chain to one of them are ClusterAdmin."""
        authz.require_cluster_admin(actor, "add a well-known issuer")
        bundle = pki.load_certificates(data, passphrase=as_passphrase(passphrase), source=source)
        issuers = []
        for cert in bundle.certificates:
            info = pki.describe(cert)
            if not info.is_ca:
                raise InvalidInput(
                    f"{info.subject} in {source} is not a CA certificate (no basicConstraints "
                    "CA:TRUE); a well-known issuer must be a CA."
                )
            if info.not_after <= self.now():
                raise InvalidInput(
                    f"The CA certificate {info.subject} expired on {info.not_after:%Y-%m-%d}."
                )
            issuers.append(cert)
        self._ensure_initialised()
        with self.registry.transaction() as tx:
            known = {w.thumbprint for w in tx.well_known(CertKind.WELL_KNOWN_ISSUER)}
            ids = []
            for cert in issuers:
                row = new_certificate(cert)
                if row.thumbprint in known:
                    raise Conflict(
                        f"{row.subject} ({row.thumbprint}) is already a well-known issuer."
                    )
                known.add(row.thumbprint)
                ids.append(
                    tx.add_well_known(
                        CertKind.WELL_KNOWN_ISSUER,
                        row.thumbprint,
                        row,
                        at=self.now(),
                        by=actor.label,
                    )
                )
                tx.audit(
                    at=self.now(),
                    actor=actor.label,
                    action="add-well-known-issuer",
                    thumbprint=row.thumbprint,
                    name=row.subject,
                )
            return [w for w in tx.well_known() if w.id in ids]

    def remove_well_known(
        self, identifier: str | int, *, actor: Actor = LOCAL_ADMIN
    ) -> WellKnownEntry:
        """Remove a well-known entry by its id (see ``well-known list``) or thumbprint."""
        authz.require_cluster_admin(actor, "remove a well-known certificate")
        text = str(identifier).strip()
        with self.registry.transaction() as tx:
            entries = tx.well_known()
            if text.isdigit():
                match = [w for w in entries if w.id == int(text)]
            else:
                value = normalize_thumbprint(text)
                match = [w for w in entries if w.thumbprint == value]
            if not match:
                raise NotFound(
                    f"No well-known certificate {text!r}; see 'certkit well-known list'."
                )
            removed = tx.remove_well_known(match[0].id)
            assert removed is not None
            tx.audit(
                at=self.now(),
                actor=actor.label,
                action=f"remove-{removed.kind.value}",
                thumbprint=removed.thumbprint,
                name=removed.subject,
            )
        return removed
