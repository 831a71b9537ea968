"""The Expiry page's dialogs: Renew (``ck-renew-*``) and Purge (``ck-purge-*``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import ipywidgets as widgets

from certkit.errors import InvalidInput
from certkit.model import CertificateRecord, Clearance, GeneratedCertificate
from certkit.ops.expiry import PurgeResult
from certkit.ui.common import Context, Modal, css, day, escape, on_click
from certkit.ui.enrolment import ResultDialog, ResultPanel, TwoFactorPanel
from certkit.ui.forms import ExpiryPicker, PassphrasePair


def renewal_html(made: GeneratedCertificate, old: CertificateRecord, *, deleted: bool) -> str:
    """The link between a renewal and the certificate it renews, as both show it."""
    fate = (
        "was deleted"
        if deleted
        else f"is kept, marked replaced, until it expires on {escape(day(old.not_after))}"
    )
    return (
        f'<p class="ck-note">New thumbprint <code class="ck-renew-thumbprint">'
        f"{escape(made.record.thumbprint)}</code>, renewal of "
        f'<code class="ck-renew-old">{escape(old.thumbprint)}</code>. '
        f"The old certificate {fate}.</p>"
    )


class RenewDialog(ResultDialog):
    """A new certificate with the settings of an expiring one: the zip to download now, the
    new thumbprint, and the link to the old one, which is kept until it expires or deleted."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self.record: CertificateRecord | None = None
        parts = ctx.parts
        self.submit = parts.button("Renew", "ck-renew-submit", kind="primary", icon="refresh")
        self.cancel = parts.button("Cancel", "ck-renew-cancel")
        self.done = parts.button("Done", "ck-renew-done", kind="primary")
        self.body = parts.vbox([], "ck-modal-body")
        self.modal = Modal(
            parts, "renew", body=[self.body], footer=[self.cancel, self.submit, self.done]
        )
        self.root = self.modal.root
        message = self.modal.message
        self.info = parts.html("", "ck-renew-info")
        self.passphrase = PassphrasePair("renew")
        self.expiry = ExpiryPicker(parts, "renew", message)
        self.delete_old = widgets.Checkbox(
            description="Delete the old certificate now", value=False, indent=False
        )
        css(self.delete_old, "ck-renew-delete-old")
        self.form = parts.vbox(
            [
                self.info,
                self.passphrase.fields(parts),
                parts.field("Expiration", self.expiry.widget),
                parts.field(
                    "The old certificate",
                    self.delete_old,
                    hint="Kept by default, so its holder can switch over until it expires.",
                ),
            ],
            "ck-form",
        )
        self.result = ResultPanel(
            parts, TwoFactorPanel(ctx.kit, parts, "renew", message, self._confirmed)
        )
        self.link = parts.html("", "ck-renew-link")
        self.body.children = (self.form, self.result.widget, self.link)
        self._connect(self._renew)

    def open(self, record: CertificateRecord) -> None:
        self.record = record
        self.modal.set_title(f"Renew {record.name}")
        clearance = (record.clearance or Clearance.VALID_USER).label
        two_factor = (
            "; two-factor authentication stays on with the same authenticator"
            if record.two_factor
            else ""
        )
        self.info.value = (
            f'<p class="ck-note">A new certificate and key for <b>{escape(record.name)}</b> '
            f"(<code>{escape(record.thumbprint)}</code>, expires "
            f"{escape(day(record.not_after))}) with the same settings: clearance "
            f"{escape(clearance)}, {len(record.permissions)} database permission(s)"
            f"{escape(two_factor)}.</p>"
        )
        self.passphrase.reset()
        self.expiry.reset()
        self.delete_old.value = False
        self.result.reset()
        self.link.value = ""
        self._phase(form=True)
        self.modal.open()

    def _renew(self) -> None:
        old = self.record
        assert old is not None, "open() the dialog with a record first"
        deleted = bool(self.delete_old.value)
        made = self._ctx.kit.renew(
            old.thumbprint,
            passphrase=self.passphrase.value(),
            expires=self.expiry.value(),
            delete_old=deleted,
            actor=self._ctx.actor,
        )
        self.passphrase.reset()
        self.result.show(made)
        self.link.value = renewal_html(made, old, deleted=deleted)
        note = " Confirm a first code to finish." if made.totp else ""
        self.modal.message.success(f"Renewed {old.name}: download the new zip now.{note}")
        self._ctx.banner.success(
            f"Renewed {old.name}: new thumbprint {made.record.thumbprint}"
            + (", the old certificate was deleted." if deleted else ".")
        )
        self._phase(form=False)
        self._ctx.changed()

    def _forget(self) -> None:
        super()._forget()
        self.link.value = ""


@dataclass(frozen=True, slots=True)
class PurgeRequest:
    """What a Purge button asks for: expired entries (older than a period) or unused ones."""

    kind: str  # "expired" or "unused"
    period: timedelta
    count: int

    @property
    def what(self) -> str:
        days = self.period.days
        if self.kind == "expired":
            return "expired" + (f" more than {days} day(s) ago" if days else "")
        return f"unused for more than {days} day(s)"


class PurgeDialog:
    """Confirm a purge: how many entries, which ones, and that it is audited."""

    def __init__(self, ctx: Context, purged: Callable[[PurgeResult], None]) -> None:
        self._ctx = ctx
        self._purged = purged
        self.request: PurgeRequest | None = None
        parts = ctx.parts
        self.confirm = parts.button("Purge", "ck-purge-confirm", kind="danger", icon="trash")
        self.cancel = parts.button("Cancel", "ck-purge-cancel")
        self.summary = parts.html("", "ck-purge-summary")
        self.modal = Modal(
            parts,
            "purge",
            body=[parts.vbox([self.summary], "ck-modal-body")],
            footer=[self.cancel, self.confirm],
        )
        self.root = self.modal.root
        on_click(self.confirm, self.modal.message, self._purge)
        on_click(self.cancel, self.modal.message, self.modal.close)

    def open(self, request: PurgeRequest) -> None:
        if request.count == 0:
            raise InvalidInput(f"Nothing to purge: no client certificate is {request.what}.")
        self.request = request
        self.modal.set_title("Purge certificates?")
        self.summary.value = (
            f"<p>This deletes the <b>{request.count:,}</b> client certificate(s) "
            f"{escape(request.what)}, each with its whole collection; they can no longer "
            "authenticate. Each deletion is recorded in the audit log.</p>"
        )
        self.modal.open()

    def _purge(self) -> None:
        request = self.request
        assert request is not None, "open() the dialog first"
        kit, actor = self._ctx.kit, self._ctx.actor
        if request.kind == "expired":
            result = kit.purge_expired(older_than=request.period, actor=actor)
        else:
            result = kit.purge_unused(unused_for=request.period, actor=actor)
        self.modal.close()
        kept = f" {len(result.skipped):,} kept: {result.skipped[0][1]}" if result.skipped else ""
        self._ctx.banner.success(
            f"Purged {len(result.deleted):,} client certificate(s) {request.what}.{kept}"
        )
        self._purged(result)
