"""The Expiry page in a real browser: Debian's Chromium against a real ``voila`` serving
``notebooks/expiry.ipynb`` (started as ``certkit app`` starts Voila, on its own home).

The plots render (their ``<img>`` decodes to a picture), and a renewal is done the way a
person does it: Renew on the row, a passphrase, the zip downloaded and opened, the link to
the old certificate shown, the old one no longer in the "expiring soon" table.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from certkit import pki
from certkit.model import CertificateRecord
from certkit.ops import open_certkit
from tests.browser.browser_pages import WAIT_MS, AppPage, Pages
from tests.browser.launch import voila_serving

pytestmark = pytest.mark.browser

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "expiry.ipynb"
LOAD_MS = 90_000
PASSPHRASE = "renewal pw 7"
IMAGE_WIDTH_JS = """(selector) => {
    const el = document.querySelector(selector);
    if (!el) return 0;
    const img = el.tagName === 'IMG' ? el : el.querySelector('img');
    return img && img.complete ? img.naturalWidth : 0;
}"""


@pytest.fixture(scope="module")
def expiry_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """Voila serving the Expiry page on a home with one certificate expiring in 10 days."""
    base = tmp_path_factory.mktemp("voila-expiry")
    home = base / "home"
    kit = open_certkit(home)
    kit.generate_client_certificate("renew-me", expires="10d", permissions={"HR": "Read"})
    kit.generate_client_certificate("steady", expires="2y")
    with voila_serving(NOTEBOOK, home, base) as server:
        yield server.url, home
    assert not server.leaked, f"kernels outlived Voila and were killed: {server.leaked}"


@pytest.fixture
def app_url(expiry_app: tuple[str, Path]) -> str:
    """conftest's ``pages`` open the Expiry app here (its hook fails a test on any page
    problem)."""
    return expiry_app[0]


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
