"""What every page and dialog shares: widget parts, the banner, the error guard, the modal.

Widgets are built per page from a :class:`Parts`, which hands the same ``Layout`` and style
models to every widget it makes (ipywidgets would otherwise create one of each per widget,
doubling the model count and the load time). Nothing here is global.
"""

from __future__ import annotations

import base64
import functools
import html
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec

import ipywidgets as widgets
from ipywidgets.widgets.widget_string import HTMLStyle

from certkit.errors import CertkitError, InvalidInput
from certkit.model import Actor
from certkit.ops import Certkit

log = logging.getLogger("certkit.ui")

GENERIC_ERROR = "Something went wrong; the error was logged."
HIDDEN = "ck-hidden"
P = ParamSpec("P")


def escape(value: object) -> str:
    """HTML-escape any value (quotes included) for text and attribute positions."""
    return html.escape(str(value), quote=True)


def css(widget: widgets.DOMWidget, *classes: str) -> None:
    """Add CSS classes (the stable ``ck-<page>-<part>`` test handles) to a widget."""
    for name in classes:
        if name:
            widget.add_class(name)


def set_visible(widget: widgets.DOMWidget, visible: bool) -> None:
    """Show or hide a widget by toggling the ``ck-hidden`` class (see style.py)."""
    if visible:
        widget.remove_class(HIDDEN)
    else:
        widget.add_class(HIDDEN)


def is_visible(widget: widgets.DOMWidget) -> bool:
    return HIDDEN not in widget._dom_classes


def day(moment: datetime | None) -> str:
    """A date as the table shows it (UTC), or an empty string."""
    return moment.strftime("%Y-%m-%d") if moment else ""


def when(moment: datetime | None) -> str:
    """A date and time in UTC, to the minute."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


def safe_file_name(text: str, suffix: str) -> str:
    """A download file name from free text: letters, digits, ``._-`` only."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.") or "certkit"
    return f"{stem[:80]}{suffix}"


def download_link(data: bytes, filename: str, *, mime: str, text: str, css_class: str) -> str:
    """An ``<a download>`` whose ``href`` is a data URI: the browser saves it, no server route."""
    payload = base64.b64encode(data).decode("ascii")
    return (
        f'<a class="ck-download {escape(css_class)}" download="{escape(filename)}" '
        f'href="data:{mime};base64,{payload}">{escape(text)}</a>'
    )


def uploaded_file(upload: widgets.FileUpload) -> tuple[str, bytes]:
    """The name and bytes of the file chosen in a FileUpload, or a clear error."""
    if not upload.value:
        raise InvalidInput("Choose a file first.")
    item = upload.value[0]
    content: Any = item["content"] if isinstance(item, dict) else item.content
    name: Any = item["name"] if isinstance(item, dict) else item.name
    return str(name), bytes(content)


class Parts:
    """Makes widgets for one page, all sharing one Layout and one style model per kind."""

    def __init__(self) -> None:
        self.layout = widgets.Layout()
        self.button_style = widgets.ButtonStyle()
        self.html_style = HTMLStyle()

    def html(self, value: str = "", *classes: str) -> widgets.HTML:
        widget = widgets.HTML(value=value, layout=self.layout, style=self.html_style)
        css(widget, *classes)
        return widget

    def button(
        self, label: str, *classes: str, kind: str = "", icon: str = "", tooltip: str = ""
    ) -> widgets.Button:
        widget = widgets.Button(
            description=label,
            button_style=kind,
            icon=icon,
            tooltip=tooltip or label,
            layout=self.layout,
            style=self.button_style,
        )
        css(widget, "ck-button", *classes)
        return widget

    def box(self, children: Sequence[widgets.Widget], *classes: str) -> widgets.Box:
        widget = widgets.Box(children=tuple(children), layout=self.layout)
        css(widget, *classes)
        return widget

    def vbox(self, children: Sequence[widgets.Widget], *classes: str) -> widgets.VBox:
        widget = widgets.VBox(children=tuple(children), layout=self.layout)
        css(widget, *classes)
        return widget

    def hbox(self, children: Sequence[widgets.Widget], *classes: str) -> widgets.HBox:
        widget = widgets.HBox(children=tuple(children), layout=self.layout)
        css(widget, *classes)
        return widget

    def field(self, label: str, widget: widgets.Widget, *, hint: str = "") -> widgets.VBox:
        """A labelled form field: the label above the input, an optional hint below."""
        parts: list[widgets.Widget] = [self.html(f'<span class="ck-label">{escape(label)}</span>')]
        parts.append(widget)
        if hint:
            parts.append(self.html(f'<span class="ck-hint">{escape(hint)}</span>'))
        return self.vbox(parts, "ck-field")

    def card(self, title: str, children: Sequence[widgets.Widget], *classes: str) -> widgets.VBox:
        heading = self.html(f'<h2 class="ck-card-title">{escape(title)}</h2>')
        return self.vbox([heading, *children], "ck-card", *classes)


