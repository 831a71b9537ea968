"""Find widgets by their ``ck-*`` CSS class, the handle headless and browser tests share."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import ipywidgets as widgets


def walk(root: widgets.Widget) -> Iterator[widgets.Widget]:
    """``root`` and every widget below it, depth first, through ``.children``."""
    yield root
    for child in getattr(root, "children", ()):
        yield from walk(child)


def find_all(root: widgets.Widget, css_class: str) -> list[Any]:
    """Every widget under ``root`` (itself included) carrying ``css_class``."""
    return [w for w in walk(root) if css_class in getattr(w, "_dom_classes", ())]


def find(root: widgets.Widget, css_class: str) -> Any:
    """The one widget under ``root`` with ``css_class``; an error if none or several."""
    found = find_all(root, css_class)
    if len(found) != 1:
        raise LookupError(f"expected one widget with class {css_class!r}, found {len(found)}")
    return found[0]


def text(widget: widgets.Widget) -> str:
    """The text of the HTML and Label widgets in ``widget`` (itself included): tags dropped,
    entities decoded, spaces collapsed."""
    values = [str(w.value) for w in walk(widget) if isinstance(w, widgets.HTML | widgets.Label)]
    plain = re.sub(r"<[^>]+>", " ", " ".join(values))
    return re.sub(r"\s+", " ", html.unescape(plain)).strip()


def choose_file(upload: widgets.FileUpload, name: str, data: bytes) -> None:
    """Set a FileUpload's value the way the browser does when a file is picked."""
    upload.value = (
        {
            "name": name,
            "type": "application/octet-stream",
            "size": len(data),
            "content": memoryview(data),
            "last_modified": datetime.now(UTC),
        },
    )
