"""Real-browser fixtures: one real ``voila`` process for the session, Debian's Chromium
driven by Playwright, and a guard that fails a test on any page error, JavaScript dialog,
unexpected console error or traceback text in the page.

Voila is started the way ``certkit app`` starts it (:class:`certkit.app.VoilaServer`:
127.0.0.1, a fixed port with ``port_retries=0``, kernel culling, the offline template) on
a temporary ``CERTKIT_HOME``. Readiness is probed on ``/api/status`` (a 302 in standalone
Voila), never on ``/``, which would start a kernel. At the end Voila is stopped by its PID
(SIGTERM shuts its kernels down) and any kernel still alive is killed by PID, so nothing
is left running.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import pytest

from certkit import app
from certkit.ops import open_certkit
from tests.browser.browser_pages import AppPage, Pages, VoilaApp
from tests.browser.launch import chromium, voila_serving


@pytest.fixture(scope="session")
def voila_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VoilaApp]:
    """One real Voila process serving the Certificates view for the whole session."""
    base = tmp_path_factory.mktemp("voila-app")
    home = base / "home"
    open_certkit(home).initialise()
    with voila_serving(app.launcher_notebook(), home, base) as server:
        yield VoilaApp(server, home)
    assert not server.leaked, f"kernels outlived Voila and were killed: {server.leaked}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium (never ``playwright install``), headless, for this module.

    Module scope: the sync Playwright API allows one running instance per thread, and
    other browser tests start their own.
    """
    with chromium() as opened:
        yield opened


@pytest.fixture
def app_url(voila_app: VoilaApp) -> str:
    """What ``pages`` open: the Certificates view (a test module may serve another page)."""
    return voila_app.url


@pytest.fixture
def pages(browser: Any, app_url: str) -> Iterator[Pages]:
    """A factory of app pages; each page is its own browser context (and Voila kernel)."""
    opened = Pages(browser, app_url)
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
