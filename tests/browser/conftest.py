"""Real-browser fixtures: one real ``voila`` process for the session, Debian's Chromium
driven by Playwright, and a guard that fails a test on any page error, JavaScript dialog,
unexpected console error or traceback text in the page.

Voila is started the way ``certkit app`` starts it (``certkit.app.voila_command`` and
``voila_environment``: 127.0.0.1, a fixed port with ``port_retries=0``, kernel culling,
the offline template) on a temporary ``CERTKIT_HOME``. Readiness is probed on
``/api/status`` (a 302 in standalone Voila), never on ``/``, which would start a kernel.
At the end Voila is stopped by its PID (SIGTERM shuts its kernels down) and any kernel
still alive is killed by PID, so nothing is left running.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
import time
from collections.abc import Generator, Iterator
from typing import Any

import psutil
import pytest

from certkit import app
from certkit.ops import open_certkit
from tests.browser.browser_pages import AppPage, Pages, VoilaApp

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
START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    """Any HTTP answer from /api/status (Voila redirects it): the server is listening."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/api/status")
        connection.getresponse().read()
    except OSError:
        return False
    finally:
        connection.close()
    return True


def _stop(process: subprocess.Popen[bytes]) -> list[int]:
    """Stop Voila by its PID (terminate, wait, kill on timeout), then any kernel it leaves.

    Returns the PIDs of the kernels that had to be killed (none is the normal case).
    """
    try:
        children = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    _, alive = psutil.wait_procs(children, timeout=10)
    for child in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    psutil.wait_procs(alive, timeout=10)
    return [child.pid for child in alive]


@pytest.fixture(scope="session")
def voila_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoilaApp]:
    """One real Voila process serving the Certificates view for the whole session."""
    base = tmp_path_factory.mktemp("voila-app")
    home = base / "home"
    open_certkit(home).initialise()
    port = free_port()
    env = app.voila_environment(home)
    for name in ("CERTKIT_DATABASE_URL", "CERTKIT_KEY_PASSPHRASE"):
        env.pop(name, None)
    for name, folder in (
        ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
        ("IPYTHONDIR", "ipython"),
        ("TMPDIR", "tmp"),
    ):
        (base / folder).mkdir()
        env[name] = str(base / folder)
    log = base / "voila.log"
    command = app.voila_command(app.launcher_notebook(), port)
    assert "--Voila.port_retries=0" in command
    assert any(arg.startswith("--MappingKernelManager.cull_idle_timeout=") for arg in command)
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    running = VoilaApp(f"http://127.0.0.1:{port}/", port, home, process, log)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(port):
            if process.poll() is not None:
                raise RuntimeError(f"Voila exited with {process.returncode}:\n{running.log_text()}")
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Voila did not answer in {START_TIMEOUT_S} s:\n{running.log_text()}"
                )
            time.sleep(0.1)
        yield running
    finally:
        leaked = _stop(process)
    assert not leaked, f"kernels outlived Voila and were killed: {leaked}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium (never ``playwright install``), headless, for this module.

    Module scope: the sync Playwright API allows one running instance per thread, and
    other browser tests start their own.
    """
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def pages(browser: Any, voila_app: VoilaApp) -> Iterator[Pages]:
    """A factory of app pages; each page is its own browser context (and Voila kernel)."""
    opened = Pages(browser, voila_app.url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def app_page(pages: Pages) -> AppPage:
    """The app, loaded in a fresh browser context."""
    return pages.new()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """After the test body: fail on page errors, dialogs, console errors or tracebacks.

    When the test failed on its own, what the pages reported is added to its report.
    """
    watched = getattr(item, "funcargs", {}).get("pages")
    try:
        result = yield
    except BaseException:
        if isinstance(watched, Pages):
            reported = [problem for page in watched.opened for problem in page.problems]
            if reported:
                item.add_report_section("call", "page problems", "\n".join(reported))
        raise
    if isinstance(watched, Pages):
        try:
            watched.check()
        except AssertionError as problem:
            pytest.fail(str(problem), pytrace=False)
    return result
