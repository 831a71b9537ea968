"""The Expiry page in a real browser: Debian's Chromium against a real ``voila`` serving
``notebooks/expiry.ipynb`` (started like ``certkit app`` starts Voila, on its own home).

The plots render (their ``<img>`` decodes to a picture), and a renewal is done the way a
person does it: Renew on the row, a passphrase, the zip downloaded and opened, the link to
the old certificate shown, the old one no longer in the "expiring soon" table.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import subprocess
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from certkit import app, pki
from certkit.model import CertificateRecord
from certkit.ops import open_certkit
from tests.browser.browser_pages import WAIT_MS, AppPage, Pages

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "expiry.ipynb"
START_TIMEOUT_S = 90
LOAD_MS = 90_000
PASSPHRASE = "renewal pw 7"
IMAGE_WIDTH_JS = """(selector) => {
    const el = document.querySelector(selector);
    if (!el) return 0;
    const img = el.tagName === 'IMG' ? el : el.querySelector('img');
    return img && img.complete ? img.naturalWidth : 0;
}"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _answers(port: int) -> bool:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
    try:
        connection.request("GET", "/api/status")  # never "/": that would start a kernel
        connection.getresponse().read()
    except OSError:
        return False
    finally:
        connection.close()
    return True


def _stop(process: subprocess.Popen[bytes]) -> list[int]:
    """Stop Voila by its PID, then any kernel it left, by PID; returns the ones killed."""
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
    return [child.pid for child in alive]


@pytest.fixture(scope="module")
def expiry_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Voila serving the Expiry page on a home with one certificate expiring in 10 days."""
    base = tmp_path_factory.mktemp("voila-expiry")
    home = base / "home"
    kit = open_certkit(home)
    kit.generate_client_certificate("renew-me", expires="10d", permissions={"HR": "Read"})
    kit.generate_client_certificate("steady", expires="2y")
    port = _free_port()
    env = app.voila_environment(home)
    for name in ("CERTKIT_DATABASE_URL", "CERTKIT_KEY_PASSPHRASE"):
        env.pop(name, None)
    for name, folder in (
        ("JUPYTER_DATA_DIR", "jupyter-data"),
        ("JUPYTER_RUNTIME_DIR", "jupyter-runtime"),
        ("IPYTHONDIR", "ipython"),
        ("MPLCONFIGDIR", "matplotlib"),
        ("TMPDIR", "tmp"),
    ):
        (base / folder).mkdir()
        env[name] = str(base / folder)
    log = base / "voila.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            app.voila_command(NOTEBOOK, port),
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _answers(port):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Voila did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/", home
    finally:
        leaked = _stop(process)
    assert not leaked, f"kernels outlived Voila and were killed: {leaked}"


@pytest.fixture
def pages(browser: Any, expiry_app: tuple[str, Path]) -> Iterator[Pages]:
    """Pages on the Expiry app; conftest's hook fails the test on any page problem."""
    opened = Pages(browser, expiry_app[0])
    try:
        yield opened
    finally:
        opened.close()


def load(pages: Pages) -> AppPage:
    page = pages.new(load=False)
    page.page.goto(page.url, timeout=LOAD_MS)
    page.visible(".ck-expiry-row-0 .ck-name", timeout=LOAD_MS)
    return page


def test_the_plots_render_to_png(pages: Pages) -> None:
    page = load(pages)
    for selector in (".ck-expiry-timeline", ".ck-expiry-breakdown"):
        page.page.wait_for_function(IMAGE_WIDTH_JS, arg=selector, timeout=WAIT_MS)
        assert page.page.evaluate(IMAGE_WIDTH_JS, selector) > 300
    source = page.page.evaluate(
        "() => { const el = document.querySelector('.ck-expiry-timeline');"
        " return (el.tagName === 'IMG' ? el : el.querySelector('img')).src; }"
    )
    assert source.startswith(("blob:", "data:image/png"))
    assert "1 expiring within 30 days" in page.text(".ck-expiry-numbers").replace("\n", " ")
    page.page.select_option(".ck-expiry-period select", label="Per week")
    page.page.wait_for_function(IMAGE_WIDTH_JS, arg=".ck-expiry-timeline", timeout=WAIT_MS)


def test_renew_in_the_page(pages: Pages, expiry_app: tuple[str, Path], tmp_path: Path) -> None:
    kit = open_certkit(expiry_app[1])
    old = next(r for r in kit.list_certificates().records if r.name == "renew-me")
    page = load(pages)
    assert page.text(".ck-expiry-row-0 .ck-name") == "renew-me"
    page.open_dialog(".ck-expiry-row-0 button.ck-expiry-renew", "renew")
    page.page.fill(".ck-renew-passphrase input", PASSPHRASE)
    page.page.fill(".ck-renew-passphrase-confirm input", PASSPHRASE)
    page.page.click("button.ck-renew-submit")
    page.visible("a.ck-renew-download")
    with page.page.expect_download() as event:
        page.page.click("a.ck-renew-download")
    saved = tmp_path / event.value.suggested_filename
    event.value.save_as(saved)
    assert saved.name == "renew-me.zip"
    with zipfile.ZipFile(saved) as archive:
        bundle = pkcs12.load_pkcs12(archive.read("renew-me.pfx"), PASSPHRASE.encode())
    assert bundle.cert is not None
    new_thumbprint = pki.thumbprint(bundle.cert.certificate)

    renewed = kit.show(old.thumbprint)
    assert isinstance(renewed, CertificateRecord) and renewed.replaced_by == new_thumbprint
    link = page.text(".ck-renew-link")
    assert f"New thumbprint {new_thumbprint}" in link
    assert f"renewal of {old.thumbprint}" in link
    page.page.click("button.ck-renew-done")
    page.hidden(".ck-modal-renew .ck-modal-card")
    page.visible(".ck-expiry-expiring-empty:not(.ck-hidden)")  # the old one is not counted
    page.page.wait_for_function(
        "() => document.querySelector('.ck-expiry-num-replaced .ck-num-value')"
        "?.textContent === '1'",
        timeout=WAIT_MS,
    )
    assert page.text(".ck-expiry-num-expiring .ck-num-value") == "0"
