"""TOTP: RFC 6238 vectors, window, replay, formats, URIs, and interop with Debian's oathtool."""

from __future__ import annotations

import base64
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from certkit import totp
from certkit.errors import InvalidInput, TotpRejected
from certkit.model import Secret

RFC_SECRET = Secret(base64.b32encode(b"12345678901234567890").decode())
# RFC 6238 appendix B, SHA-1, 8-digit values; a 6-digit code is the last 6 digits.
RFC_VECTORS = [
    (59, "94287082"),
    (1111111109, "07081804"),
    (1111111111, "14050471"),
    (1234567890, "89005924"),
    (2000000000, "69279037"),
]
AT = datetime(2024, 5, 17, 12, 0, 10, tzinfo=UTC)
STEP = timedelta(seconds=totp.PERIOD)


def _at(unix: int) -> datetime:
    return datetime.fromtimestamp(unix, UTC)


@pytest.mark.parametrize(("unix", "rfc_code"), RFC_VECTORS)
def test_rfc6238_sha1_vectors(unix: int, rfc_code: str) -> None:
    at = _at(unix)
    assert totp.code_at(RFC_SECRET, at) == rfc_code[-6:]
    assert totp.verify(RFC_SECRET, rfc_code[-6:], at=at, last_used_timecode=None) == unix // 30
    assert totp.timecode(at) == unix // 30


def test_timecode_floors_and_needs_aware_datetime() -> None:
    assert totp.timecode(_at(59)) == 1
    assert totp.timecode(_at(60)) == 2
    assert totp.timecode(datetime(1970, 1, 1, 0, 0, 29, 999999, tzinfo=UTC)) == 0
    with pytest.raises(ValueError):
        totp.timecode(datetime(2024, 1, 1))


def test_new_secret_is_160_bit_base32() -> None:
    secret = totp.new_secret()
    text = secret.reveal_text()
    assert len(text) == 32
    assert "=" not in text
    assert len(base64.b32decode(text)) * 8 == 160
    assert totp.new_secret() != secret


def test_secret_repr_does_not_leak() -> None:
    secret = totp.new_secret()
    for shown in (repr(secret), str(secret), f"{secret}", repr([secret])):
        assert secret.reveal_text() not in shown


@pytest.mark.parametrize("steps", [-1, 0, 1])
def test_window_of_one_step_is_accepted(steps: int) -> None:
    secret = totp.new_secret()
    code = totp.code_at(secret, AT + steps * STEP)
    matched = totp.verify(secret, code, at=AT, last_used_timecode=None)
    assert matched == totp.timecode(AT) + steps


@pytest.mark.parametrize("steps", [-3, -2, 2, 3])
def test_two_steps_away_is_refused(steps: int) -> None:
    secret = totp.new_secret()
    code = totp.code_at(secret, AT + steps * STEP)
    if code in {totp.code_at(secret, AT + k * STEP) for k in (-1, 0, 1)}:
        pytest.skip("random secret gave a code collision")
    with pytest.raises(TotpRejected, match=r"^Wrong code\.$"):
        totp.verify(secret, code, at=AT, last_used_timecode=None)


def test_replay_is_refused() -> None:
    code = totp.code_at(RFC_SECRET, AT)
    used = totp.verify(RFC_SECRET, code, at=AT, last_used_timecode=None)
    with pytest.raises(TotpRejected, match="already used; wait for the next one"):
        totp.verify(RFC_SECRET, code, at=AT, last_used_timecode=used)
    # Still refused a few seconds later, while the code is inside the window.
    with pytest.raises(TotpRejected, match="already used"):
        totp.verify(RFC_SECRET, code, at=AT + STEP, last_used_timecode=used)
    # The next step's code is fine.
    later = AT + STEP
    assert (
        totp.verify(RFC_SECRET, totp.code_at(RFC_SECRET, later), at=later, last_used_timecode=used)
        == used + 1
    )


def test_previous_step_code_after_newer_one_is_refused() -> None:
    newer = totp.verify(RFC_SECRET, totp.code_at(RFC_SECRET, AT), at=AT, last_used_timecode=None)
    older_code = totp.code_at(RFC_SECRET, AT - STEP)
    with pytest.raises(TotpRejected, match="already used"):
        totp.verify(RFC_SECRET, older_code, at=AT, last_used_timecode=newer)


def test_wrong_code_is_refused() -> None:
    right = totp.code_at(RFC_SECRET, AT)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    with pytest.raises(TotpRejected, match=r"^Wrong code\.$"):
        totp.verify(RFC_SECRET, wrong, at=AT, last_used_timecode=None)


def test_spaces_in_the_code_are_ignored() -> None:
    code = totp.code_at(RFC_SECRET, AT)
    spaced = f" {code[:3]} {code[3:]} "
    assert totp.verify(RFC_SECRET, spaced, at=AT, last_used_timecode=None) == totp.timecode(AT)


