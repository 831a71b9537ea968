"""Per-row dialogs: Edit (``ck-edit-*``), Clone (``ck-clone-*``) and Delete (``ck-delete-*``)."""

from __future__ import annotations

import ipywidgets as widgets

from certkit.model import CertificateRecord, Clearance
from certkit.ui.common import Context, Modal, escape, on_click, set_visible
from certkit.ui.enrolment import ResultDialog, ResultPanel, TwoFactorPanel
from certkit.ui.forms import (
    ExpiryPicker,
    PassphrasePair,
    PermissionsEditor,
    clearance_dropdown,
    clearance_options,
    text,
    two_factor_checkbox,
)


def collection_html(record: CertificateRecord) -> str:
    """The primary thumbprint and the other members of the entry's collection."""
    items = "".join(f"<li><code>{escape(tp)}</code></li>" for tp in record.collection)
    more = (
        f'<div class="ck-hint">Collection ({len(record.collection)} more):</div>'
        f'<ul class="ck-collection">{items}</ul>'
        if record.collection
        else ""
    )
    return f'<div class="ck-hint">Thumbprint <code>{escape(record.thumbprint)}</code></div>{more}'


class _RowDialog:
    """What the three per-row dialogs share: the kit, the actor, the page and the record."""

    def __init__(self, ctx: Context, name: str, *, footer: list[widgets.Widget]) -> None:
        self._ctx = ctx
        self.record: CertificateRecord | None = None
        self.body = ctx.parts.vbox([], "ck-modal-body")
        self.modal = Modal(ctx.parts, name, body=[self.body], footer=footer)
        self.root = self.modal.root

    def _current(self) -> CertificateRecord:
        assert self.record is not None, "open() the dialog with a record first"
        return self.record


class EditDialog(_RowDialog):
    """Name, clearance, permissions and 2FA of an entry (its whole collection)."""

    def __init__(self, ctx: Context) -> None:
        parts = ctx.parts
        self.save = parts.button("Save", "ck-edit-save", kind="primary")
        self.cancel = parts.button("Cancel", "ck-edit-cancel")
        self.done = parts.button("Done", "ck-edit-done", kind="primary")
        super().__init__(
            ctx,
            "edit",
            footer=[self.cancel, self.save, self.done],
        )
        message = self.modal.message
        self.info = parts.html("", "ck-edit-info")
        self.name = text("Name", "ck-edit-name")
        self.clearance = clearance_dropdown("edit")
        self.permissions = PermissionsEditor(parts, "edit", message)
        self.two_factor = two_factor_checkbox("edit")
        self.form = parts.vbox(
            [
                self.info,
                parts.hbox(
                    [
                        parts.field("Name", self.name),
                        parts.field("Security clearance", self.clearance),
                    ],
                    "ck-row2",
                ),
                parts.field("Database permissions", self.permissions.widget),
                parts.field(
                    "Two-factor authentication",
                    self.two_factor,
                    hint="Turning it on shows a new QR code once.",
                ),
            ],
            "ck-form",
        )
        self.two_factor_panel = TwoFactorPanel(ctx.kit, parts, "edit", message, self._confirmed)
        self.body.children = (self.form, self.two_factor_panel.widget)
        on_click(self.save, message, self._save)
        on_click(self.cancel, message, self.modal.close)
        on_click(self.done, message, self.modal.close)
        self.modal.when_closed(self.two_factor_panel.reset)

    def open(self, record: CertificateRecord) -> None:
        self.record = record
        self.modal.set_title(f"Edit {record.name}")
        self.info.value = collection_html(record)
        node = record.clearance is Clearance.CLUSTER_NODE
        self.clearance.options = clearance_options(include_node=node)
        self.clearance.value = (record.clearance or Clearance.VALID_USER).value
        self.name.value = record.name
        self.permissions.set(record.permissions)
        self.two_factor.value = record.two_factor
        self.two_factor_panel.reset()
        self._phase(form=True)
        self.modal.open()

    def _phase(self, *, form: bool) -> None:
        set_visible(self.form, form)
        set_visible(self.save, form)
        set_visible(self.cancel, form)
        set_visible(self.done, not form)
        self.two_factor_panel.hold(self.done, self.modal)

    def _save(self) -> None:
        record = self._current()
        edited = self._ctx.kit.edit(
            record.thumbprint,
            name=self.name.value,
            clearance=str(self.clearance.value),
            permissions=self.permissions.value(),
            two_factor=bool(self.two_factor.value),
            actor=self._ctx.actor,
        )
        self.record = edited.record
        self._ctx.banner.success(f"Saved {edited.record.name}.")
        self._ctx.changed()
        if edited.totp is None:
            self.modal.close()
            return
        self.two_factor_panel.show(edited.record.thumbprint, edited.record.name, edited.totp)
        self.modal.message.success(
            f"Saved {edited.record.name}. Two-factor authentication is on: confirm a first code."
        )
        self._phase(form=False)

    def _confirmed(self) -> None:
        self._phase(form=False)


