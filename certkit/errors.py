"""The CertkitError family: every failure an administrator can act on.

Each message is a full sentence that says what was wrong and, where it helps, what to do.
Programmer errors stay ``TypeError``/``ValueError``; security checks raise rather than
return ``False``.
"""

from __future__ import annotations


class CertkitError(Exception):
    """Base class of every user-facing certkit failure."""

    exit_code = 2

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class InvalidInput(CertkitError):
    """A value or file given by the user cannot be used (bad name, bad file, bad option)."""


class WrongPassphrase(InvalidInput):
    """A PKCS#12 or key file could not be opened with the passphrase given (or without one)."""


class NotFound(CertkitError):
    """The certificate, entry or setting asked for does not exist."""


class Conflict(CertkitError):
    """The change would collide with what is registered (duplicate thumbprint or name)."""


class PermissionDenied(CertkitError):
    """The actor's clearance does not allow the change."""


class TotpRejected(CertkitError):
    """A two-factor code was refused: wrong, reused, or the certificate is locked out."""

    exit_code = 1


class RegistryBusy(CertkitError):
    """Another process held the registry for longer than the retry budget."""
