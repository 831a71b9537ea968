"""The client certificates table: search, filters with counts, sort, 50 reusable row slots
and a pager. Pages come from the registry (``ListQuery`` offset/limit), never all rows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import ipywidgets as widgets

from certkit.model import (
    CLEARANCE_GROUPS,
    CertificateRecord,
    CertState,
    Clearance,
    ListQuery,
    Page,
    SortKey,
)
from certkit.ui.common import (
    Banner,
    Context,
    Parts,
    css,
    day,
    escape,
    on_change,
    on_click,
    set_visible,
    when,
)
from certkit.ui.sections import state_badge

PAGE_SIZE = 50
COLUMNS = (
    ("name", "Name"),
    ("thumbprint", "Thumbprint"),
    ("clearance", "Security clearance"),
    ("valid-from", "Valid from"),
    ("expiration", "Expiration"),
    ("last-used", "Last used"),
    ("permissions", "Database permissions"),
    ("2fa", "2FA"),
)
SORT_OPTIONS = [
    ("Name", SortKey.NAME.value),
    ("Expiration", SortKey.EXPIRATION.value),
    ("Valid from", SortKey.VALID_FROM.value),
    ("Last used", SortKey.LAST_USED.value),
]
Action = Callable[[CertificateRecord], None]


@dataclass(frozen=True, slots=True)
class RowActions:
    """What the per-row buttons do (open the page's dialogs)."""

    clone: Action
    edit: Action
    delete: Action


def _cell(column: str, content: str, title: str = "") -> str:
    tip = f' title="{escape(title)}"' if title else ""
    return f'<div class="ck-cell ck-cell-{column}"{tip}>{content}</div>'


def _permissions(record: CertificateRecord) -> str:
    if record.permissions:
        return " ".join(
            f'<span class="ck-chip">{escape(db)}: {escape(access.label)}</span>'
            for db, access in record.permissions.items()
        )
    if record.clearance is not None and record.clearance.group != "User":
        return '<span class="ck-muted">all databases</span>'
    return '<span class="ck-muted">none</span>'


def row_html(record: CertificateRecord, now: datetime, threshold: timedelta) -> str:
    """The cells of one table row; every value from the certificate or a user is escaped."""
    clearance = record.clearance or Clearance.VALID_USER
    extra = (
        f' <span class="ck-badge ck-badge-collection" title="collection">'
        f"+{len(record.collection)}</span>"
        if record.collection
        else ""
    )
    links = "".join(
        f'<div class="ck-hint ck-{kind}">{label} <code>{escape(thumbprint)}</code></div>'
        for kind, label, thumbprint in (
            ("replaced-by", "replaced by", record.replaced_by),
            ("renewal-of", "renewal of", record.replaces),
        )
        if thumbprint
    )
    cells = [
        _cell(
            "name",
            f'<span class="ck-name">{escape(record.name)}</span>{extra}{links}',
            record.subject,
        ),
        _cell("thumbprint", f"<code>{escape(record.thumbprint)}</code>"),
        _cell(
            "clearance",
            f'<span class="ck-badge ck-clr-{clearance.group.lower()}">'
            f"{escape(clearance.label)}</span>",
        ),
        _cell("valid-from", escape(day(record.not_before)), when(record.not_before)),
        _cell(
            "expiration",
            f"{escape(day(record.not_after))} "
            # a renewed entry is never "expiring" (as in the counts): threshold 0
            + state_badge(
                record.not_before,
                record.not_after,
                now,
                timedelta(0) if record.replaced_by else threshold,
            ),
            when(record.not_after),
        ),
        _cell("last-used", escape(day(record.last_used)) if record.last_used else "not used"),
        _cell("permissions", _permissions(record)),
        _cell("2fa", '<span class="ck-badge ck-badge-2fa">2FA</span>' if record.two_factor else ""),
    ]
    return f'<div class="ck-cells">{"".join(cells)}</div>'


def header_html() -> str:
    cells = "".join(_cell(key, escape(label)) for key, label in COLUMNS)
    return f'<div class="ck-cells ck-head">{cells}</div>'


class RowSlot:
    """One reusable row (``ck-certs-row-<i>``): its values change, its widgets stay."""

    def __init__(self, parts: Parts, index: int, banner: Banner, actions: RowActions) -> None:
        self.record: CertificateRecord | None = None
        self.cells = parts.html("", "ck-row-cells")
        self.clone = parts.button("Clone", "ck-certs-row-clone", "ck-small")
        self.edit = parts.button("Edit", "ck-certs-row-edit", "ck-small")
        self.delete = parts.button("Delete", "ck-certs-row-delete", "ck-small", "ck-danger-text")
        buttons = parts.hbox([self.clone, self.edit, self.delete], "ck-row-actions")
        self.widget = parts.box(
            [self.cells, buttons], "ck-row", f"ck-certs-row-{index}", "ck-hidden"
        )
        on_click(self.clone, banner, lambda: actions.clone(self._current()))
        on_click(self.edit, banner, lambda: actions.edit(self._current()))
        on_click(self.delete, banner, lambda: actions.delete(self._current()))

    def _current(self) -> CertificateRecord:
        assert self.record is not None, "an empty row slot has no buttons to click"
        return self.record

    def show(self, record: CertificateRecord | None, html: str = "") -> None:
        self.record = record
        self.cells.value = html
        set_visible(self.widget, record is not None)


class ClientTable:
    """Search, filters (clearance and state with counts, database), sort, pager, rows."""

    def __init__(self, ctx: Context, actions: RowActions) -> None:
        self._kit = ctx.kit
        parts, banner = ctx.parts, ctx.banner
        self.offset = 0
        self.page: Page | None = None
        self._syncing = False
        self.search = widgets.Text(placeholder="Search name or thumbprint", continuous_update=False)
        self.clearance = widgets.Dropdown(options=[("All clearances", "")], value="")
        self.state = widgets.Dropdown(options=[("All states", "")], value="")
        self.database = widgets.Text(placeholder="Database", continuous_update=False)
        self.sort = widgets.Dropdown(options=SORT_OPTIONS, value=SortKey.NAME.value)
        self.order = widgets.Dropdown(
            options=[("Ascending", "asc"), ("Descending", "desc")], value="asc"
        )
        for widget, name in (
            (self.search, "search"),
            (self.clearance, "clearance"),
            (self.state, "state"),
            (self.database, "database"),
            (self.sort, "sort"),
            (self.order, "order"),
        ):
            css(widget, "ck-input", f"ck-certs-{name}")
            on_change(widget, banner, self._filters_changed)
        self.prev = parts.button("Previous", "ck-certs-prev", icon="chevron-left")
        self.next = parts.button("Next", "ck-certs-next", icon="chevron-right")
        self.info = parts.html("", "ck-certs-pageinfo")
        on_click(self.prev, banner, lambda: self._move(-PAGE_SIZE))
        on_click(self.next, banner, lambda: self._move(PAGE_SIZE))
        self.slots = [RowSlot(parts, i, banner, actions) for i in range(PAGE_SIZE)]
        self.empty = parts.html(
            '<p class="ck-empty">No client certificates match.</p>', "ck-certs-empty", "ck-hidden"
        )
        toolbar = parts.hbox(
            [self.search, self.clearance, self.state, self.database, self.sort, self.order],
            "ck-toolbar",
        )
        head = parts.box(
            [
                parts.html(header_html()),
                parts.html('<div class="ck-cell">Actions</div>', "ck-row-actions"),
            ],
            "ck-row",
            "ck-row-head",
        )
        pager = parts.hbox([self.prev, self.info, self.next], "ck-pager")
        rows = parts.vbox([head, *(s.widget for s in self.slots), self.empty], "ck-rows")
        self.widget = parts.card("Client certificates", [toolbar, rows, pager], "ck-certs-table")

    def query(self) -> ListQuery:
        state = str(self.state.value)
        return ListQuery(
            search=self.search.value.strip(),
            clearance=str(self.clearance.value) or None,
            state=CertState(state) if state else None,
            database=self.database.value.strip() or None,
            sort=SortKey(str(self.sort.value)),
            descending=self.order.value == "desc",
            offset=self.offset,
            limit=PAGE_SIZE,
            threshold=self._kit.expiring_threshold,
        )

    def refresh(self) -> None:
        """Fetch the current page again (after a change, or to re-count the filters)."""
        page = self._kit.list_certificates(self.query())
        if page.total and self.offset >= page.total:
            self.offset = (page.total - 1) // PAGE_SIZE * PAGE_SIZE
            page = self._kit.list_certificates(self.query())
        self.page = page
        self._render(page)

    def _filters_changed(self) -> None:
        if not self._syncing:
            self.offset = 0
            self.refresh()

    def _move(self, delta: int) -> None:
        total = self.page.total if self.page else 0
        target = self.offset + delta
        if 0 <= target < max(total, 1):
            self.offset = target
            self.refresh()

    def _render(self, page: Page) -> None:
        now, threshold = self._kit.now(), self._kit.expiring_threshold
        for index, slot in enumerate(self.slots):
            record = page.records[index] if index < len(page.records) else None
            slot.show(record, row_html(record, now, threshold) if record else "")
        set_visible(self.empty, not page.records)
        first = page.offset + 1 if page.records else 0
        last = page.offset + len(page.records)
        self.info.value = f'<span class="ck-pageinfo">{first}-{last} of {page.total:,}</span>'
        self.prev.disabled = page.offset <= 0
        self.next.disabled = last >= page.total
        self._sync_counts(page)

    def _sync_counts(self, page: Page) -> None:
        groups = page.counts_by_clearance
        clearance = [(f"All clearances ({sum(groups.values()):,})", "")]
        clearance += [(f"{g} ({groups.get(g, 0):,})", g) for g in CLEARANCE_GROUPS]
        states = page.counts_by_state
        state = [(f"All states ({sum(states.values()):,})", "")]
        state += [(f"{s.label} ({states.get(s.value, 0):,})", s.value) for s in CertState]
        self._set_options(self.clearance, clearance)
        self._set_options(self.state, state)

    def _set_options(self, dropdown: widgets.Dropdown, options: list[tuple[str, Any]]) -> None:
        if tuple(dropdown.options) == tuple(options):
            return
        keep = dropdown.value
        self._syncing = True
        try:
            dropdown.options = options
            dropdown.value = keep
        finally:
            self._syncing = False
