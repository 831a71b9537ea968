"""The Certificates view in a real browser: page load on a 10,000-certificate registry.

Figure 1: time from ``page.goto`` until the client table's 50th row is visible with its
name, on a registry of 10,000 client certificates; median of 5 loads, a fresh browser
context (so a fresh Voila kernel) each time. Baseline in the same run: a blank notebook
(one cell showing one ``ipywidgets.Label``) served the same way, until its label is
visible. Target: at most 1.5x the baseline.

Figure 2: "Next" clicked until the page info changes (``1-50`` -> ``51-100``), measured in
the page with ``performance.now()``; median of 10. Baseline: a Button whose click sets a
Label in a one-cell notebook (a bare widget round trip to the kernel). Target: under 300 ms.

Each notebook gets its own Voila process, started as ``certkit app`` starts it
(``certkit.app.VoilaServer``: 127.0.0.1, fixed port, ``port_retries=0``, culling, certkit's
offline template), and Debian's Chromium is launched headless (never ``playwright
install``), both as the browser tests do (``tests/browser/launch.py``). Loads alternate
between the app and the blank notebook so that a busy machine slows both alike. The
registry is filled through ``Store.insert_entries`` with fake, well-formed rows
(``bench_list_page.fill``).

Run: .venv/bin/python benchmarks/bench_app_load.py [--quick]
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from _common import BENCH_TMP, Result, arguments, initialised_home, report, spread
from bench_list_page import fill

COUNT = 10_000
LOAD_RATIO_TARGET = 1.5
NEXT_TARGET_S = 0.300
TIMEOUT_MS = 120_000
BLANK_TEXT = "certkit blank baseline"
BLANK_SOURCE = f'import ipywidgets as widgets\n\nwidgets.Label("{BLANK_TEXT}")'
ECHO_SOURCE = """import ipywidgets as widgets

label = widgets.Label("0")
label.add_class("bench-echo-label")
button = widgets.Button(description="Next")
button.add_class("bench-echo-next")


def bump(_):
    label.value = str(int(label.value) + 1)


button.on_click(bump)
widgets.HBox([button, label])"""
APP_READY = ".ck-certs-row-49 .ck-cell-name .ck-name"
BLANK_READY = f".widget-label:text-is('{BLANK_TEXT}')"
# Click a button and resolve when the watched element's text changes: in-page milliseconds.
CLICK_UNTIL_CHANGED_JS = """async ([button, watched]) => {
    const target = document.querySelector(watched);
    const before = target.innerText;
    const changed = new Promise(resolve => {
        const observer = new MutationObserver(() => {
            if (target.innerText !== before) { observer.disconnect(); resolve(); }
        });
        observer.observe(target, {subtree: true, childList: true, characterData: true});
    });
    const start = performance.now();
    document.querySelector(button).click();
    await changed;
    return performance.now() - start;
}"""


def load_time(browser: Any, url: str, ready: str) -> float:
    """Seconds from ``goto`` until ``ready`` is visible, in a fresh context (new kernel)."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        start = time.perf_counter()
        page.goto(url, wait_until="commit", timeout=TIMEOUT_MS)
        page.wait_for_selector(ready, state="visible", timeout=TIMEOUT_MS)
        elapsed = time.perf_counter() - start
        if ready == APP_READY:
            assert page.inner_text(APP_READY).strip(), "the 50th row has no name"
            info = page.inner_text(".ck-certs-pageinfo").strip()
            assert info == f"1-50 of {COUNT:,}", info
        return elapsed
    finally:
        context.close()


