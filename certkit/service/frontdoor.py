"""Files for the nginx front door (``deploy/nginx/certkit.conf``).

nginx terminates TLS with the node's server certificate and presents the same certificate
to ``certkit serve`` as the front proxy, so it needs the key as a PEM file: written here
readable by its owner only (0600). Write them again after ``certkit server replace``.
"""

from __future__ import annotations

from pathlib import Path

from certkit import pki
from certkit.home import write_private_file
from certkit.ops import Certkit

SERVER_CERT = "server.crt"
SERVER_KEY = "server.key"
CA_CERT = "ca.crt"


def write_nginx_files(kit: Certkit, directory: Path, *, node: str | None = None) -> list[Path]:
    """Write ``server.crt`` (certificate and chain), ``server.key`` (0600) and ``ca.crt``
    (certkit's CA, to verify ``certkit serve``) into ``directory``; returns the paths."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key, cert, chain = kit.server_identity(node)
    paths = [directory / SERVER_CERT, directory / SERVER_KEY, directory / CA_CERT]
    paths[0].write_bytes(b"".join(pki.certificate_pem(c) for c in (cert, *chain)))
    write_private_file(paths[1], pki.private_key_pem(key, None))
    paths[2].write_bytes(kit.ca_certificate_pem())
    return paths
