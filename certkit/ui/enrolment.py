"""Results shown once: the zip download link and the two-factor enrolment (QR, key, first code)."""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as widgets

from certkit.model import GeneratedCertificate, TotpEnrollment
from certkit.ops import Certkit
from certkit.ui.common import (
    Banner,
    Modal,
    Parts,
    css,
    download_link,
    escape,
    on_click,
    set_visible,
)
from certkit.ui.forms import PassphrasePair


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
        self.prefix = prefix
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

    def hold(self, done: widgets.Button, modal: Modal) -> None:
        """While the first code is pending, ``done`` is disabled and ``modal`` has no close
        button: the secret is never shown again."""
        done.disabled = self.pending
        set_visible(modal.close_button, not self.pending)

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

    Classes: ``ck-<prefix>-result`` (the HTML holding ``a.ck-<prefix>-download``), with the
    prefix and classes of its :class:`TwoFactorPanel`.
    """

    def __init__(self, parts: Parts, two_factor: TwoFactorPanel) -> None:
        self._prefix = two_factor.prefix
        self.link = parts.html("", "ck-result", f"ck-{self._prefix}-result")
        self.two_factor = two_factor
        self.widget = parts.vbox([self.link, two_factor.widget], "ck-hidden")

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


class ResultDialog:
    """What the dialogs that make a certificate share (Generate, Clone, Renew): the form,
    then the result shown once until Done; closing forgets the passphrase and the result.

    A subclass sets these attributes and gives its ResultPanel ``self._confirmed``.
    """

    form: widgets.Widget
    submit: widgets.Button
    cancel: widgets.Button
    done: widgets.Button
    modal: Modal
    passphrase: PassphrasePair
    result: ResultPanel

    def _connect(self, make: Callable[[], None]) -> None:
        """The submit button runs ``make``; Cancel and Done close; closing forgets."""
        message = self.modal.message
        on_click(self.submit, message, make)
        on_click(self.cancel, message, self.modal.close)
        on_click(self.done, message, self.modal.close)
        self.modal.when_closed(self._forget)

    def _phase(self, *, form: bool) -> None:
        """The form with its submit and Cancel buttons, or the result with Done."""
        for widget in (self.form, self.submit, self.cancel):
            set_visible(widget, form)
        set_visible(self.done, not form)
        self.result.two_factor.hold(self.done, self.modal)

    def _confirmed(self) -> None:
        self._phase(form=False)

    def _forget(self) -> None:
        self.passphrase.reset()
        self.result.reset()
