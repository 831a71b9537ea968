"""QR codes as PNG images, for showing an ``otpauth://`` URI to an authenticator app."""

from __future__ import annotations

import base64
import io

import qrcode
import qrcode.constants
from qrcode.image.pil import PilImage

_BOX_SIZE = 6
_BORDER = 4  # the quiet zone the QR specification asks for, in modules


def qr_png(text: str) -> bytes:
    """Encode ``text`` as a black-on-white QR code PNG (error correction M, 6 px per module).

    The same text always gives the same bytes.
    """
    code = qrcode.QRCode(
        error_correction=qrcode.constants.ERROR_CORRECT_M,
        box_size=_BOX_SIZE,
        border=_BORDER,
        image_factory=PilImage,
    )
    code.add_data(text)
    code.make(fit=True)
    image = code.make_image(fill_color="black", back_color="white")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def qr_data_uri(text: str) -> str:
    """The QR code PNG of ``text`` as a ``data:image/png;base64,...`` URI (for HTML ``<img>``)."""
    return "data:image/png;base64," + base64.b64encode(qr_png(text)).decode("ascii")