class Banner:
    """A message area: success, info or error, always escaped."""

    def __init__(self, parts: Parts, *classes: str) -> None:
        self.widget = parts.html("", "ck-message", HIDDEN, *classes)
        self.kind = ""
        self.text = ""

    def show(self, kind: str, text: str) -> None:
        self.kind, self.text = kind, text
        self.widget.value = (
            f'<div class="ck-alert ck-alert-{kind}" role="status">{escape(text)}</div>'
        )
        set_visible(self.widget, True)

    def success(self, text: str) -> None:
        self.show("success", text)

    def info(self, text: str) -> None:
        self.show("info", text)

    def error(self, text: str) -> None:
        self.show("error", text)

    def clear(self) -> None:
        self.kind, self.text = "", ""
        self.widget.value = ""
        set_visible(self.widget, False)


def reports_errors(banner: Banner) -> Callable[[Callable[P, None]], Callable[P, None]]:
    """Guard a widget callback: a CertkitError's message goes to the banner; anything
    else shows a generic message and is logged with its traceback. Nothing escapes to
    ipywidgets, which would swallow it (or print a traceback into the page)."""

    def decorate(handler: Callable[P, None]) -> Callable[P, None]:
        @functools.wraps(handler)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
            try:
                handler(*args, **kwargs)
            except CertkitError as error:
                banner.error(error.message)
            except Exception:
                log.exception("Unexpected error in %s", getattr(handler, "__qualname__", handler))
                banner.error(GENERIC_ERROR)

        return guarded

    return decorate


def on_click(button: widgets.Button, banner: Banner, action: Callable[[], None]) -> None:
    """Run ``action`` on a click, guarded by :func:`reports_errors`."""

    @reports_errors(banner)
    def clicked(_: widgets.Button) -> None:
        action()

    button.on_click(clicked)


def on_change(widget: widgets.Widget, banner: Banner, action: Callable[[], None]) -> None:
    """Run ``action`` when ``widget.value`` changes, guarded by :func:`reports_errors`."""

    @reports_errors(banner)
    def changed(_: dict[str, Any]) -> None:
        action()

    widget.observe(changed, names="value")


class Modal:
    """A real modal: a fixed overlay with a card, shown and hidden with a CSS class.

    The card has a title, a message area (``ck-<name>-message``), a body and a footer.
    """

    def __init__(
        self,
        parts: Parts,
        name: str,
        *,
        body: Sequence[widgets.Widget],
        footer: Sequence[widgets.Widget],
        wide: bool = False,
    ) -> None:
        self.name = name
        self.title = parts.html("", "ck-modal-title", f"ck-{name}-title")
        self.close_button = parts.button("", "ck-modal-close", f"ck-{name}-close", icon="times")
        self.close_button.tooltip = "Close"
        self.message = Banner(parts, f"ck-{name}-message")
        header = parts.hbox([self.title, self.close_button], "ck-modal-header")
        self.footer = parts.hbox(list(footer), "ck-modal-footer")
        self.card = parts.vbox(
            [header, self.message.widget, *body, self.footer],
            "ck-modal-card",
            "ck-modal-wide" if wide else "",
        )
        self.root = parts.box([self.card], "ck-modal", f"ck-modal-{name}", HIDDEN)
        self._closed: list[Callable[[], None]] = []
        on_click(self.close_button, self.message, self.close)

    def when_closed(self, action: Callable[[], None]) -> None:
        """Run ``action`` whenever the dialog closes (to forget secrets shown once)."""
        self._closed.append(action)

    def set_title(self, text: str) -> None:
        self.title.value = f"<h3>{escape(text)}</h3>"

    def open(self) -> None:
        self.message.clear()
        set_visible(self.root, True)

    def close(self) -> None:
        set_visible(self.root, False)
        for action in self._closed:
            action()

    @property
    def is_open(self) -> bool:
        return is_visible(self.root)


@dataclass(frozen=True, slots=True)
class Context:
    """What a page hands its dialogs: the kit, who acts, the page banner, the parts factory,
    and what to call after a change so the page shows it."""

    kit: Certkit
    actor: Actor
    parts: Parts
    banner: Banner
    changed: Callable[[], None]