def click_times(
    browser: Any, url: str, ready: str, button: str, watched: str, repeat: int
) -> list[float]:
    """In-page seconds from each click on ``button`` until ``watched`` shows new text."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        page = context.new_page()
        page.goto(url, timeout=TIMEOUT_MS)
        page.wait_for_selector(ready, state="visible", timeout=TIMEOUT_MS)
        times = []
        for _ in range(repeat + 1):  # the first click warms the path up, not counted
            before = page.inner_text(watched)
            times.append(page.evaluate(CLICK_UNTIL_CHANGED_JS, [button, watched]) / 1000)
            assert page.inner_text(watched) != before
        if button == "button.ck-certs-next":
            info = page.inner_text(".ck-certs-pageinfo").strip()
            assert info.startswith(f"{repeat * 50 + 51}-"), info
            assert page.inner_text(APP_READY).strip(), "the 50th row is empty after Next"
        return times[1:]
    finally:
        context.close()


def main() -> list[Result]:
    args = arguments(__doc__.splitlines()[0])
    loads = 3 if args.quick else 5
    clicks = 5 if args.quick else 10

    from certkit import app
    from tests.browser.launch import chromium, voila_serving

    # the temporary home keeps its own secret: the Voila processes do not get the developer's
    # CERTKIT_KEY_PASSPHRASE (tests/browser/launch.py), so this process does not use it either
    os.environ.pop("CERTKIT_KEY_PASSPHRASE", None)
    BENCH_TMP.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="app-load-", dir=BENCH_TMP))
    try:
        with ExitStack() as stack:
            home, kit = stack.enter_context(initialised_home("app-load-home-"))
            filled = fill(kit, COUNT)
            folder = work / "notebooks"
            folder.mkdir()
            blank_nb = app.write_notebook(folder / "blank.ipynb", BLANK_SOURCE)
            echo_nb = app.write_notebook(folder / "echo.ipynb", ECHO_SOURCE)
            started = time.perf_counter()
            servers = {
                name: stack.enter_context(voila_serving(path, home, work / name))
                for name, path in (
                    ("app", app.launcher_notebook()),
                    ("blank", blank_nb),
                    ("echo", echo_nb),
                )
            }
            startup = time.perf_counter() - started
            browser = stack.enter_context(chromium())
            app_url, blank_url = servers["app"].url, servers["blank"].url

            first_app = load_time(browser, app_url, APP_READY)  # cold: not counted
            first_blank = load_time(browser, blank_url, BLANK_READY)
            app_times: list[float] = []
            blank_times: list[float] = []
            for round_ in range(loads):  # alternate, and alternate who goes first
                order = [("app", app_url), ("blank", blank_url)]
                for which, url in order if round_ % 2 == 0 else order[::-1]:
                    if which == "app":
                        app_times.append(load_time(browser, url, APP_READY))
                    else:
                        blank_times.append(load_time(browser, url, BLANK_READY))
            next_times = click_times(
                browser,
                app_url,
                APP_READY,
                "button.ck-certs-next",
                ".ck-certs-pageinfo",
                clicks,
            )
            echo_times = click_times(
                browser,
                servers["echo"].url,
                ".bench-echo-label",
                "button.bench-echo-next",
                ".bench-echo-label",
                clicks,
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)

    app_load, blank_load = statistics.median(app_times), statistics.median(blank_times)
    next_page, echo = statistics.median(next_times), statistics.median(echo_times)
    ratio = app_load / blank_load
    results = [
        Result(
            f"load to 50th row visible, {COUNT:,} certificates",
            app_load,
            blank_load,
            "blank notebook, Label visible",
            f"<= {LOAD_RATIO_TARGET:g}x",
            ratio <= LOAD_RATIO_TARGET,
            f"app {spread(app_times)}; blank {spread(blank_times)}; "
            f"cold first loads (not counted): app {first_app:.2f} s, blank {first_blank:.2f} s",
        ),
        Result(
            "next page: click to page info changed",
            next_page,
            echo,
            "Button->Label round trip",
            f"< {NEXT_TARGET_S * 1000:.0f} ms",
            next_page < NEXT_TARGET_S,
            f"next {spread(next_times)}; round trip {spread(echo_times)}",
        ),
    ]
    return report(
        args,
        results,
        f"app load: {COUNT:,} entries filled in {filled:.1f} s; "
        f"3 Voila processes up in {startup:.1f} s",
    )


if __name__ == "__main__":
    main()
