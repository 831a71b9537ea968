"""The page's two upper cards: well-known certificates (``ck-wk-*``) and server certificates
(``ck-server-*``)."""

from __future__ import annotations

from datetime import datetime, timedelta

import ipywidgets as widgets

from certkit.model import CertKind, WellKnownEntry, certificate_state
from certkit.ui.common import Context, css, day, escape, on_click, uploaded_file
from certkit.ui.forms import text


def state_badge(
    not_before: datetime, not_after: datetime, now: datetime, threshold: timedelta
) -> str:
    state = certificate_state(not_before, not_after, now, threshold)
    return f'<span class="ck-badge ck-state-{state.value}">{escape(state.label)}</span>'


def _expiry_cell(
    not_before: datetime | None, not_after: datetime | None, now: datetime, threshold: timedelta
) -> str:
    if not_before is None or not_after is None:
        return ""
    return f"{escape(day(not_after))} {state_badge(not_before, not_after, now, threshold)}"


class WellKnownSection:
    """Well-known admin thumbprints and issuer CAs, each with add and remove."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._kit, self._parts, self._banner, self._actor = (
            ctx.kit,
            ctx.parts,
            ctx.banner,
            ctx.actor,
        )
        parts, banner = ctx.parts, ctx.banner
        self.admins = parts.vbox([], "ck-wk-admins")
        self.issuers = parts.vbox([], "ck-wk-issuers")
        self.thumbprint = text("Thumbprint (40 hex characters)", "ck-wk-admin-thumbprint")
        self.add_admin = parts.button("Add admin certificate", "ck-wk-add-admin", icon="plus")
        self.issuer_file = widgets.FileUpload(
            accept=".pem,.crt,.cer,.der,.p7b,.pfx,.p12",
            multiple=False,
            tooltip="Choose a file",
            description="Choose CA file",
        )
        css(self.issuer_file, "ck-wk-issuer-file")
        self.add_issuer = parts.button("Add issuer", "ck-wk-add-issuer", icon="plus")
        on_click(self.add_admin, banner, self._add_admin)
        on_click(self.add_issuer, banner, self._add_issuer)
        self.widget = parts.card(
            "Well-known certificates",
            [
                parts.html(
                    '<p class="ck-note">Certificates trusted as Cluster Admin: by thumbprint, or '
                    "any client certificate issued by one of these CAs.</p>"
                ),
                parts.html('<h3 class="ck-subtitle">Admin certificates</h3>'),
                self.admins,
                parts.hbox([self.thumbprint, self.add_admin], "ck-inline"),
                parts.html('<h3 class="ck-subtitle">Issuer certificates</h3>'),
                self.issuers,
                parts.hbox([self.issuer_file, self.add_issuer], "ck-inline"),
            ],
            "ck-wk",
        )

    def refresh(self) -> None:
        entries = self._kit.well_known()
        now = self._kit.now()
        admins = [e for e in entries if e.kind is CertKind.WELL_KNOWN_ADMIN]
        issuers = [e for e in entries if e.kind is CertKind.WELL_KNOWN_ISSUER]
        for box, items, kind in ((self.admins, admins, "admin"), (self.issuers, issuers, "issuer")):
            for old in box.children:
                old.close()
            rows = [self._item(e, kind, now) for e in items]
            if not rows:
                rows = [
                    self._parts.html(f'<p class="ck-empty">No well-known {kind} certificates.</p>')
                ]
            box.children = tuple(rows)

    def _item(self, entry: WellKnownEntry, kind: str, now: datetime) -> widgets.Widget:
        what = escape(entry.subject) if entry.subject else "Thumbprint"
        info = self._parts.html(
            f'<div class="ck-wk-line"><span class="ck-wk-what">{what}</span> '
            f"<code>{escape(entry.thumbprint)}</code> "
            f"{_expiry_cell(entry.not_before, entry.not_after, now, self._kit.expiring_threshold)}"
            f'<span class="ck-hint"> added {escape(day(entry.added_at))} '
            f"by {escape(entry.added_by)}</span></div>"
        )
        remove = self._parts.button("Remove", "ck-wk-remove", icon="trash")
        on_click(remove, self._banner, lambda: self._remove(entry))
        return self._parts.hbox([info, remove], "ck-wk-item", f"ck-wk-{kind}-item")

    def _add_admin(self) -> None:
        entry = self._kit.add_well_known_admin(self.thumbprint.value, actor=self._actor)
        self.thumbprint.value = ""
        self._banner.success(f"{entry.thumbprint} is now a well-known admin certificate.")
        self.refresh()

    def _add_issuer(self) -> None:
        filename, data = uploaded_file(self.issuer_file)
        added = self._kit.add_well_known_issuer(data, source=filename, actor=self._actor)
        self.issuer_file.value = ()
        names = ", ".join(e.subject or e.thumbprint for e in added)
        self._banner.success(f"Added well-known issuer {names}.")
        self.refresh()

    def _remove(self, entry: WellKnownEntry) -> None:
        removed = self._kit.remove_well_known(entry.id, actor=self._actor)
        self._banner.success(
            f"Removed well-known certificate {removed.subject or removed.thumbprint}."
        )
        self.refresh()


class ServerSection:
    """The server certificate and each node's certificate for communication."""

    def __init__(self, ctx: Context) -> None:
        self._kit = ctx.kit
        parts = ctx.parts
        self.table = parts.html("", "ck-server-table")
        self.widget = parts.card("Server certificates", [self.table], "ck-server")

    def refresh(self) -> None:
        servers = self._kit.server_certificates()
        local = self._kit.local_node()
        now, threshold = self._kit.now(), self._kit.expiring_threshold
        rows = [("Server certificate", s) for s in servers if s.node == local]
        rows += [(f"Server certificate for communication {s.node}", s) for s in servers]
        body = "".join(
            f'<tr class="ck-server-row"><td class="ck-cell-name">{escape(label)}</td>'
            f'<td class="ck-cell-thumbprint"><code>{escape(s.thumbprint)}</code></td>'
            f'<td class="ck-nowrap">{escape(day(s.not_before))}</td>'
            f'<td class="ck-nowrap">{_expiry_cell(s.not_before, s.not_after, now, threshold)}</td>'
            f'<td class="ck-hint">{escape(", ".join(s.hostnames))}</td></tr>'
            for label, s in rows
        )
        self.table.value = (
            '<table class="ck-table-plain"><thead><tr><th>Name</th><th>Thumbprint</th>'
            "<th>Valid from</th><th>Expiration</th><th>Host names</th></tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )
