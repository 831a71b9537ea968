"""TOTP two-factor codes (RFC 6238): SHA-1, 6 digits, 30-second steps.

Secrets are 160-bit base32 strings wrapped in :class:`~certkit.model.Secret`. Codes are
accepted within ``WINDOW`` steps of the given time, each timecode at most once: the caller
stores the timecode :func:`verify` returns and passes it back as ``last_used_timecode``.
Lockout after repeated failures is the registry's job, not this module's.
"""

from __future__ import annotations

import hmac
import math
import re
from datetime import datetime
from urllib.parse import quote, urlencode

import pyotp

from certkit.errors import InvalidInput, TotpRejected
from certkit.model import Secret

DIGITS = 6
PERIOD = 30
WINDOW = 1

_SECRET_CHARS = 32  # 32 base32 characters = 160 bits
_CODE = re.compile(r"[0-9]{6}")
_WHITESPACE = re.compile(r"\s+")


def new_secret() -> Secret:
    """A fresh random 160-bit secret, as 32 base32 characters without padding."""
    return Secret(pyotp.random_base32(length=_SECRET_CHARS))


def provisioning_uri(secret: Secret, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI an authenticator app reads from a QR code.

    Args:
        secret: The base32 secret.
        account: Who the code is for (e.g. the certificate name); shown in the app.
        issuer: The service (the cluster's name); shown in the app and used as the label prefix.

    Returns:
        ``otpauth://totp/<issuer>:<account>?secret=...&issuer=...&algorithm=SHA1&digits=6&period=30``
        with the label and parameters percent-escaped (``:``, ``/``, ``@`` and spaces included).
    """
    account, issuer = account.strip(), issuer.strip()
    if not account:
        raise InvalidInput("A two-factor account name is required; it cannot be blank.")
    if not issuer:
        raise InvalidInput("A two-factor issuer name is required; it cannot be blank.")
    label = f"{quote(issuer, safe='')}:{quote(account, safe='')}"
    query = urlencode(
        {
            "secret": _normalized(secret),
            "issuer": issuer,
            "algorithm": "SHA1",
            "digits": DIGITS,
            "period": PERIOD,
        },
        quote_via=quote,
        safe="",
    )
    return f"otpauth://totp/{label}?{query}"


def timecode(at: datetime) -> int:
    """The RFC 6238 time step of ``at``: floor(Unix time / 30). ``at`` must be timezone-aware."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("timecode() needs a timezone-aware datetime")
    return math.floor(at.timestamp()) // PERIOD


def code_at(secret: Secret, at: datetime) -> str:
    """The 6-digit code for ``secret`` at ``at`` (for tests and demos)."""
    return _code_for(_totp(secret), timecode(at))


def verify(secret: Secret, code: str, *, at: datetime, last_used_timecode: int | None) -> int:
    """Check a code typed by a person and return the timecode it matched.

    Args:
        secret: The certificate's base32 secret.
        code: The code as typed; spaces are ignored.
        at: The time of the check (timezone-aware).
        last_used_timecode: The timecode of the last accepted code, or ``None`` if none yet.

    Returns:
        The matched timecode; store it and pass it back as ``last_used_timecode`` next time.

    Raises:
        TotpRejected: The code is not 6 digits, is wrong, or was already used (a code at or
            before ``last_used_timecode`` is a replay).
    """
    typed = _WHITESPACE.sub("", code)
    if not _CODE.fullmatch(typed):
        raise TotpRejected("The code must be 6 digits.")
    totp = _totp(secret)
    now = timecode(at)
    matches: list[int] = []
    for candidate in range(now - WINDOW, now + WINDOW + 1):
        # Compare every candidate, without stopping early, in constant time.
        if hmac.compare_digest(_code_for(totp, candidate).encode(), typed.encode()):
            matches.append(candidate)
    if not matches:
        raise TotpRejected("Wrong code.")
    fresh = [m for m in matches if last_used_timecode is None or m > last_used_timecode]
    if not fresh:
        raise TotpRejected("This code was already used; wait for the next one.")
    return max(fresh)


def _normalized(secret: Secret) -> str:
    """The secret in upper case without spaces or padding (as people may have typed it)."""
    return _WHITESPACE.sub("", secret.reveal_text()).upper().rstrip("=")


def _totp(secret: Secret) -> pyotp.TOTP:
    return pyotp.TOTP(_normalized(secret), digits=DIGITS, interval=PERIOD)


def _code_for(totp: pyotp.TOTP, step: int) -> str:
    return str(totp.generate_otp(step))
