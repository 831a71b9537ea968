"""Encryption of small secrets (TOTP secrets and the like) for storage in the registry.

The key comes from the key passphrase (``CERTKIT_KEY_PASSPHRASE`` or the home's key file) and a
salt stored with the registry, so the database alone reveals no secret. Each value is sealed
with AES-256-GCM under a random 96-bit nonce, bound to a ``context`` (e.g. ``"totp:42"``) so a
token copied to another entry does not decrypt there.

Token format: ``"v1:" + urlsafe_base64(nonce || ciphertext || tag)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import threading
from typing import ClassVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from certkit.errors import InvalidInput
from certkit.model import Secret

SALT_BYTES = 16
_KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_SCRYPT_N = 2**14
_SCRYPT_R = 8
_SCRYPT_P = 1
_PREFIX = "v1:"
_CACHE_LIMIT = 16
_UNDECRYPTABLE = (
    "The stored secret cannot be decrypted: the key passphrase (CERTKIT_KEY_PASSPHRASE) "
    "does not match the one it was stored with."
)


def new_salt() -> bytes:
    """16 random bytes to store beside the registry, for :meth:`SecretBox.from_passphrase`."""
    return os.urandom(SALT_BYTES)


class SecretBox:
    """Seals and opens small secrets with a key derived from the key passphrase."""

    __slots__ = ("_aead",)

    _keys: ClassVar[dict[bytes, bytes]] = {}
    _keys_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, key: bytes) -> None:
        """Use a raw 256-bit key; most callers want :meth:`from_passphrase` instead."""
        if len(key) != _KEY_BYTES:
            raise ValueError(f"SecretBox needs a {_KEY_BYTES}-byte key")
        self._aead = AESGCM(key)

    @classmethod
    def from_passphrase(cls, passphrase: Secret, *, salt: bytes) -> SecretBox:
        """Derive the key with scrypt (n=2**14, r=8, p=1; about 25 ms), cached per process.

        Args:
            passphrase: The key passphrase; must not be empty.
            salt: At least 16 bytes from :func:`new_salt`, stored with the registry.

        Raises:
            InvalidInput: The passphrase is empty.
        """
        if not passphrase:
            raise InvalidInput(
                "The key passphrase (CERTKIT_KEY_PASSPHRASE) is empty; set a non-empty passphrase."
            )
        if len(salt) < SALT_BYTES:
            raise ValueError(f"the salt must be at least {SALT_BYTES} bytes")
        # Cache by a digest, so the process does not keep the passphrase itself as a dict key.
        cache_key = hmac.digest(salt, passphrase.reveal(), hashlib.sha256)
        with cls._keys_lock:
            key = cls._keys.get(cache_key)
        if key is None:
            kdf = Scrypt(salt=salt, length=_KEY_BYTES, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P)
            key = kdf.derive(passphrase.reveal())
            with cls._keys_lock:
                if len(cls._keys) >= _CACHE_LIMIT:
                    cls._keys.pop(next(iter(cls._keys)))
                cls._keys[cache_key] = key
        return cls(key)

    def encrypt(self, plaintext: bytes, *, context: str) -> str:
        """Seal ``plaintext``; ``context`` names where it is stored (e.g. ``"totp:42"``)."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, context.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, token: str, *, context: str) -> bytes:
        """Open a token from :meth:`encrypt` with the same ``context``.

        Raises:
            InvalidInput: The token is malformed, was tampered with, belongs to another context,
                or was sealed under another passphrase or salt.
        """
        if not token.startswith(_PREFIX):
            raise InvalidInput(_UNDECRYPTABLE)
        try:
            raw = base64.b64decode(token[len(_PREFIX) :], altchars=b"-_", validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(_UNDECRYPTABLE) from None
        if len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise InvalidInput(_UNDECRYPTABLE)
        try:
            return self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode())
        except InvalidTag:
            raise InvalidInput(_UNDECRYPTABLE) from None

    def __repr__(self) -> str:
        return "SecretBox(key=***)"
