"""The use cases: every business rule lives here once, for the UI, the CLI and the service."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from certkit import pki
from certkit.errors import InvalidInput
from certkit.home import Home
from certkit.model import DEFAULT_EXPIRING_THRESHOLD, Clock, utc_now
from certkit.ops.auth import AuthOps
from certkit.ops.backup import BackupOps
from certkit.ops.clients import Edited, normalize_thumbprint
from certkit.ops.expiry import ExpiryOps
from certkit.ops.migrate import MigrateOps
from certkit.ops.renew import RenewOps
from certkit.ops.server import ServerOps
from certkit.ops.twofactor import TwoFactorOps
from certkit.ops.uploads import Registration, UploadOps, UploadPreview
from certkit.registry import open_registry

__all__ = [
    "Certkit",
    "Edited",
    "Registration",
    "UploadPreview",
    "normalize_thumbprint",
    "open_certkit",
    "read_upload",
    "zip_name",
]

MAX_UPLOAD_BYTES = pki.MAX_UPLOAD_BYTES


def read_upload(path: Path) -> bytes:
    """Read a file to upload, refusing directories and files over the 10 MB limit."""
    try:
        size = path.stat().st_size
        if size > MAX_UPLOAD_BYTES:
            raise InvalidInput(
                f"{path.name} is {size / 2**20:.1f} MB; "
                f"the limit is {MAX_UPLOAD_BYTES // 2**20} MB."
            )
        return path.read_bytes()
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a directory, not a file.") from None
    except OSError as error:
        raise InvalidInput(f"Cannot read {path}: {error.strerror}.") from None


def zip_name(name: str) -> str:
    """The file name of the zip that generating a certificate called ``name`` writes."""
    from certkit.model import validate_name

    return f"{pki.safe_file_stem(validate_name(name))}.zip"


class Certkit(
    UploadOps, RenewOps, ExpiryOps, BackupOps, MigrateOps, AuthOps, TwoFactorOps, ServerOps
):
    """certkit's operations on one home: clients, server certificates, well-known, 2FA.

    Example:
        >>> kit = open_certkit()
        >>> made = kit.generate_client_certificate("alice", permissions={"HR": "ReadWrite"})
        >>> made.record.thumbprint  # doctest: +SKIP
    """


def open_certkit(
    home: Path | str | None = None,
    *,
    clock: Clock = utc_now,
    expiring_threshold: timedelta = DEFAULT_EXPIRING_THRESHOLD,
    database_url: str | None = None,
) -> Certkit:
    """Open the certkit home (``$CERTKIT_HOME`` or ``~/.certkit`` by default).

    The registry is the DuckDB file in the home unless ``database_url`` (or, when it is not
    given, ``$CERTKIT_DATABASE_URL``) names another: ``postgresql://USER@HOST:PORT/DB`` for
    a PostgreSQL server that several machines share, ``duckdb:PATH`` for another DuckDB
    file. Key files stay in the home either way.
    """
    url = database_url or os.environ.get("CERTKIT_DATABASE_URL") or None
    registry = open_registry(url) if url else None
    return Certkit(
        Home.at(home), clock=clock, expiring_threshold=expiring_threshold, registry=registry
    )
