"""The use cases: every business rule lives here once, for the UI, the CLI and the service."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from certkit.home import Home
from certkit.model import DEFAULT_EXPIRING_THRESHOLD, Clock, utc_now
from certkit.ops.clients import Edited, Registration, UploadPreview, normalize_thumbprint
from certkit.ops.server import ServerOps
from certkit.ops.twofactor import TwoFactorOps

__all__ = [
    "Certkit",
    "Edited",
    "Registration",
    "UploadPreview",
    "normalize_thumbprint",
    "open_certkit",
]


class Certkit(TwoFactorOps, ServerOps):
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
) -> Certkit:
    """Open the certkit home (``$CERTKIT_HOME`` or ``~/.certkit`` by default)."""
    return Certkit(Home.at(home), clock=clock, expiring_threshold=expiring_threshold)
