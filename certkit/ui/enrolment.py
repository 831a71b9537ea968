"""Results shown once: the zip download link and the two-factor enrolment (QR, key, first code)."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from certkit.model import GeneratedCertificate, TotpEnrollment
from certkit.ops import Certkit
from certkit.ui.common import Banner, Parts, css, download_link, escape, on_click, set_visible


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


class TwoFactorPanel:
    """The QR code and key of a new TOTP secret, and a field to confirm a first code.

    Classes: ``ck-<prefix>-qr`` (the image), ``ck-<prefix>-totp-key``,
    ``ck-<prefix>-totp-code``, ``ck-<prefix>-totp-confirm``.
    """

    def __init__(
        self,
        kit: Certkit,
        parts: Parts,
        prefix: str,
        message: Banner,
        on_confirmed: Callable[[], None],
    ) -> None:
        self._kit, self._message, self._on_confirmed = kit, message, on_confirmed
        self.thumbprint: str | None = None
        self.name = ""
        self.confirmed = False
        self.qr = widgets.Image(format="png", width=200, height=200)
        css(self.qr, "ck-qr", f"ck-{prefix}-qr")
        self.key = parts.html("", "ck-totp-key", f"ck-{prefix}-totp-key")
        self.code = widgets.Text(placeholder="6-digit code")
        css(self.code, "ck-input", f"ck-{prefix}-totp-code")
        self.confirm = parts.button("Confirm code", f"ck-{prefix}-totp-confirm", kind="primary")
        on_click(self.confirm, message, self._check)
        intro = parts.html(
            '<p class="ck-note">Scan this QR code with an authenticator app, or type the key. '
            "It is shown only now. Then enter the first code the app shows.</p>"
        )
        self.widget = parts.vbox(
            [
                intro,
                parts.hbox([self.qr, self.key], "ck-totp-show"),
                parts.hbox([self.code, self.confirm], "ck-inline"),
            ],
            "ck-totp",
            f"ck-{prefix}-totp",
            "ck-hidden",
        )

    @property
    def pending(self) -> bool:
        """An enrolment is shown and its first code has not been confirmed yet."""
        return self.thumbprint is not None and not self.confirmed

    def show(self, thumbprint: str, name: str, enrolment: TotpEnrollment) -> None:
        self.thumbprint, self.name, self.confirmed = thumbprint, name, False
        self.qr.value = enrolment.qr_png
        key = _grouped(enrolment.secret.reveal_text())
        self.key.value = (
            f'<div class="ck-label">Key</div><code class="ck-secret">{escape(key)}</code>'
            f'<div class="ck-hint">Account: {escape(name)}</div>'
        )
        self.code.value = ""
        set_visible(self.code, True)
        set_visible(self.confirm, True)
        set_visible(self.widget, True)

    def _check(self) -> None:
        if self.thumbprint is None:
            return
        self._kit.check_two_factor(self.thumbprint, self.code.value.strip())
        self.confirmed = True
        self.qr.value = b""
        self.key.value = ""
        set_visible(self.code, False)
        set_visible(self.confirm, False)
        self._message.success(
            f"Code accepted: two-factor authentication is set up for {self.name}."
        )
        self._on_confirmed()

    def reset(self) -> None:
        """Forget the secret (the QR and key are never shown again)."""
        self.thumbprint, self.name, self.confirmed = None, "", False
        self.qr.value = b""
        self.key.value = ""
        self.code.value = ""
        set_visible(self.widget, False)


class ResultPanel:
    """A generated certificate: the zip as a download link, and its 2FA enrolment if any.

    Classes: ``ck-<prefix>-result`` (the HTML holding ``a.ck-<prefix>-download``) and the
    :class:`TwoFactorPanel` classes.
    """

    def __init__(
        self,
        kit: Certkit,
        parts: Parts,
        prefix: str,
        message: Banner,
        on_confirmed: Callable[[], None],
    ) -> None:
        self._prefix = prefix
        self.link = parts.html("", "ck-result", f"ck-{prefix}-result")
        self.two_factor = TwoFactorPanel(kit, parts, prefix, message, on_confirmed)
        self.widget = parts.vbox([self.link, self.two_factor.widget], "ck-hidden")

    def show(self, made: GeneratedCertificate) -> None:
        record = made.record
        link = download_link(
            made.zip_bytes,
            made.zip_name,
            mime="application/zip",
            text=f"Download {made.zip_name}",
            css_class=f"ck-{self._prefix}-download",
        )
        self.link.value = (
            f'<div class="ck-result-box"><p>Certificate <b>{escape(record.name)}</b> '
            f"(<code>{escape(record.thumbprint)}</code>) is registered. Download the zip now: "
            "the private key is not kept.</p>"
            f'<p class="ck-download-line">{link}</p>'
            '<p class="ck-hint">The zip holds the .pfx (key and chain), the .crt and the .key '
            "(PEM).</p></div>"
        )
        if made.totp is not None:
            self.two_factor.show(record.thumbprint, record.name, made.totp)
        set_visible(self.widget, True)

    def reset(self) -> None:
        self.link.value = ""
        self.two_factor.reset()
        set_visible(self.widget, False)
