"""The Upload client certificate dialog: file, passphrase, preview, register (``ck-upload-*``)."""

from __future__ import annotations

import ipywidgets as widgets

from certkit.model import Clearance
from certkit.ops import UploadPreview
from certkit.ui.common import (
    Context,
    Modal,
    css,
    day,
    escape,
    on_change,
    on_click,
    set_visible,
    uploaded_file,
)
from certkit.ui.enrolment import TwoFactorPanel
from certkit.ui.forms import PermissionsEditor, clearance_dropdown, text, two_factor_checkbox

ACCEPT = ".pfx,.p12,.pem,.crt,.cer,.der"


def preview_html(preview: UploadPreview) -> str:
    """What the upload holds: each certificate and what happens to it, escaped."""
    refused = {info.thumbprint: reason for info, reason in preview.problems}
    rows = []
    for position, info in enumerate(preview.members):
        reason = refused.get(info.thumbprint)
        if reason:
            outcome, css_class = f"Refused: {reason}", "ck-refused"
        else:
            outcome = "Will be registered" + (" (primary)" if position == 0 else "")
            css_class = "ck-accepted"
        rows.append(
            (
                info.subject or info.thumbprint,
                info.thumbprint,
                day(info.not_after),
                outcome,
                css_class,
            )
        )
    for info, why in preview.skipped:
        rows.append(
            (
                info.subject or info.thumbprint,
                info.thumbprint,
                day(info.not_after),
                f"Skipped: {why}",
                "ck-skipped",
            )
        )
    body = "".join(
        f'<tr class="{cls}"><td>{escape(subject)}</td><td><code>{escape(tp)}</code></td>'
        f"<td>{escape(expires)}</td><td>{escape(outcome)}</td></tr>"
        for subject, tp, expires, outcome, cls in rows
    )
    keys = preview.private_keys
    key_note = (
        f" {keys} private key{'s' if keys != 1 else ''} read only to check "
        f"{'them' if keys != 1 else 'it'}; never kept."
        if keys
        else ""
    )
    return (
        f'<p class="ck-note">{escape(preview.format)} file with {len(preview.members)} client '
        f"certificate{'s' if len(preview.members) != 1 else ''}.{escape(key_note)}</p>"
        '<table class="ck-preview"><thead><tr><th>Subject</th><th>Thumbprint</th>'
        f"<th>Expires</th><th>Result</th></tr></thead><tbody>{body}</tbody></table>"
    )


