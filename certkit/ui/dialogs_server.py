"""Server certificate dialogs: Export (``ck-export-*``) and Replace (``ck-replace-*``)."""

from __future__ import annotations

import ipywidgets as widgets

from certkit.ui.common import (
    Context,
    Modal,
    css,
    day,
    download_link,
    escape,
    on_change,
    on_click,
    safe_file_name,
    set_visible,
    uploaded_file,
    when,
)


class ExportDialog:
    """A download of the public server certificates as one PKCS#12."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        parts = ctx.parts
        self.close = parts.button("Close", "ck-export-done")
        self.content = parts.html("", "ck-export-result")
        self.modal = Modal(parts, "export", body=[self.content], footer=[self.close])
        self.modal.set_title("Export server certificate")
        on_click(self.close, self.modal.message, self.modal.close)
        self.modal.when_closed(lambda: setattr(self.content, "value", ""))
        self.root = self.modal.root

    def open(self) -> None:
        self.content.value = ""
        self.modal.open()
        try:
            self._render()
        except Exception:
            self.modal.close()
            raise

    def _render(self) -> None:
        data = self._ctx.kit.export_server_certificates()
        servers = self._ctx.kit.server_certificates()
        filename = safe_file_name(f"{self._ctx.kit.cluster_name()}-server", ".pfx")
        link = download_link(
            data,
            filename,
            mime="application/x-pkcs12",
            text=f"Download {filename}",
            css_class="ck-export-download",
        )
        items = "".join(
            f"<li>Node {escape(s.node)}: {escape(s.subject)} <code>{escape(s.thumbprint)}</code>, "
            f"expires {escape(day(s.not_after))}</li>"
            for s in servers
        )
        self.content.value = (
            '<p class="ck-note">The public certificates only (no private key), for another '
            "cluster or a client to trust this one.</p>"
            f'<ul class="ck-list">{items}</ul><p class="ck-download-line">{link}</p>'
        )


class ReplaceDialog:
    """Upload a .pfx with key; Check shows what it holds, Replace installs it."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._current = "choose"
        parts = ctx.parts
        self.cancel = parts.button("Cancel", "ck-replace-cancel")
        self.check = parts.button("Check", "ck-replace-check", kind="info")
        self.confirm = parts.button("Replace", "ck-replace-confirm", kind="danger")
        self.done = parts.button("Done", "ck-replace-done", kind="primary")
        self.file = widgets.FileUpload(
            accept=".pfx,.p12", multiple=False, tooltip="Choose a file", description="Choose .pfx"
        )
        css(self.file, "ck-replace-file")
        self.passphrase = widgets.Password(placeholder="Passphrase of the .pfx")
        css(self.passphrase, "ck-input", "ck-replace-passphrase")
        self.node = widgets.Dropdown(options=[("A", "A")], value="A")
        css(self.node, "ck-input", "ck-replace-node")
        self.details = parts.html("", "ck-replace-result")
        self.form = parts.vbox(
            [
                parts.hbox(
                    [
                        parts.field("PKCS#12 file with the private key", self.file),
                        parts.field("Passphrase", self.passphrase),
                    ],
                    "ck-row2",
                ),
                parts.field("Node", self.node, hint="Whose server certificate to replace."),
            ],
            "ck-form",
        )
        self.modal = Modal(
            parts,
            "replace",
            body=[parts.vbox([self.form, self.details], "ck-modal-body")],
            footer=[self.cancel, self.check, self.confirm, self.done],
            wide=True,
        )
        self.modal.set_title("Replace server certificate")
        message = self.modal.message
        on_click(self.check, message, self._check)
        on_click(self.confirm, message, self._replace)
        on_click(self.cancel, message, self.modal.close)
        on_click(self.done, message, self.modal.close)
        for widget in (self.file, self.passphrase, self.node):
            on_change(widget, message, self._invalidate)
        self.modal.when_closed(self._forget)
        self.root = self.modal.root

    def open(self) -> None:
        self._forget()
        nodes = sorted(
            {s.node for s in self._ctx.kit.server_certificates()} | {self._ctx.kit.local_node()}
        )
        self.node.options = [(n, n) for n in nodes]
        self.node.value = self._ctx.kit.local_node()
        self.modal.open()

    def _forget(self) -> None:
        self.file.value = ()
        self.passphrase.value = ""
        self._phase("choose")

    def _phase(self, phase: str) -> None:
        """``choose``, ``checked`` (the details are shown), ``done`` (replaced)."""
        self._current = phase
        set_visible(self.form, phase != "done")
        set_visible(self.check, phase != "done")
        set_visible(self.cancel, phase != "done")
        set_visible(self.confirm, phase == "checked")
        set_visible(self.done, phase == "done")
        if phase == "choose":
            self.details.value = ""

    def _invalidate(self) -> None:
        if self._current == "checked":
            self._phase("choose")

    def _check(self) -> None:
        """Run every replacement check and show the certificate (nothing changes)."""
        self._phase("choose")
        filename, data = uploaded_file(self.file)
        info = self._ctx.kit.preview_server_replacement(
            data,
            passphrase=self.passphrase.value or None,
            node=str(self.node.value),
            source=filename,
        )
        names = ", ".join(info.dns_names) or "none"
        rows = [
            ("Subject", info.subject),
            ("Issuer", info.issuer),
            ("Thumbprint", info.thumbprint),
            ("Names", names),
            ("Valid from", when(info.not_before)),
            ("Expires", when(info.not_after)),
            ("Key", info.key_description),
            ("Key usage", ", ".join(info.key_usages) or "not restricted"),
            ("Extended key usage", ", ".join(info.extended_key_usages) or "not restricted"),
        ]
        self.details.value = (
            '<table class="ck-details">'
            + "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
            + "</table>"
        )
        self.modal.message.info(
            "The certificate passed every check (key, validity, serverAuth and clientAuth, "
            "host names). Replace to use it; the old certificate is kept in history."
        )
        self._phase("checked")

    def _replace(self) -> None:
        filename, data = uploaded_file(self.file)
        installed = self._ctx.kit.replace_server_certificate(
            data,
            passphrase=self.passphrase.value or None,
            node=str(self.node.value),
            source=filename,
            actor=self._ctx.actor,
        )
        text = (
            f"Node {installed.node} now uses {installed.subject} ({installed.thumbprint}), "
            f"valid until {when(installed.not_after)}."
        )
        self.modal.message.success(text)
        self._ctx.banner.success(f"Replaced the server certificate. {text}")
        self.passphrase.value = ""
        self._phase("done")
        self._ctx.changed()
