"""A browser with a client certificate reaches the certkit web app through the front door;
one without, or with too little clearance, does not.

Debian's Chromium driven by Playwright (``client_certificates``, no ``playwright install``),
nginx with the shipped config, ``certkit serve`` and the real Voila app, all on 127.0.0.1.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from certkit import app
from certkit.ops import open_certkit
from certkit.service.frontdoor import write_nginx_files
from tests.browser.launch import chromium, voila_serving
from tests.service_helpers import (
    Client,
    Nginx,
    Serve,
    free_port,
    generate,
    render_front_door,
)

pytestmark = [pytest.mark.slow, pytest.mark.browser]


class Door:
    """nginx in front of ``certkit serve`` and the real app; ``stack`` stops all three."""

    def __init__(self, base: Path, stack: ExitStack) -> None:
        home = base / "home"
        self.kit = kit = open_certkit(home)
        self.operator = generate(kit, base, "browser operator", clearance="Operator")
        self.user = generate(kit, base, "browser user", clearance="ValidUser")
        files = base / "nginx-files"
        write_nginx_files(kit, files)
        self.serve = Serve(home, base / "serve.log")
        stack.callback(self.serve.stop)
        self.voila = stack.enter_context(
            voila_serving(app.launcher_notebook(), home, base / "voila")
        )
        self.port = free_port()
        site = render_front_door(
            files,
            listen=self.port,
            serve=self.serve.port,
            app=self.voila.port,
            database=free_port(),  # nothing there: these tests use the web app only
        )
        self.nginx = Nginx(base / "nginx", site, self.port)
        stack.callback(self.nginx.stop)
        self.url = f"https://localhost:{self.port}/"


@pytest.fixture(scope="module")
def door(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Door]:
    with ExitStack() as stack:
        door = Door(tmp_path_factory.mktemp("browser-door"), stack)
        yield door
    assert not door.voila.leaked, f"kernels outlived Voila and were killed: {door.voila.leaked}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as opened:
        yield opened


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
