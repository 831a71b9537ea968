"""Helpers for the browser tests: an app page with waits and checks, and a page factory
that watches every page for errors (imported by conftest.py and the tests)."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from certkit.app import VoilaServer
from certkit.ops import Certkit, open_certkit

LOAD_TIMEOUT_MS = 60_000
WAIT_MS = 20_000
# Console messages of type "error" that are known to be harmless (feasibility.md section 3,
# ui_options.md section 5): the lab template's CDN links (removed by certkit's template, but
# harmless if they come back) and Voila's bundled JupyterLab version warnings.
HARMLESS_CONSOLE = (
    "net::ERR_NAME_NOT_RESOLVED",
    "cdn.jsdelivr.net",
    "Unsatisfied version",
    "No satisfying version",
)
# The table's row slots, in page order, and their visible names.
ROW_NAMES_JS = """() => Array.from(
    document.querySelectorAll('.ck-certs-table .ck-row:not(.ck-row-head):not(.ck-hidden)'))
  .map(row => row.querySelector('.ck-cell-name .ck-name'))
  .map(cell => cell ? cell.textContent : null)"""


@dataclass
class VoilaApp:
    """The running app: its Voila server and home."""

    server: VoilaServer
    home: Path

    @property
    def url(self) -> str:
        return self.server.url

    def kit(self) -> Certkit:
        """The registry the app manages, through the facade (a fresh open each time)."""
        return open_certkit(self.home)


@dataclass
class AppPage:
    """One browser page on the app, with the checks every test wants."""

    page: Any
    url: str
    problems: list[str] = field(default_factory=list)

    # --- loading and waiting ---------------------------------------------------------

    def load(self) -> AppPage:
        """Open the app and wait for the client table (its page info and first row)."""
        self.page.goto(self.url, timeout=LOAD_TIMEOUT_MS)
        self.page.wait_for_selector(
            ".ck-certs-pageinfo .ck-pageinfo", state="visible", timeout=LOAD_TIMEOUT_MS
        )
        self.page.wait_for_selector(
            ".ck-certs-row-0 .ck-name, .ck-certs-empty:not(.ck-hidden)",
            state="visible",
            timeout=LOAD_TIMEOUT_MS,
        )
        return self

    def visible(self, selector: str, timeout: int = WAIT_MS) -> Any:
        return self.page.wait_for_selector(selector, state="visible", timeout=timeout)

    def hidden(self, selector: str, timeout: int = WAIT_MS) -> None:
        self.page.wait_for_selector(selector, state="hidden", timeout=timeout)

    def text(self, selector: str) -> str:
        return str(self.page.inner_text(selector)).strip()

    def wait_text(self, selector: str, expected: str, timeout: int = WAIT_MS) -> str:
        """Wait until the element's text contains ``expected``; return the whole text."""
        try:
            self.page.wait_for_function(
                """([sel, want]) => {
                    const el = document.querySelector(sel);
                    return !!el && el.innerText.includes(want);
                }""",
                arg=[selector, expected],
                timeout=timeout,
            )
        except Exception as error:
            shown = self.page.query_selector(selector)
            actual = shown.inner_text() if shown else "(no element)"
            raise AssertionError(
                f"{selector} never showed {expected!r}; it shows {actual!r}"
            ) from error
        return self.text(selector)

    def open_dialog(self, button: str, name: str) -> None:
        """Click a button that opens the dialog ``ck-modal-<name>`` and wait for it."""
        self.page.click(button)
        self.visible(f".ck-modal-{name}:not(.ck-hidden) .ck-modal-card")

    # --- the table ---------------------------------------------------------------------

    def row_names(self) -> list[str | None]:
        return list(self.page.evaluate(ROW_NAMES_JS))

    def wait_rows(self, expected: list[str], timeout: int = WAIT_MS) -> None:
        """Wait until the visible rows show exactly these names, in this order."""
        try:
            self.page.wait_for_function(
                f"(want) => JSON.stringify(({ROW_NAMES_JS})()) === JSON.stringify(want)",
                arg=expected,
                timeout=timeout,
            )
        except Exception as error:
            raise AssertionError(
                f"rows never became {expected}; they are {self.row_names()}"
            ) from error

    def search(self, text: str, expected: list[str]) -> None:
        """Search the table (applies on Enter) and wait for these rows."""
        self.page.fill(".ck-certs-search input", text)
        self.page.press(".ck-certs-search input", "Enter")
        self.wait_rows(expected)

    def option_label(self, select: str, starts: str) -> str:
        """The label of the option of ``select`` that starts with ``starts`` (counts vary)."""
        labels = self.page.eval_on_selector_all(
            f"{select} option", "options => options.map(o => o.textContent)"
        )
        matching = [label for label in labels if label.replace("\xa0", " ").startswith(starts)]
        assert matching, f"no option starting with {starts!r} in {select}: {labels}"
        return str(matching[0])

    def choose(self, select: str, starts: str) -> str:
        """Select the option whose label starts with ``starts``; returns the full label."""
        label = self.option_label(select, starts)
        self.page.select_option(f"{select} select", label=label)
        return label.replace("\xa0", " ")

    def row(self, name: str) -> str:
        """The selector of the visible row showing ``name`` (it must be on this page)."""
        names = self.row_names()
        assert name in names, f"{name!r} is not in the table: {names}"
        return f".ck-certs-row-{names.index(name)}"

    # --- checks ------------------------------------------------------------------------

    def check_clean(self) -> None:
        """No page error, dialog or unexpected console error; no traceback in the page."""
        if self.page.is_closed():
            return
        content = self.page.content()
        if "Traceback" in content:
            start = content.index("Traceback")
            self.problems.append(f"traceback text in the page: {content[start : start + 300]!r}")
        assert not self.problems, "the page reported problems:\n" + "\n".join(self.problems)


class Pages:
    """Opens pages (each in a new browser context) and watches them for problems."""

    def __init__(self, browser: Any, url: str) -> None:
        self._browser = browser
        self._url = url
        self.opened: list[AppPage] = []
        self._contexts: list[Any] = []

    def new(self, *, load: bool = True) -> AppPage:
        context = self._browser.new_context(
            accept_downloads=True, viewport={"width": 1400, "height": 1000}
        )
        self._contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        watched = AppPage(page, self._url)

        def page_error(error: Any) -> None:
            watched.problems.append(f"page error: {error}")

        def console(message: Any) -> None:
            if message.type != "error":
                return
            text = str(message.text)
            if any(noise in text for noise in HARMLESS_CONSOLE):
                return
            watched.problems.append(f"console error: {text}")

        def dialog(shown: Any) -> None:
            watched.problems.append(f"a JavaScript {shown.type} fired: {shown.message!r}")
            with contextlib.suppress(Exception):
                shown.dismiss()

        page.on("pageerror", page_error)
        page.on("console", console)
        page.on("dialog", dialog)
        self.opened.append(watched)
        return watched.load() if load else watched

    def check(self) -> None:
        for page in self.opened:
            page.check_clean()

    def close(self) -> None:
        for context in self._contexts:
            with contextlib.suppress(Exception):
                context.close()