@pytest.mark.parametrize(
    "code",
    [
        "",
        "12345",
        "1234567",
        "12345a",
        "abcdef",
        "12-456",
        "\uff11\uff12\uff13\uff14\uff15\uff16",
        "\u0663\u0664\u0665\u0666\u0667\u0668",
        "0x1234",
    ],
)
def test_bad_formats_are_refused(code: str) -> None:
    with pytest.raises(TotpRejected, match=r"^The code must be 6 digits\.$"):
        totp.verify(RFC_SECRET, code, at=AT, last_used_timecode=None)


def test_rejection_is_a_totp_rejected_with_exit_code_1() -> None:
    with pytest.raises(TotpRejected) as caught:
        totp.verify(RFC_SECRET, "000000x", at=AT, last_used_timecode=None)
    assert caught.value.exit_code == 1


def test_lower_case_and_spaced_secret_still_works() -> None:
    secret = totp.new_secret()
    text = secret.reveal_text().lower()
    spaced = Secret(" ".join(text[i : i + 4] for i in range(0, len(text), 4)))
    assert totp.code_at(spaced, AT) == totp.code_at(secret, AT)


def test_provisioning_uri_shape() -> None:
    secret = Secret("IOTWPQ63OK5RQD3DVV6HPZSLX36XNIUU")
    uri = totp.provisioning_uri(secret, account="alice@example.com", issuer="certkit RavenDB")
    assert uri == (
        "otpauth://totp/certkit%20RavenDB:alice%40example.com"
        "?secret=IOTWPQ63OK5RQD3DVV6HPZSLX36XNIUU&issuer=certkit%20RavenDB"
        "&algorithm=SHA1&digits=6&period=30"
    )


@pytest.mark.parametrize(
    ("account", "issuer"),
    [
        ("alice", "certkit"),
        ("alice smith@example.com", "My Cluster"),
        ("ops:node/1 @ rack 2", "Cluster: Prod & Test?"),
        ("Zoë + Ørjan", "Ünïcode #1"),
    ],
)
def test_provisioning_uri_round_trips_with_pyotp(account: str, issuer: str) -> None:
    secret = totp.new_secret()
    uri = totp.provisioning_uri(secret, account=account, issuer=issuer)
    assert uri.startswith("otpauth://totp/")
    assert " " not in uri
    label = uri.split("?", 1)[0].removeprefix("otpauth://totp/")
    assert label.count(":") == 1  # only the issuer:account separator is a literal colon
    parsed = pyotp.parse_uri(uri)
    assert isinstance(parsed, pyotp.TOTP)
    assert parsed.secret == secret.reveal_text()
    assert parsed.name == account
    assert parsed.issuer == issuer
    assert parsed.digits == totp.DIGITS
    assert parsed.interval == totp.PERIOD
    assert parsed.digest().name == "sha1"
    assert parsed.at(AT) == totp.code_at(secret, AT)


def test_provisioning_uri_refuses_blank_names() -> None:
    secret = totp.new_secret()
    with pytest.raises(InvalidInput, match="account name is required"):
        totp.provisioning_uri(secret, account="  ", issuer="certkit")
    with pytest.raises(InvalidInput, match="issuer name is required"):
        totp.provisioning_uri(secret, account="alice", issuer="")


OATHTOOL = shutil.which("oathtool")
OATH_TIMES = [
    datetime(1970, 1, 1, 0, 0, 59, tzinfo=UTC),
    datetime(2009, 2, 13, 23, 31, 30, tzinfo=UTC),
    datetime(2020, 2, 29, 23, 59, 59, tzinfo=UTC),
    datetime(2024, 5, 17, 12, 0, 10, tzinfo=UTC),
    datetime(2024, 12, 31, 23, 59, 30, tzinfo=UTC),
    datetime(2033, 5, 18, 3, 33, 20, tzinfo=UTC),
    datetime(2037, 12, 31, 12, 34, 56, tzinfo=UTC),
]


def _oathtool(secret: Secret, at: datetime) -> str:
    assert OATHTOOL is not None
    result = subprocess.run(
        [
            OATHTOOL,
            "--totp",
            "-b",
            secret.reveal_text(),
            "--now",
            at.strftime("%Y-%m-%d %H:%M:%S UTC"),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=10,
    )
    return result.stdout.strip()


@pytest.mark.skipif(OATHTOOL is None, reason="Debian's oathtool is not installed")
@pytest.mark.parametrize("at", OATH_TIMES, ids=lambda at: at.isoformat())
@pytest.mark.parametrize("which", ["rfc", "random"])
def test_oathtool_codes_are_accepted_once(at: datetime, which: str) -> None:
    secret = RFC_SECRET if which == "rfc" else totp.new_secret()
    code = _oathtool(secret, at)
    assert len(code) == totp.DIGITS and code.isdigit()
    assert code == totp.code_at(secret, at)
    matched = totp.verify(secret, code, at=at, last_used_timecode=None)
    assert matched == totp.timecode(at)
    with pytest.raises(TotpRejected, match="already used"):
        totp.verify(secret, code, at=at, last_used_timecode=matched)