class CloneDialog(_RowDialog, ResultDialog):
    """A new certificate (new key, new 2FA secret) with the settings of an existing one."""

    def __init__(self, ctx: Context) -> None:
        parts = ctx.parts
        self.submit = parts.button("Clone", "ck-clone-submit", kind="primary")
        self.cancel = parts.button("Cancel", "ck-clone-cancel")
        self.done = parts.button("Done", "ck-clone-done", kind="primary")
        super().__init__(
            ctx,
            "clone",
            footer=[self.cancel, self.submit, self.done],
        )
        message = self.modal.message
        self.info = parts.html("", "ck-clone-info")
        self.name = text("Name of the new certificate", "ck-clone-name")
        self.passphrase = PassphrasePair("clone")
        self.expiry = ExpiryPicker(parts, "clone", message)
        self.form = parts.vbox(
            [
                self.info,
                parts.field("New name", self.name),
                self.passphrase.fields(parts),
                parts.field("Expiration", self.expiry.widget),
            ],
            "ck-form",
        )
        self.result = ResultPanel(
            parts, TwoFactorPanel(ctx.kit, parts, "clone", message, self._confirmed)
        )
        self.body.children = (self.form, self.result.widget)
        self._connect(self._clone)

    def open(self, record: CertificateRecord) -> None:
        self.record = record
        self.modal.set_title(f"Clone {record.name}")
        clearance = (record.clearance or Clearance.VALID_USER).label
        two_factor = (
            " and two-factor authentication (with a new secret)" if record.two_factor else ""
        )
        self.info.value = (
            f'<p class="ck-note">A new certificate with a new key and the settings of '
            f"<b>{escape(record.name)}</b>: clearance {escape(clearance)}, "
            f"{len(record.permissions)} database permission(s){escape(two_factor)}.</p>"
        )
        self.name.value = ""
        self.passphrase.reset()
        self.expiry.reset()
        self.result.reset()
        self._phase(form=True)
        self.modal.open()

    def _clone(self) -> None:
        made = self._ctx.kit.clone(
            self._current().thumbprint,
            self.name.value,
            passphrase=self.passphrase.value(),
            expires=self.expiry.value(),
            actor=self._ctx.actor,
        )
        self.passphrase.reset()
        self.result.show(made)
        note = " Confirm a first code to finish." if made.totp else ""
        self.modal.message.success(f"Cloned into {made.record.name}.{note}")
        self._ctx.banner.success(f"Cloned {self._current().name} into {made.record.name}.")
        self._phase(form=False)
        self._ctx.changed()


class DeleteDialog(_RowDialog):
    """A confirmation that names the certificate and lists its collection."""

    def __init__(self, ctx: Context) -> None:
        parts = ctx.parts
        self.confirm = parts.button("Delete", "ck-delete-confirm", kind="danger", icon="trash")
        self.cancel = parts.button("Cancel", "ck-delete-cancel")
        super().__init__(
            ctx,
            "delete",
            footer=[self.cancel, self.confirm],
        )
        self.summary = parts.html("", "ck-delete-summary")
        self.body.children = (self.summary,)
        on_click(self.confirm, self.modal.message, self._delete)
        on_click(self.cancel, self.modal.message, self.modal.close)

    def open(self, record: CertificateRecord) -> None:
        self.record = record
        self.modal.set_title(f"Delete {record.name}?")
        members = 1 + len(record.collection)
        what = (
            f"all {members} certificates of its collection; they"
            if record.collection
            else "its certificate; it"
        )
        self.summary.value = (
            f"<p>This deletes <b>{escape(record.name)}</b> and {escape(what)} can no longer "
            "authenticate. The deletion is recorded in the audit log.</p>" + collection_html(record)
        )
        self.modal.open()

    def _delete(self) -> None:
        removed = self._ctx.kit.delete(self._current().thumbprint, actor=self._ctx.actor)
        self.modal.close()
        extra = f" and {len(removed.collection)} collection member(s)" if removed.collection else ""
        self._ctx.banner.success(f"Deleted {removed.name}{extra}.")
        self._ctx.changed()
