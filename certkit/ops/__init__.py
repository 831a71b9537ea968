"""The use cases: every business rule lives here once, for the UI, the CLI and the service."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from certkit import pki
from certkit.errors import InvalidInput
from certkit.home import Home
from certkit.model import DEFAULT_EXPIRING_THRESHOLD, Clock, utc_now
from certkit.ops.auth import AuthOps
from certkit.ops.backup import BackupOps
from certkit.ops.clients import Edited, Registration, UploadPreview, normalize_thumbprint
from certkit.ops.expiry import ExpiryOps
from certkit.ops.renew import RenewOps
from certkit.ops.server import ServerOps
from certkit.ops.twofactor import TwoFactorOps
from certkit.registry import Registry

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


class Certkit(RenewOps, ExpiryOps, BackupOps, AuthOps, TwoFactorOps, ServerOps):
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

    ``database_url`` (``duckdb:PATH``) puts the registry in another DuckDB file; key files
    stay in the home.
    """
    registry = None
    if database_url:
        scheme, _, rest = database_url.partition(":")
        if scheme.lower() != "duckdb" or not rest.strip("/"):
            raise InvalidInput(
                f"Unsupported database URL {database_url!r}: this version stores the registry "
                "in DuckDB only (duckdb:PATH)."
            )
        registry = Registry(Path(rest.removeprefix("//")).expanduser())
    return Certkit(
        Home.at(home), clock=clock, expiring_threshold=expiring_threshold, registry=registry
    )
