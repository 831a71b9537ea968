"""The Expiry page: what is about to break, and acting on it before it does (``ck-expiry-*``).

Pictures first, numbers beside them: the expiry timeline and the breakdowns are drawn by
:mod:`certkit.analysis` (matplotlib, PNG) into ``ipywidgets.Image``. Then the server, node
and CA certificates with their alert levels; the "expiring soon" table with Renew and
Delete per row; the unused and expired lists with Purge; certificates that share a key.
The thresholds are adjustable and apply to this page only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

import ipywidgets as widgets
import pandas as pd

from certkit import analysis
from certkit.errors import InvalidInput
from certkit.model import LOCAL_ADMIN, Actor, CertificateRecord
from certkit.ops import Certkit, open_certkit
from certkit.ui.common import (
    Banner,
    Context,
    Parts,
    css,
    escape,
    on_change,
    on_click,
    reports_errors,
    set_visible,
)
from certkit.ui.dialogs_edit import DeleteDialog
from certkit.ui.dialogs_renew import PurgeDialog, PurgeRequest, RenewDialog
from certkit.ui.expiry_html import (
    CSS,
    EXPIRED_COLUMNS,
    SHARED_COLUMNS,
    UNUSED_COLUMNS,
    counts_html,
    expiring_row_html,
    numbers_html,
    own_html,
    table_html,
)
from certkit.ui.style import stylesheet

ROWS = 25


class ExpiringSlot:
    """One reusable row of the "expiring soon" table (``ck-expiry-row-<i>``)."""

    def __init__(
        self, parts: Parts, index: int, banner: Banner, act: Callable[[str, str], None]
    ) -> None:
        self.thumbprint: str | None = None
        self.cells = parts.html("", "ck-row-cells")
        self.renew = parts.button("Renew", "ck-expiry-renew", "ck-small", kind="primary")
        self.delete = parts.button("Delete", "ck-expiry-delete", "ck-small", "ck-danger-text")
        buttons = parts.hbox([self.renew, self.delete], "ck-row-actions")
        self.widget = parts.box(
            [self.cells, buttons], "ck-row", f"ck-expiry-row-{index}", "ck-hidden"
        )
        on_click(self.renew, banner, lambda: act("renew", self._current()))
        on_click(self.delete, banner, lambda: act("delete", self._current()))

    def _current(self) -> str:
        assert self.thumbprint is not None, "an empty row slot has no buttons to click"
        return self.thumbprint

    def show(self, row: pd.Series | None) -> None:
        self.thumbprint = None if row is None else str(row["thumbprint"])
        self.cells.value = "" if row is None else expiring_row_html(row)
        set_visible(self.widget, row is not None)


class Thresholds:
    """The adjustable thresholds (days), applied with ``ck-expiry-apply``."""

    def __init__(self, parts: Parts) -> None:
        defaults = analysis.AnalysisSettings()
        self.fields = {
            "client-days": ("Client: expiring within (days)", defaults.expiring.days),
            "server-warning": ("Server: warning within (days)", defaults.server_warning.days),
            "server-error": ("Server: error within (days)", defaults.server_error.days),
            "unused-days": ("Unused for (days)", defaults.unused.days),
            "purge-days": ("Purge: expired more than (days)", 0),
        }
        self.inputs: dict[str, widgets.BoundedIntText] = {}
        for key, (_, value) in self.fields.items():
            box = widgets.BoundedIntText(value=value, min=0, max=3650)
            css(box, "ck-input", f"ck-expiry-{key}")
            self.inputs[key] = box
        self.apply = parts.button("Apply", "ck-expiry-apply", kind="primary")
        self.widget = parts.hbox(
            [*(parts.field(self.fields[k][0], w) for k, w in self.inputs.items()), self.apply],
            "ck-thresholds",
        )

    def days(self, key: str) -> timedelta:
        return timedelta(days=int(self.inputs[key].value))

    def settings(self) -> analysis.AnalysisSettings:
        return analysis.AnalysisSettings(
            expiring=self.days("client-days"),
            server_warning=self.days("server-warning"),
            server_error=self.days("server-error"),
            unused=self.days("unused-days"),
        )


@dataclass
class ExpiryView:
    """The parts of the page, for tests and for composing (``root`` is what gets shown)."""

    root: widgets.VBox
    banner: Banner
    thresholds: Thresholds
    period: widgets.Dropdown
    timeline: widgets.Image
    breakdown: widgets.Image
    numbers: widgets.HTML
    slots: list[ExpiringSlot]
    renew: RenewDialog
    delete: DeleteDialog
    purge: PurgeDialog
    lists: dict[str, widgets.HTML]
    report: analysis.ExpiryReport | None = field(default=None)
    offset: int = 0


def expiry_page(kit: Certkit | None = None, *, actor: Actor = LOCAL_ADMIN) -> widgets.VBox:
    """The Expiry page as one widget (the notebook shows it; nothing is displayed here).

    Args:
        kit: The certkit home; ``None`` opens the default (``$CERTKIT_HOME``).
        actor: Who acts (renew, delete, purge); the local app is the local ClusterAdmin.
    """
    return build_expiry_view(kit or open_certkit(), actor=actor).root


def build_expiry_view(kit: Certkit, *, actor: Actor = LOCAL_ADMIN) -> ExpiryView:
    """Build the page, load it once, and return its parts."""
    parts = Parts()
    banner = Banner(parts, "ck-banner")
    reloads: list[Callable[[], None]] = []
    ctx = Context(kit=kit, actor=actor, parts=parts, banner=banner, changed=lambda: reloads[0]())
    thresholds = Thresholds(parts)
    period = widgets.Dropdown(options=[("Per month", "month"), ("Per week", "week")])
    css(period, "ck-input", "ck-expiry-period")
    timeline = widgets.Image(format="png")
    css(timeline, "ck-expiry-timeline")
    breakdown = widgets.Image(format="png")
    css(breakdown, "ck-expiry-breakdown")
    numbers = parts.html("", "ck-expiry-numbers")
    counts = parts.html("", "ck-expiry-counts")
    own = parts.html("", "ck-expiry-own")
    renew, delete = RenewDialog(ctx), DeleteDialog(ctx)
    purge = PurgeDialog(ctx, lambda _: ctx.changed())
    lists = {
        key: parts.html("", f"ck-expiry-{key}")
        for key in ("expired-list", "never-used", "unused-list", "shared")
    }
    page_info = parts.html("", "ck-expiry-pageinfo")
    prev = parts.button("Previous", "ck-expiry-prev", icon="chevron-left")
    next_ = parts.button("Next", "ck-expiry-next", icon="chevron-right")
    empty = parts.html(
        '<p class="ck-empty">Nothing expires within the threshold.</p>',
        "ck-expiry-expiring-empty",
        "ck-hidden",
    )

    def act(action: str, thumbprint: str) -> None:
        record = kit.show(thumbprint)
        if not isinstance(record, CertificateRecord):
            raise InvalidInput(f"{thumbprint} is not a client certificate.")
        (renew.open if action == "renew" else delete.open)(record)

    slots = [ExpiringSlot(parts, i, banner, act) for i in range(ROWS)]
    reload_button = parts.button("Reload", "ck-expiry-reload", icon="refresh")
    purge_expired = parts.button("Purge expired", "ck-expiry-purge-expired", kind="danger")
    purge_unused = parts.button("Purge unused", "ck-expiry-purge-unused", kind="danger")
    view = ExpiryView(
        root=widgets.VBox(),
        banner=banner,
        thresholds=thresholds,
        period=period,
        timeline=timeline,
        breakdown=breakdown,
        numbers=numbers,
        slots=slots,
        renew=renew,
        delete=delete,
        purge=purge,
        lists=lists,
    )

    def show_rows() -> None:
        report = view.report
        frame = report.expiring if report is not None else pd.DataFrame()
        for index, slot in enumerate(slots):
            at = view.offset + index
            slot.show(frame.iloc[at] if at < len(frame) else None)
        total = report.totals["expiring"] if report is not None else 0
        shown = min(len(frame), report.settings.list_limit if report else 0)
        first = view.offset + 1 if len(frame) else 0
        last = min(view.offset + ROWS, len(frame))
        more = f" (the first {shown:,} of {total:,})" if total > shown else ""
        page_info.value = f'<span class="ck-pageinfo">{first}-{last} of {shown:,}{more}</span>'
        prev.disabled = view.offset <= 0
        next_.disabled = last >= len(frame)
        set_visible(empty, not len(frame))

    def draw() -> None:
        if view.report is not None:
            timeline.value = analysis.timeline_png(view.report, period=str(period.value))

    def reload() -> None:
        report = analysis.expiry_report(kit, thresholds.settings())
        view.report, view.offset = report, 0
        draw()
        breakdown.value = analysis.breakdown_png(report)
        numbers.value = numbers_html(report)
        counts.value = counts_html(report)
        own.value = own_html(report)
        totals = report.totals
        lists["expired-list"].value = table_html(
            report.expired,
            EXPIRED_COLUMNS,
            total=totals["expired"],
            empty="No expired certificate is registered.",
        )
        lists["never-used"].value = table_html(
            report.never_used,
            UNUSED_COLUMNS,
            total=totals["never_used"],
            empty="Every certificate has been used.",
        )
        lists["unused-list"].value = table_html(
            report.unused,
            UNUSED_COLUMNS,
            total=totals["unused"],
            empty=f"Every certificate was used within {report.settings.unused.days} days.",
        )
        lists["shared"].value = table_html(
            report.shared_keys,
            SHARED_COLUMNS,
            total=totals["shared_key_certificates"],
            empty="No two certificates share a public key.",
        )
        show_rows()

    reloads.append(reload)

    def move(delta: int) -> None:
        if view.report is not None and 0 <= view.offset + delta < len(view.report.expiring):
            view.offset += delta
            show_rows()

    def ask_purge(kind: str) -> None:
        report = view.report
        assert report is not None
        if kind == "expired":
            request = PurgeRequest(
                "expired",
                thresholds.days("purge-days"),
                kit.count_expired(older_than=thresholds.days("purge-days")),
            )
        else:
            request = PurgeRequest("unused", report.settings.unused, report.totals["unused"])
        purge.open(request)

    def applied() -> None:
        reload()
        banner.success("Thresholds applied.")

    on_click(thresholds.apply, banner, applied)
    on_click(reload_button, banner, reload)
    on_change(period, banner, draw)
    on_click(prev, banner, lambda: move(-ROWS))
    on_click(next_, banner, lambda: move(ROWS))
    on_click(purge_expired, banner, lambda: ask_purge("expired"))
    on_click(purge_unused, banner, lambda: ask_purge("unused"))

    style = widgets.HTML(value=f"<style>{CSS}</style>")
    css(style, "ck-style")
    header = parts.hbox(
        [
            parts.html(
                '<div class="ck-title"><h1>Expiry and usage</h1>'
                f'<span class="ck-cluster">Cluster {escape(kit.cluster_name())}</span></div>'
            ),
            parts.hbox([reload_button], "ck-actions"),
        ],
        "ck-header",
    )
    head = parts.box(
        [parts.html('<div class="ck-cell">Certificate</div>'), parts.html("Actions")],
        "ck-row",
        "ck-row-head",
    )
    view.root = parts.vbox(
        [
            stylesheet(),
            style,
            header,
            banner.widget,
            parts.card("Thresholds", [thresholds.widget], "ck-expiry-thresholds"),
            parts.card(
                "Expiry timeline",
                [period, parts.hbox([timeline, numbers], "ck-expiry-plot")],
                "ck-expiry-overview",
            ),
            parts.card(
                "Breakdown",
                [parts.hbox([breakdown, counts], "ck-expiry-plot")],
                "ck-expiry-breakdown-card",
            ),
            parts.card("Server, node and CA certificates", [own], "ck-expiry-own-card"),
            parts.card(
                "Expiring soon",
                [
                    parts.vbox([head, *(s.widget for s in slots), empty], "ck-rows"),
                    parts.hbox([prev, page_info, next_], "ck-pager"),
                ],
                "ck-expiry-expiring",
            ),
            parts.card(
                "Unused",
                [
                    parts.html('<h3 class="ck-subtitle">Never used</h3>'),
                    lists["never-used"],
                    parts.html('<h3 class="ck-subtitle">Unused for the threshold</h3>'),
                    lists["unused-list"],
                    parts.hbox([purge_unused], "ck-actions"),
                ],
                "ck-expiry-unused",
            ),
            parts.card(
                "Expired, still registered",
                [lists["expired-list"], parts.hbox([purge_expired], "ck-actions")],
                "ck-expiry-expired",
            ),
            parts.card("Certificates that share a public key", [lists["shared"]], "ck-expiry-keys"),
            renew.root,
            delete.root,
            purge.root,
        ],
        "ck-page",
        "ck-expiry-page",
    )
    reports_errors(banner)(reload)()
    return view
