"""The Certificates view: header actions, well-known and server certificates, client table,
and the dialogs (as modal overlays at the end of the page)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import ipywidgets as widgets

from certkit.model import LOCAL_ADMIN, Actor
from certkit.ops import Certkit, open_certkit
from certkit.ui.common import (
    Banner,
    Context,
    Parts,
    escape,
    on_click,
    reports_errors,
    set_visible,
)
from certkit.ui.dialogs_edit import CloneDialog, DeleteDialog, EditDialog
from certkit.ui.dialogs_generate import GenerateDialog
from certkit.ui.dialogs_server import ExportDialog, ReplaceDialog
from certkit.ui.dialogs_upload import UploadDialog
from certkit.ui.sections import ServerSection, WellKnownSection
from certkit.ui.style import stylesheet
from certkit.ui.table import ClientTable, RowActions


@dataclass(frozen=True, slots=True)
class CertificatesView:
    """The parts of the page, for tests and for composing (``root`` is what gets shown)."""

    root: widgets.VBox
    banner: Banner
    table: ClientTable
    well_known: WellKnownSection
    servers: ServerSection
    generate: GenerateDialog
    upload: UploadDialog
    edit: EditDialog
    clone: CloneDialog
    delete: DeleteDialog
    export: ExportDialog
    replace: ReplaceDialog


def certificates_page(kit: Certkit | None = None, *, actor: Actor = LOCAL_ADMIN) -> widgets.VBox:
    """The Certificates view as one widget (the notebook shows it; nothing is displayed here).

    Args:
        kit: The certkit home to manage; ``None`` opens the default (``$CERTKIT_HOME``).
        actor: Who acts; the local app is the local ClusterAdmin.
    """
    return build_certificates_view(kit or open_certkit(), actor=actor).root


def build_certificates_view(kit: Certkit, *, actor: Actor = LOCAL_ADMIN) -> CertificatesView:
    """Build the page and return its parts; the page is loaded once before it is returned."""
    parts = Parts()
    banner = Banner(parts, "ck-banner")
    sections: list[Callable[[], None]] = []

    def changed() -> None:
        for refresh in sections:
            refresh()

    ctx = Context(kit=kit, actor=actor, parts=parts, banner=banner, changed=changed)
    servers = ServerSection(ctx)
    well_known = WellKnownSection(ctx)
    generate, upload = GenerateDialog(ctx), UploadDialog(ctx)
    edit, clone, delete = EditDialog(ctx), CloneDialog(ctx), DeleteDialog(ctx)
    export, replace = ExportDialog(ctx), ReplaceDialog(ctx)
    table = ClientTable(ctx, RowActions(clone.open, edit.open, delete.open))
    sections.extend([table.refresh, servers.refresh])
    main = parts.vbox(
        [
            _header(ctx, generate, upload, export, replace),
            banner.widget,
            parts.hbox([servers.widget, well_known.widget], "ck-cards"),
            table.widget,
            *(d.root for d in (generate, upload, edit, clone, delete, export, replace)),
        ],
        "ck-certs-main",
    )
    root = parts.vbox(
        [stylesheet(), _page_switch(ctx, main), main],
        "ck-page",
        "ck-certs",
    )
    view = CertificatesView(
        root,
        banner,
        table,
        well_known,
        servers,
        generate,
        upload,
        edit,
        clone,
        delete,
        export,
        replace,
    )
    _load(view)
    return view


def _header(
    ctx: Context,
    generate: GenerateDialog,
    upload: UploadDialog,
    export: ExportDialog,
    replace: ReplaceDialog,
) -> widgets.Widget:
    actions = {
        "generate": ("Generate client certificate", "plus", "primary", generate.open),
        "upload": ("Upload client certificate", "upload", "", upload.open),
        "export": ("Export server certificate", "download", "", export.open),
        "replace": ("Replace server certificate", "exchange", "", replace.open),
    }
    parts, banner = ctx.parts, ctx.banner
    buttons = []
    for key, (label, icon, kind, action) in actions.items():
        button = parts.button(label, f"ck-certs-{key}", kind=kind, icon=icon)
        on_click(button, banner, action)
        buttons.append(button)
    title = parts.html(
        '<div class="ck-title"><h1>Certificates</h1>'
        f'<span class="ck-cluster">Cluster {escape(ctx.kit.cluster_name())}</span></div>'
    )
    return parts.hbox([title, parts.hbox(buttons, "ck-actions")], "ck-header")


def _page_switch(ctx: Context, main: widgets.Box) -> widgets.Widget:
    """Tabs between the Certificates view and the Expiry page (built on first use)."""
    parts = ctx.parts
    certificates = parts.button("Certificates", "ck-nav-certificates", kind="info")
    expiry = parts.button("Expiry and usage", "ck-nav-expiry")
    panel = parts.vbox([], "ck-certs-expiry-panel")
    set_visible(panel, False)

    def show(expiring: bool) -> None:
        if expiring and not panel.children:
            from certkit.ui.expiry import expiry_page

            panel.children = (expiry_page(ctx.kit, actor=ctx.actor),)
        set_visible(panel, expiring)
        set_visible(main, not expiring)
        certificates.button_style, expiry.button_style = ("", "info") if expiring else ("info", "")
        if not expiring:
            ctx.changed()  # renewals and purges on the Expiry page show here at once

    on_click(certificates, ctx.banner, lambda: show(False))
    on_click(expiry, ctx.banner, lambda: show(True))
    return parts.vbox([parts.hbox([certificates, expiry], "ck-nav"), panel], "ck-nav-bar")


def _load(view: CertificatesView) -> None:
    """Fill the sections; a failure shows in the banner instead of breaking the page."""

    @reports_errors(view.banner)
    def load() -> None:
        view.servers.refresh()
        view.well_known.refresh()
        view.table.refresh()

    load()
