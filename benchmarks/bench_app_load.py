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
(``certkit.app.voila_command`` / ``voila_environment``: 127.0.0.1, fixed port,
``port_retries=0``, culling, certkit's offline template). Loads alternate between the app
and the blank notebook so that a busy machine slows both alike. The registry is filled
through ``Store.insert_entries`` with fake, well-formed rows (``bench_list_page.fill``).
Debian's Chromium, headless; never ``playwright install``.

Run: .venv/bin/python benchmarks/bench_app_load.py [--quick]
"""

from __future__ import annotations

import http.client
import json
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_TMP, Result, arguments, print_table, spread, temp_home, write_json
from bench_list_page import fill

COUNT = 10_000
LOAD_RATIO_TARGET = 1.5
NEXT_TARGET_S = 0.300
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
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


def notebook(folder: Path, name: str, source: str) -> Path:
    """A one-cell notebook without outputs."""
    document = {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": source,
            }
        ],
        "metadata": {
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path = folder / f"{name}.ipynb"
    path.write_text(json.dumps(document, indent=1))
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(port: int) -> bool:
    """Any HTTP answer from /api/status (never GET /, which starts a kernel)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/api/status")
        connection.getresponse().read()
    except OSError:
        return False
    finally:
        connection.close()
    return True


@dataclass
class Server:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path


@contextmanager
def voila(name: str, notebook_path: Path, home: Path, work: Path) -> Iterator[Server]:
    """A Voila process as ``certkit app`` starts it; stopped by PID with its kernels."""
    import psutil

    from certkit import app

    port = free_port()
    env = app.voila_environment(home)
    for key, folder in (
        ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("JUPYTER_RUNTIME_DIR", f"jupyter-runtime-{name}"),
        ("IPYTHONDIR", "ipython"),
        ("TMPDIR", f"tmp-{name}"),
    ):
        (work / folder).mkdir(exist_ok=True)
        env[key] = str(work / folder)
    env.pop("CERTKIT_DATABASE_URL", None)
    log = work / f"voila-{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            app.voila_command(notebook_path, port),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + 90
        while not answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Voila ({name}) did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield Server(name, f"http://127.0.0.1:{port}/", process, log)
    finally:
        try:
            children = psutil.Process(process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        _, alive = psutil.wait_procs(children, timeout=10)
        for child in alive:
            with suppress(psutil.NoSuchProcess):
                child.kill()


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

    from playwright.sync_api import sync_playwright

    from certkit import app
    from certkit.ops import open_certkit

    BENCH_TMP.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="app-load-", dir=BENCH_TMP))
    try:
        with ExitStack() as stack:
            home = stack.enter_context(temp_home("app-load-home-"))
            kit = open_certkit(home)
            kit.initialise()
            filled = fill(kit, COUNT)
            folder = work / "notebooks"
            folder.mkdir()
            blank_nb = notebook(folder, "blank", BLANK_SOURCE)
            echo_nb = notebook(folder, "echo", ECHO_SOURCE)
            started = time.perf_counter()
            servers = {
                "app": stack.enter_context(voila("app", app.launcher_notebook(), home, work)),
                "blank": stack.enter_context(voila("blank", blank_nb, home, work)),
                "echo": stack.enter_context(voila("echo", echo_nb, home, work)),
            }
            startup = time.perf_counter() - started
            playwright = stack.enter_context(sync_playwright())
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            stack.callback(browser.close)
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
    print_table(
        results,
        title=(
            f"app load: {COUNT:,} entries filled in {filled:.1f} s; "
            f"3 Voila processes up in {startup:.1f} s"
        ),
    )
    write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