class UploadDialog:
    """Choose a file, preview what it holds, then register it as one entry."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._current = "choose"
        kit, parts = ctx.kit, ctx.parts
        self.cancel = parts.button("Cancel", "ck-upload-cancel")
        self.preview = parts.button("Preview", "ck-upload-preview", kind="info")
        self.register = parts.button("Register", "ck-upload-register", kind="primary")
        self.done = parts.button("Done", "ck-upload-done", kind="primary")
        body = widgets.VBox()
        css(body, "ck-modal-body")
        self.modal = Modal(
            parts,
            "upload",
            body=[body],
            footer=[self.cancel, self.preview, self.register, self.done],
            wide=True,
        )
        self.modal.set_title("Upload client certificate")
        message = self.modal.message
        self.file = widgets.FileUpload(
            accept=ACCEPT, multiple=False, tooltip="Choose a file", description="Choose file"
        )
        css(self.file, "ck-upload-file")
        self.passphrase = widgets.Password(placeholder="Only for a protected .pfx or key")
        css(self.passphrase, "ck-input", "ck-upload-passphrase")
        self.summary = parts.html("", "ck-upload-preview-result")
        self.name = text("Name of the entry", "ck-upload-name")
        self.clearance = clearance_dropdown("upload")
        self.permissions = PermissionsEditor(parts, "upload", message)
        self.two_factor = two_factor_checkbox("upload")
        self.settings = parts.vbox(
            [
                parts.hbox(
                    [
                        parts.field("Name", self.name),
                        parts.field("Security clearance", self.clearance),
                    ],
                    "ck-row2",
                ),
                parts.field("Database permissions", self.permissions.widget),
                parts.field("Two-factor authentication", self.two_factor),
            ],
            "ck-form",
            "ck-upload-settings",
        )
        self.choose = parts.vbox(
            [
                parts.hbox(
                    [
                        parts.field(
                            "Certificate file",
                            self.file,
                            hint=".pfx .p12 .pem .crt .cer .der, at most 10 MB",
                        ),
                        parts.field("Passphrase", self.passphrase),
                    ],
                    "ck-row2",
                ),
            ],
            "ck-form",
        )
        self.two_factor_panel = TwoFactorPanel(kit, parts, "upload", message, self._confirmed)
        body.children = (self.choose, self.summary, self.settings, self.two_factor_panel.widget)
        on_click(self.preview, message, self._preview)
        on_click(self.register, message, self._register)
        on_click(self.cancel, message, self.modal.close)
        on_click(self.done, message, self.modal.close)
        on_change(self.file, message, self._invalidate)
        on_change(self.passphrase, message, self._invalidate)
        self.modal.when_closed(self._forget)
        self.root = self.modal.root

    def open(self) -> None:
        self._forget()
        self.modal.open()

    def _forget(self) -> None:
        self.file.value = ()
        self.passphrase.value = ""
        self.name.value = ""
        self.clearance.value = Clearance.VALID_USER.value
        self.permissions.set({})
        self.two_factor.value = False
        self.two_factor_panel.reset()
        self._phase("choose")

    def _phase(self, phase: str) -> None:
        """``choose`` (file + preview), ``settings`` (preview OK), ``done`` (registered)."""
        self._current = phase
        set_visible(self.choose, phase != "done")
        set_visible(self.settings, phase == "settings")
        set_visible(self.preview, phase != "done")
        set_visible(self.cancel, phase != "done")
        set_visible(self.register, phase == "settings")
        set_visible(self.done, phase == "done")
        self.two_factor_panel.hold(self.done, self.modal)
        if phase == "choose":
            self.summary.value = ""

    def _invalidate(self) -> None:
        if self._current != "done":
            self._phase("choose")

    def _preview(self) -> None:
        self._phase("choose")
        filename, data = uploaded_file(self.file)
        preview = self._ctx.kit.preview_upload(
            data, passphrase=self.passphrase.value or None, source=filename
        )
        self.summary.value = preview_html(preview)
        if not preview.members:
            self.modal.message.error(
                f"{filename} holds no client certificate, only chain material."
            )
            return
        if preview.problems:
            self.modal.message.error(
                "Some certificates cannot be registered; see the reasons below."
            )
            return
        first = preview.members[0]
        self.name.value = (first.common_name or first.subject or first.thumbprint)[:100]
        self.modal.message.info(
            "Check the certificates below, then choose the settings and register."
        )
        self._phase("settings")

    def _register(self) -> None:
        filename, data = uploaded_file(self.file)
        registration = self._ctx.kit.register(
            data,
            clearance=str(self.clearance.value),
            name=self.name.value,
            permissions=self.permissions.value(),
            two_factor=bool(self.two_factor.value),
            passphrase=self.passphrase.value or None,
            source=filename,
            actor=self._ctx.actor,
        )
        record = registration.records[0]
        count = 1 + len(record.collection)
        what = f"{count} certificates as one collection" if count > 1 else "1 certificate"
        enrolment = registration.totp.get(record.thumbprint)
        if enrolment is not None:
            self.two_factor_panel.show(record.thumbprint, record.name, enrolment)
        note = " Confirm a first code to finish." if enrolment else ""
        self.modal.message.success(f"Registered {record.name}: {what}.{note}")
        self._ctx.banner.success(f"Registered {record.name} ({what}).")
        self.passphrase.value = ""
        self._phase("done")
        self._ctx.changed()

    def _confirmed(self) -> None:
        self._phase("done")
