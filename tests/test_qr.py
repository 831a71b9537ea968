"""QR codes decode back to the exact text with Debian's zbarimg and with pyzbar."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from certkit import totp
from certkit.qr import qr_data_uri, qr_png

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ZBARIMG = shutil.which("zbarimg")


@pytest.fixture
def uri() -> str:
    return totp.provisioning_uri(
        totp.new_secret(), account="alice smith@example.com", issuer="certkit: Prod/1"
    )


def test_png_is_deterministic(uri: str) -> None:
    png = qr_png(uri)
    assert png.startswith(PNG_MAGIC)
    assert qr_png(uri) == png


def test_png_is_black_and_white_with_6px_modules(uri: str) -> None:
    image = Image.open(io.BytesIO(qr_png(uri)))
    assert image.width == image.height
    modules = image.width // 6 - 8  # 4-module quiet zone on each side
    assert image.width % 6 == 0
    assert (modules - 17) % 4 == 0  # QR versions are 21, 25, 29, ... modules wide
    assert {image.convert("L").getpixel((0, 0))} == {255}


@pytest.mark.skipif(ZBARIMG is None, reason="Debian's zbarimg is not installed")
def test_zbarimg_decodes_the_exact_text(uri: str, tmp_path: Path) -> None:
    assert ZBARIMG is not None
    path = tmp_path / "qr.png"
    path.write_bytes(qr_png(uri))
    result = subprocess.run(
        [ZBARIMG, "--quiet", "--raw", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    assert result.stdout.decode().rstrip("\n") == uri


def test_pyzbar_decodes_the_exact_text(uri: str) -> None:
    pyzbar = pytest.importorskip("pyzbar.pyzbar")
    decoded = pyzbar.decode(Image.open(io.BytesIO(qr_png(uri))))
    assert [d.data.decode() for d in decoded] == [uri]
    assert decoded[0].type == "QRCODE"


def test_data_uri(uri: str) -> None:
    data_uri = qr_data_uri(uri)
    prefix = "data:image/png;base64,"
    assert data_uri.startswith(prefix)
    assert base64.b64decode(data_uri[len(prefix) :], validate=True) == qr_png(uri)
