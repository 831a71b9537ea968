"""SecretBox: AES-256-GCM with a scrypt key, bound to a context."""

from __future__ import annotations

import base64

import pytest

from certkit.errors import InvalidInput
from certkit.model import Secret
from certkit.secretbox import SecretBox, new_salt

PASSPHRASE = Secret("correct horse battery staple")
PLAINTEXT = b"JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
CONTEXT = "totp:42"


@pytest.fixture
def salt() -> bytes:
    return new_salt()


@pytest.fixture
def box(salt: bytes) -> SecretBox:
    return SecretBox.from_passphrase(PASSPHRASE, salt=salt)


def test_round_trip(box: SecretBox, salt: bytes) -> None:
    token = box.encrypt(PLAINTEXT, context=CONTEXT)
    assert token.startswith("v1:")
    assert box.decrypt(token, context=CONTEXT) == PLAINTEXT
    # A new box from the same passphrase and salt (as another process would build) opens it too.
    again = SecretBox.from_passphrase(Secret(PASSPHRASE.reveal_text()), salt=salt)
    assert again.decrypt(token, context=CONTEXT) == PLAINTEXT


def test_empty_plaintext_round_trips(box: SecretBox) -> None:
    assert box.decrypt(box.encrypt(b"", context=CONTEXT), context=CONTEXT) == b""


def test_token_is_urlsafe_base64_of_nonce_and_ciphertext(box: SecretBox) -> None:
    token = box.encrypt(PLAINTEXT, context=CONTEXT)
    raw = base64.urlsafe_b64decode(token.removeprefix("v1:"))
    assert len(raw) == 12 + len(PLAINTEXT) + 16


def test_wrong_passphrase_is_refused(box: SecretBox, salt: bytes) -> None:
    token = box.encrypt(PLAINTEXT, context=CONTEXT)
    other = SecretBox.from_passphrase(Secret("another passphrase"), salt=salt)
    with pytest.raises(InvalidInput, match=r"CERTKIT_KEY_PASSPHRASE\) does not match"):
        other.decrypt(token, context=CONTEXT)


def test_wrong_salt_is_refused(box: SecretBox) -> None:
    token = box.encrypt(PLAINTEXT, context=CONTEXT)
    other = SecretBox.from_passphrase(PASSPHRASE, salt=new_salt())
    with pytest.raises(InvalidInput, match="cannot be decrypted"):
        other.decrypt(token, context=CONTEXT)


def test_wrong_context_is_refused(box: SecretBox) -> None:
    token = box.encrypt(PLAINTEXT, context=CONTEXT)
    with pytest.raises(InvalidInput, match="cannot be decrypted"):
        box.decrypt(token, context="totp:43")


def _flip(token: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token.removeprefix("v1:")))
    raw[index] ^= 0x01
    return "v1:" + base64.urlsafe_b64encode(bytes(raw)).decode()


@pytest.mark.parametrize("index", [0, 11, 12, -17, -1])  # nonce, ciphertext, tag
def test_tampered_token_is_refused(box: SecretBox, index: int) -> None:
    token = box.encrypt(PLAINTEXT, context=CONTEXT)
    with pytest.raises(InvalidInput, match="cannot be decrypted"):
        box.decrypt(_flip(token, index), context=CONTEXT)


@pytest.mark.parametrize(
    "token",
    ["", "v1:", "v2:AAAA", "AAAA", "v1:not base64!", "v1:" + "A" * 20, "v1:ü", "v1:AAA"],
)
def test_malformed_token_is_refused(box: SecretBox, token: str) -> None:
    with pytest.raises(InvalidInput, match="cannot be decrypted"):
        box.decrypt(token, context=CONTEXT)


def test_truncated_token_is_refused(box: SecretBox) -> None:
    token = box.encrypt(PLAINTEXT, context=CONTEXT)
    with pytest.raises(InvalidInput, match="cannot be decrypted"):
        box.decrypt(token[:-4], context=CONTEXT)


def test_two_encryptions_differ(box: SecretBox) -> None:
    first = box.encrypt(PLAINTEXT, context=CONTEXT)
    second = box.encrypt(PLAINTEXT, context=CONTEXT)
    assert first != second
    assert first[3:19] != second[3:19]  # the nonces differ


def test_plaintext_does_not_appear_in_the_token(box: SecretBox) -> None:
    token = box.encrypt(PLAINTEXT, context=CONTEXT)
    assert PLAINTEXT.decode() not in token
    assert PLAINTEXT not in base64.urlsafe_b64decode(token[3:])
    assert base64.urlsafe_b64encode(PLAINTEXT).decode()[:16] not in token


def test_repr_does_not_show_the_key(box: SecretBox) -> None:
    assert repr(box) == "SecretBox(key=***)"
    assert PASSPHRASE.reveal_text() not in repr(box)


def test_empty_passphrase_is_refused(salt: bytes) -> None:
    with pytest.raises(InvalidInput, match="passphrase"):
        SecretBox.from_passphrase(Secret(""), salt=salt)


def test_short_salt_is_a_programming_error() -> None:
    with pytest.raises(ValueError):
        SecretBox.from_passphrase(PASSPHRASE, salt=b"short")


def test_new_salt_is_16_random_bytes() -> None:
    first, second = new_salt(), new_salt()
    assert len(first) == 16
    assert first != second
