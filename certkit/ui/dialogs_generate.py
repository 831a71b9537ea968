"""The Generate client certificate dialog (classes ``ck-gen-*``)."""

from __future__ import annotations

import ipywidgets as widgets

from certkit.model import Clearance
from certkit.ui.common import Context, Modal, Parts, css
from certkit.ui.enrolment import ResultDialog, ResultPanel, TwoFactorPanel
from certkit.ui.forms import (
    ExpiryPicker,
    PassphrasePair,
    PermissionsEditor,
    clearance_dropdown,
    key_type_dropdown,
    pkcs12_dropdown,
    text,
    two_factor_checkbox,
)


class GenerateDialog(ResultDialog):
    """Name, clearance, passphrase, expiration, permissions, key, PKCS#12 profile, 2FA."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        kit, parts = ctx.kit, ctx.parts
        self.submit = parts.button("Generate", "ck-gen-submit", kind="primary")
        self.cancel = parts.button("Cancel", "ck-gen-cancel")
        self.done = parts.button("Done", "ck-gen-done", kind="primary")
        body = widgets.VBox()
        self.modal = Modal(
            parts, "gen", body=[body], footer=[self.cancel, self.submit, self.done], wide=True
        )
        self.modal.set_title("Generate client certificate")
        message = self.modal.message
        self.name = text("e.g. reporting-service", "ck-gen-name")
        self.clearance = clearance_dropdown("gen")
        self.passphrase = PassphrasePair("gen")
        self.expiry = ExpiryPicker(parts, "gen", message)
        self.permissions = PermissionsEditor(parts, "gen", message)
        self.key_type = key_type_dropdown("gen")
        self.pkcs12 = pkcs12_dropdown("gen")
        self.two_factor = two_factor_checkbox("gen")
        self.form = parts.vbox(self._fields(parts), "ck-form")
        self.result = ResultPanel(
            parts, TwoFactorPanel(kit, parts, "gen", message, self._confirmed)
        )
        body.children = (self.form, self.result.widget)
        css(body, "ck-modal-body")
        self._connect(self._generate)
        self.root = self.modal.root

    def _fields(self, parts: Parts) -> list[widgets.Widget]:
        return [
            parts.hbox(
                [
                    parts.field("Name", self.name),
                    parts.field("Security clearance", self.clearance),
                ],
                "ck-row2",
            ),
            self.passphrase.fields(parts, hint="Optional; protects the .pfx and .key."),
            parts.hbox(
                [
                    parts.field("Expiration", self.expiry.widget),
                    parts.field("Key type", self.key_type),
                ],
                "ck-row2",
            ),
            parts.field("Database permissions", self.permissions.widget),
            parts.hbox(
                [
                    parts.field("PKCS#12 encryption", self.pkcs12),
                    parts.field("Two-factor authentication", self.two_factor),
                ],
                "ck-row2",
            ),
        ]

    def open(self) -> None:
        self._reset()
        self.modal.open()

    def _reset(self) -> None:
        self.name.value = ""
        self.clearance.value = Clearance.VALID_USER.value
        self.passphrase.reset()
        self.expiry.reset()
        self.permissions.set({})
        self.two_factor.value = False
        self.result.reset()
        self._phase(form=True)

    def _generate(self) -> None:
        made = self._ctx.kit.generate_client_certificate(
            self.name.value,
            clearance=str(self.clearance.value),
            permissions=self.permissions.value(),
            passphrase=self.passphrase.value(),
            expires=self.expiry.value(),
            key_type=str(self.key_type.value),
            pkcs12=str(self.pkcs12.value),
            two_factor=bool(self.two_factor.value),
            actor=self._ctx.actor,
        )
        self.passphrase.reset()
        self.result.show(made)
        self._phase(form=False)  # before the message, which tests and people wait for
        note = " Confirm a first code to finish." if made.totp else ""
        self.modal.message.success(f"Generated {made.record.name}.{note}")
        self._ctx.banner.success(f"Generated client certificate {made.record.name}.")
        self._ctx.changed()
