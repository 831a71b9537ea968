"""A browser with a client certificate reaches the certkit web app through the front door;
one without, or with too little clearance, does not.

Debian's Chromium driven by Playwright (``client_certificates``, no ``playwright install``),
nginx with the shipped config, ``certkit serve`` and the real Voila app, all on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from certkit import app
from certkit.ops import open_certkit
from certkit.service.frontdoor import write_nginx_files
from tests.service_helpers import (
    Client,
    Nginx,
    Serve,
    free_port,
    generate,
    render_front_door,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


class Door:
    def __init__(self, base: Path) -> None:
        home = base / "home"
        self.kit = kit = open_certkit(home)
        self.operator = generate(kit, base, "browser operator", clearance="Operator")
        self.user = generate(kit, base, "browser user", clearance="ValidUser")
        files = base / "nginx-files"
        write_nginx_files(kit, files)
        self.serve = Serve(home, base / "serve.log")
        self.app_port = free_port()
        self.voila_log = (base / "voila.log").open("wb")
        self.voila = subprocess.Popen(
            app.voila_command(app.launcher_notebook(), self.app_port),
            env=app.voila_environment(home),
            stdout=self.voila_log,
            stderr=subprocess.STDOUT,
        )
        if not wait_until(self._voila_ready, timeout=90, interval=0.2):
            raise RuntimeError(f"Voila did not start: {(base / 'voila.log').read_text()}")
        self.port = free_port()
        site = render_front_door(
            files,
            listen=self.port,
            serve=self.serve.port,
            app=self.app_port,
            database=free_port(),  # nothing there: these tests use the web app only
        )
        self.nginx = Nginx(base / "nginx", site, self.port)
        self.url = f"https://localhost:{self.port}/"

    def _voila_ready(self) -> bool:
        # any answer from /api/status; never poll GET /, which starts a kernel each time
        if self.voila.poll() is not None:
            return True
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{self.app_port}/api/status", timeout=2)
        except urllib.error.HTTPError:
            return True
        except OSError:
            return False
        return True

    def close(self) -> None:
        self.nginx.stop()
        self.voila.terminate()
        try:
            self.voila.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.voila.kill()
            self.voila.wait(timeout=10)
        self.voila_log.close()
        self.serve.stop()


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    door = Door(tmp_path_factory.mktemp("browser-door"))
    yield door
    door.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield chromium
        chromium.close()


def _context(browser: Any, door: Door, client: Client | None) -> Any:
    certificates = (
        [{"origin": door.url.rstrip("/"), "certPath": str(client.cert), "keyPath": str(client.key)}]
        if client
        else []
    )
    return browser.new_context(ignore_https_errors=True, client_certificates=certificates)


def test_an_operator_certificate_reaches_the_web_app(browser: Any, door: Door) -> None:
    context = _context(browser, door, door.operator)
    try:
        page = context.new_page()
        response = page.goto(door.url, timeout=60_000)
        assert response is not None and response.status == 200
        page.wait_for_selector(".ck-page", state="visible", timeout=60_000)
        assert "Certificates" in page.inner_text(".ck-page")
    finally:
        context.close()


@pytest.mark.parametrize(("who", "status"), [(None, 401), ("user", 403)])
def test_without_a_good_certificate_the_door_stays_shut(
    browser: Any, door: Door, who: str | None, status: int
) -> None:
    context = _context(browser, door, getattr(door, who) if who else None)
    try:
        page = context.new_page()
        response = page.goto(door.url, timeout=60_000)
        assert response is not None and response.status == status
        assert '"error"' in page.content()
        assert page.query_selector(".ck-page") is None
    finally:
        context.close()
