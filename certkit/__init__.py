"""certkit: client and server certificates for a secure service."""

from __future__ import annotations

__version__ = "0.1.0"
