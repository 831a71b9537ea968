"""Starting what the browser tests drive: Voila on a notebook and Debian's Chromium.

Voila is :class:`certkit.app.VoilaServer`, the process ``certkit app`` runs, here on a free
port with a scratch environment. Chromium is Debian's ``/usr/bin/chromium`` driven by
Playwright, headless, never ``playwright install``. The browser tests, the front-door
browser test and ``benchmarks/bench_app_load.py`` all start them from here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from certkit.app import VoilaServer, voila_environment
from tests.service_helpers import free_port

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
SCRATCH_DIRS = {
    "JUPYTER_DATA_DIR": "jupyter-data",
    "JUPYTER_RUNTIME_DIR": "jupyter-runtime",
    "IPYTHONDIR": "ipython",
    "MPLCONFIGDIR": "matplotlib",
    "TMPDIR": "tmp",
}


def scratch_environment(home: Path, base: Path, database_url: str | None = None) -> dict[str, str]:
    """Voila's environment for ``home``, with Jupyter's, IPython's, matplotlib's and the
    temporary directories under ``base``. Like the tests themselves, Voila reads neither the
    developer's ``CERTKIT_DATABASE_URL`` nor ``CERTKIT_KEY_PASSPHRASE``: the registry is the
    home's own file, or the ``database_url`` given, and its secret is the home's."""
    env = voila_environment(home, database_url)
    env.pop("CERTKIT_KEY_PASSPHRASE", None)
    if database_url is None:
        env.pop("CERTKIT_DATABASE_URL", None)
    for name, folder in SCRATCH_DIRS.items():
        (base / folder).mkdir(parents=True, exist_ok=True)
        env[name] = str(base / folder)
    return env


@contextmanager
def voila_serving(
    notebook: Path, home: Path, base: Path, database_url: str | None = None
) -> Iterator[VoilaServer]:
    """Voila serving ``notebook`` on ``home`` (and ``database_url``, if given), answering on
    a free port; its output in ``base/voila.log``. Stopped by PID on exit; ``leaked`` then
    lists any kernel that had to be killed."""
    base.mkdir(parents=True, exist_ok=True)
    env = scratch_environment(home, base, database_url)
    server = VoilaServer(notebook, free_port(), env=env, log=base / "voila.log")
    with server:
        server.wait_ready()
        yield server


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium, headless, through Playwright's sync API (one per thread)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
