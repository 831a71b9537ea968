"""The Certificates view in a real browser: Debian's Chromium against a real ``voila``.

Each test opens the app in a fresh browser context (so a fresh Voila kernel), works it
like a person would (fill, select, click, download, choose a file), waits for each result
before the next step (the widget frontend coalesces updates), and checks the page and the
registry (through the ``certkit.ops`` facade). The ``pages`` fixture fails any test in
which the page raised, a JavaScript dialog fired, or traceback text appeared.
"""

from __future__ import annotations

import base64
import subprocess
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
from cryptography import x509

from certkit import pki
from certkit.errors import TotpRejected
from certkit.model import Access, Clearance, ListQuery, Secret, SortKey
from certkit.ops import Certkit, open_certkit
from tests.browser.browser_pages import AppPage, Pages, VoilaApp

pytestmark = pytest.mark.browser

XSS_NAME = "<img src=x onerror=alert(1)>"
PASSPHRASE = "correct horse 42"


def records(kit: Certkit, search: str) -> dict[str, Any]:
    """The registry's client entries whose name or thumbprint contains ``search``."""
    page = kit.list_certificates(ListQuery(search=search, limit=None))
    return {record.name: record for record in page.records}


def throwaway_client(name: str, *, days: int = 365) -> tuple[Any, Any, Any]:
    """A client certificate from a CA that certkit does not know: (key, cert, ca)."""
    now = datetime.now(UTC)
    ca_key, ca = pki.create_ca(f"Throwaway CA for {name}", now=now - timedelta(hours=1), years=2)
    key, cert = pki.issue_client_certificate(
        ca_key, ca, name, now=now - timedelta(minutes=5), not_after=now + timedelta(days=days)
    )
    return key, cert, ca


@dataclass(frozen=True)
class Pfx:
    path: Path
    cert: x509.Certificate
    passphrase: str


@pytest.fixture
def laptop_pfx(tmp_path: Path) -> Pfx:
    """A .pfx with a client certificate (and its chain) from a CA that certkit does not know."""
    key, cert, ca = throwaway_client("laptop-17")
    path = tmp_path / "laptop-17.pfx"
    path.write_bytes(pki.pkcs12_bytes("laptop-17", key, cert, [ca], passphrase=Secret("pfx pw")))
    return Pfx(path, cert, "pfx pw")


def download(app: AppPage, link: str, folder: Path) -> Path:
    """Click a download link and save what the browser downloads."""
    app.visible(link)
    with app.page.expect_download() as event:
        app.page.click(link)
    saved = folder / event.value.suggested_filename
    event.value.save_as(saved)
    return saved


def openssl_pkcs12_info(pfx: Path, passphrase: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "pkcs12", "-info", "-in", str(pfx), "-passin", f"pass:{passphrase}", "-noout"],
        capture_output=True,
        text=True,
        timeout=30,
    )


def fill_generate(
    app: AppPage,
    name: str,
    *,
    clearance: str = "User",
    passphrase: str = "",
    permissions: tuple[tuple[str, str], ...] = (),
    two_factor: bool = False,
) -> None:
    """Open the Generate dialog and fill it (one message per field; rows waited for)."""
    app.open_dialog("button.ck-certs-generate", "gen")
    app.visible(".ck-gen-name input")
    app.page.fill(".ck-gen-name input", name)
    if clearance != "User":
        app.page.select_option(".ck-gen-clearance select", label=clearance)
    if passphrase:
        app.page.fill(".ck-gen-passphrase input", passphrase)
        app.page.fill(".ck-gen-passphrase-confirm input", passphrase)
    for index, (database, access) in enumerate(permissions):
        app.page.click("button.ck-gen-perm-add")
        row = f".ck-gen-perm-row-{index}"
        app.visible(f"{row} .ck-gen-perm-db input")
        app.page.fill(f"{row} .ck-gen-perm-db input", database)
        app.page.select_option(f"{row} .ck-gen-perm-access select", label=access)
    if two_factor:
        app.page.check(".ck-gen-two-factor input[type=checkbox]")


def qr_png(app: AppPage, selector: str) -> bytes:
    """The PNG bytes behind the QR ``<img>`` (a blob: or data: URL), as the page has them."""
    app.visible(selector)
    app.page.wait_for_function(
        "(sel) => { const img = document.querySelector(sel);"
        " return !!img && img.complete && img.naturalWidth > 0; }",
        arg=selector,
    )
    encoded = app.page.eval_on_selector(
        selector,
        """async (img) => {
            const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
            let text = '';
            for (const b of bytes) text += String.fromCharCode(b);
            return btoa(text);
        }""",
    )
    return base64.b64decode(encoded)


def zbar(png: Path) -> str:
    done = subprocess.run(
        ["zbarimg", "--quiet", "--raw", str(png)], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, f"zbarimg could not read the QR code: {done.stderr}"
    return done.stdout.strip()


# --- generate -------------------------------------------------------------------------


def test_generate_downloads_a_zip_that_openssl_reads(
    app_page: AppPage, voila_app: VoilaApp, tmp_path: Path
) -> None:
    app = app_page
    fill_generate(
        app,
        "gen-reporting",
        clearance="Operator",
        passphrase=PASSPHRASE,
        permissions=(("Sales", "Read"),),
    )
    app.page.click("button.ck-gen-submit")
    app.wait_text(".ck-gen-message", "Generated gen-reporting.")
    assert "Generated client certificate gen-reporting." in app.wait_text(
        ".ck-banner", "gen-reporting"
    )

    saved = download(app, "a.ck-gen-download", tmp_path)
    assert saved.name == "gen-reporting.zip"
    with zipfile.ZipFile(saved) as archive:
        assert sorted(archive.namelist()) == [
            "gen-reporting.crt",
            "gen-reporting.key",
            "gen-reporting.pfx",
        ]
        archive.extractall(tmp_path / "unzipped")
    pfx = tmp_path / "unzipped" / "gen-reporting.pfx"
    checked = openssl_pkcs12_info(pfx, PASSPHRASE)
    assert checked.returncode == 0, checked.stderr
    wrong = openssl_pkcs12_info(pfx, "not the passphrase")
    assert wrong.returncode != 0, "openssl accepted a wrong passphrase"

    app.page.click("button.ck-gen-done")
    app.hidden(".ck-modal-gen")
    app.search("gen-reporting", ["gen-reporting"])
    row = app.text(".ck-certs-row-0")
    assert "Operator" in row and "Sales: Read" in row and "not used" in row

    record = records(voila_app.kit(), "gen-reporting")["gen-reporting"]
    assert record.clearance is Clearance.OPERATOR
    assert dict(record.permissions) == {"Sales": Access.READ}
    assert record.thumbprint in row
    crt = (tmp_path / "unzipped" / "gen-reporting.crt").read_bytes()
    assert pki.thumbprint(x509.load_pem_x509_certificate(crt)) == record.thumbprint


def test_generate_with_two_factor_confirms_a_code_from_the_qr(
    app_page: AppPage, voila_app: VoilaApp, tmp_path: Path
) -> None:
    app = app_page
    fill_generate(app, "totp-user", two_factor=True)
    app.page.click("button.ck-gen-submit")
    app.wait_text(".ck-gen-message", "Confirm a first code to finish.")
    assert app.page.is_disabled("button.ck-gen-done"), "Done before the first code"

    png = tmp_path / "qr.png"
    png.write_bytes(qr_png(app, "img.ck-gen-qr"))
    uri = zbar(png)
    assert uri.startswith("otpauth://totp/"), uri
    otp = pyotp.parse_uri(uri)
    shown_key = app.text(".ck-gen-totp-key")
    assert otp.secret in shown_key.replace(" ", ""), "the key shown differs from the QR code"

    code = otp.now()
    app.page.fill(".ck-gen-totp-code input", code)
    app.page.click("button.ck-gen-totp-confirm")
    app.wait_text(".ck-gen-message", "Code accepted")
    app.page.wait_for_function(
        "() => !document.querySelector('button.ck-gen-done').disabled", timeout=10_000
    )
    assert app.text(".ck-gen-totp-key") == "", "the key is still shown after the first code"
    app.page.click("button.ck-gen-done")
    app.hidden(".ck-modal-gen")
    app.search("totp-user", ["totp-user"])
    assert app.text(".ck-certs-row-0 .ck-cell-2fa") == "2FA"

    kit = voila_app.kit()
    record = records(kit, "totp-user")["totp-user"]
    assert record.two_factor
    with pytest.raises(TotpRejected):  # the page used this code: a replay is refused
        kit.check_two_factor(record.thumbprint, code)
    later = datetime.now(UTC) + timedelta(seconds=90)
    kit.check_two_factor(record.thumbprint, otp.at(later), at=later)


# --- upload and edit ------------------------------------------------------------------


def test_upload_a_pfx_previews_then_registers(
    app_page: AppPage, voila_app: VoilaApp, laptop_pfx: Pfx
) -> None:
    app = app_page
    cert = laptop_pfx.cert

    app.open_dialog("button.ck-certs-upload", "upload")
    assert not app.page.is_visible("button.ck-upload-register"), "register before a preview"
    with app.page.expect_file_chooser() as chooser:
        app.page.click("button.ck-upload-file")
    chooser.value.set_files(str(laptop_pfx.path))
    app.wait_text("button.ck-upload-file", "(1)")
    app.page.fill(".ck-upload-passphrase input", laptop_pfx.passphrase)
    app.page.click("button.ck-upload-preview")
    preview = app.wait_text(".ck-upload-preview-result", "Will be registered")
    assert "PKCS#12 file with 1 client certificate." in preview, preview
    assert "CN=laptop-17" in preview and pki.thumbprint(cert) in preview
    assert "Throwaway CA for laptop-17" in preview  # the chain, skipped
    assert records(voila_app.kit(), "laptop-17") == {}, "a preview registers nothing"

    app.visible("button.ck-upload-register")
    assert app.page.input_value(".ck-upload-name input") == "laptop-17"
    app.page.fill(".ck-upload-name input", "upload-laptop")
    app.page.select_option(".ck-upload-clearance select", label="Operator")
    app.page.click("button.ck-upload-register")
    app.wait_text(".ck-upload-message", "Registered upload-laptop: 1 certificate.")
    app.page.click("button.ck-upload-done")
    app.hidden(".ck-modal-upload")

    app.search("upload-laptop", ["upload-laptop"])
    row = app.text(".ck-certs-row-0")
    assert pki.thumbprint(cert) in row and "Operator" in row
    record = records(voila_app.kit(), "upload-laptop")["upload-laptop"]
    assert record.thumbprint == pki.thumbprint(cert)
    assert record.clearance is Clearance.OPERATOR


def test_edit_permissions_shows_in_the_table_and_the_registry(
    app_page: AppPage, voila_app: VoilaApp
) -> None:
    kit = voila_app.kit()
    key, cert, ca = throwaway_client("edit-me")
    data = pki.pkcs12_bytes("edit-me", key, cert, [ca], passphrase=None)
    kit.register(data, clearance="ValidUser", name="edit-perms", permissions={"Sales": "Read"})
    app = app_page
    app.search("edit-perms", ["edit-perms"])
    assert app.text(".ck-certs-row-0 .ck-cell-permissions") == "Sales: Read"

    app.open_dialog(".ck-certs-row-0 button.ck-certs-row-edit", "edit")
    app.wait_text(".ck-edit-title", "Edit edit-perms")
    assert app.page.input_value(".ck-edit-name input") == "edit-perms"
    assert app.page.input_value(".ck-edit-perm-row-0 .ck-edit-perm-db input") == "Sales"
    app.page.click("button.ck-edit-perm-add")
    app.visible(".ck-edit-perm-row-1 .ck-edit-perm-db input")
    app.page.fill(".ck-edit-perm-row-1 .ck-edit-perm-db input", "Orders")
    app.page.select_option(".ck-edit-perm-row-1 .ck-edit-perm-access select", label="Read/Write")
    app.page.click("button.ck-edit-save")
    app.hidden(".ck-modal-edit")
    app.wait_text(".ck-banner", "Saved edit-perms.")

    app.wait_text(".ck-certs-row-0 .ck-cell-permissions", "Orders: Read/Write")
    chips = app.page.locator(".ck-certs-row-0 .ck-cell-permissions .ck-chip").all_inner_texts()
    assert sorted(chips) == ["Orders: Read/Write", "Sales: Read"]
    record = records(voila_app.kit(), "edit-perms")["edit-perms"]
    assert dict(record.permissions) == {"Sales": Access.READ, "Orders": Access.READ_WRITE}
    assert record.thumbprint == pki.thumbprint(cert)


# --- filter, sort, clone, delete ------------------------------------------------------


def test_filter_by_clearance_and_state_and_sort(pages: Pages, voila_app: VoilaApp) -> None:
    kit = voila_app.kit()
    past = datetime.now(UTC) - timedelta(days=400)
    then = open_certkit(voila_app.home, clock=lambda: past)
    kit.generate_client_certificate("flt-a", clearance="Operator", expires="5y")
    kit.generate_client_certificate("flt-b", clearance="ValidUser", expires="1y")
    then.generate_client_certificate("flt-c", clearance="ValidUser", expires="90d")  # expired
    kit.generate_client_certificate("flt-d", clearance="ValidUser", expires="20d")  # expiring
    kit.generate_client_certificate("flt-e", clearance="ClusterAdmin", expires="2y")
    app = pages.new()

    app.search("flt-", ["flt-a", "flt-b", "flt-c", "flt-d", "flt-e"])
    assert app.text(".ck-certs-pageinfo") == "1-5 of 5"
    assert app.option_label(".ck-certs-clearance", "User").replace("\xa0", " ") == "User (3)"

    assert app.choose(".ck-certs-clearance", "User (") == "User (3)"
    app.wait_rows(["flt-b", "flt-c", "flt-d"])
    assert app.choose(".ck-certs-state", "Expired (") == "Expired (1)"
    app.wait_rows(["flt-c"])
    assert "Expired" in app.text(".ck-certs-row-0 .ck-cell-expiration")
    app.choose(".ck-certs-state", "About to expire (")
    app.wait_rows(["flt-d"])
    app.choose(".ck-certs-state", "All states (")
    app.wait_rows(["flt-b", "flt-c", "flt-d"])

    app.page.select_option(".ck-certs-sort select", label="Expiration")
    app.wait_rows(["flt-c", "flt-d", "flt-b"])
    app.page.select_option(".ck-certs-order select", label="Descending")
    app.wait_rows(["flt-b", "flt-d", "flt-c"])
    app.choose(".ck-certs-clearance", "All clearances (")
    app.wait_rows(["flt-a", "flt-e", "flt-b", "flt-d", "flt-c"])
    app.choose(".ck-certs-clearance", "Admin (")
    app.wait_rows(["flt-e"])

    listed = kit.list_certificates(
        ListQuery(search="flt-", sort=SortKey.EXPIRATION, descending=True, limit=None)
    )
    assert [r.name for r in listed.records] == ["flt-a", "flt-e", "flt-b", "flt-d", "flt-c"]


def test_clone_makes_a_new_certificate_with_the_same_settings(
    app_page: AppPage, voila_app: VoilaApp, tmp_path: Path
) -> None:
    kit = voila_app.kit()
    source = kit.generate_client_certificate(
        "clone-src", clearance="Operator", permissions={"HR": "ReadWrite"}
    ).record
    app = app_page
    app.search("clone-", ["clone-src"])
    app.open_dialog(".ck-certs-row-0 button.ck-certs-row-clone", "clone")
    assert "clone-src" in app.wait_text(".ck-clone-info", "clone-src")
    app.page.fill(".ck-clone-name input", "clone-copy")
    app.page.fill(".ck-clone-passphrase input", PASSPHRASE)
    app.page.fill(".ck-clone-passphrase-confirm input", PASSPHRASE)
    app.page.click("button.ck-clone-submit")
    app.wait_text(".ck-clone-message", "Cloned into clone-copy.")
    saved = download(app, "a.ck-clone-download", tmp_path)
    with zipfile.ZipFile(saved) as archive:
        (tmp_path / "copy.pfx").write_bytes(archive.read("clone-copy.pfx"))
    assert openssl_pkcs12_info(tmp_path / "copy.pfx", PASSPHRASE).returncode == 0
    app.page.click("button.ck-clone-done")
    app.hidden(".ck-modal-clone")
    app.search("clone-", ["clone-copy", "clone-src"])

    found = records(voila_app.kit(), "clone-")
    copy = found["clone-copy"]
    assert copy.thumbprint != source.thumbprint
    assert copy.clearance is Clearance.OPERATOR
    assert dict(copy.permissions) == {"HR": Access.READ_WRITE}
    assert copy.thumbprint in app.text(app.row("clone-copy"))


def test_delete_asks_naming_the_certificate_and_its_collection(
    app_page: AppPage, voila_app: VoilaApp
) -> None:
    kit = voila_app.kit()
    now = datetime.now(UTC)
    ca_key, ca = pki.create_ca("Delete test CA", now=now - timedelta(hours=1), years=2)
    members = [
        pki.issue_client_certificate(
            ca_key, ca, f"del-member-{i}", now=now, not_after=now + timedelta(days=100)
        )[1]
        for i in range(2)
    ]
    pem = b"".join(pki.certificate_pem(c) for c in members)
    kit.register(pem, clearance="ValidUser", name="del-collection")
    kit.generate_client_certificate("del-keep")
    app = app_page
    app.search("del-", ["del-collection", "del-keep"])

    app.open_dialog(f"{app.row('del-collection')} button.ck-certs-row-delete", "delete")
    assert app.wait_text(".ck-delete-title", "del-collection") == "Delete del-collection?"
    summary = app.text(".ck-delete-summary")
    assert "del-collection" in summary and "all 2 certificates of its collection" in summary
    for member in members:
        assert pki.thumbprint(member) in summary
    app.page.click("button.ck-delete-cancel")
    app.hidden(".ck-modal-delete")
    assert set(records(voila_app.kit(), "del-")) == {"del-collection", "del-keep"}

    app.open_dialog(f"{app.row('del-collection')} button.ck-certs-row-delete", "delete")
    app.wait_text(".ck-delete-title", "del-collection")
    app.page.click("button.ck-delete-confirm")
    app.hidden(".ck-modal-delete")
    app.wait_text(".ck-banner", "Deleted del-collection")
    app.wait_rows(["del-keep"])
    assert set(records(voila_app.kit(), "del-")) == {"del-keep"}


# --- escaping, concurrency, refusals --------------------------------------------------


def test_a_name_with_markup_shows_as_text(app_page: AppPage, voila_app: VoilaApp) -> None:
    kit = voila_app.kit()
    if not records(kit, XSS_NAME):
        kit.generate_client_certificate(XSS_NAME)
    app = app_page
    app.search("<img", [XSS_NAME])

    cell = app.page.locator(".ck-certs-row-0 .ck-cell-name .ck-name")
    assert cell.inner_text() == XSS_NAME
    assert app.page.locator(".ck-certs-table img").count() == 0
    assert app.page.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0

    app.open_dialog(".ck-certs-row-0 button.ck-certs-row-delete", "delete")
    assert app.wait_text(".ck-delete-title", XSS_NAME) == f"Delete {XSS_NAME}?"
    assert XSS_NAME in app.text(".ck-delete-summary")
    assert app.page.locator(".ck-modal-delete img").count() == 0
    app.page.click("button.ck-delete-cancel")
    app.hidden(".ck-modal-delete")
    # an injected <img src=x> would have failed to load by now and fired onerror; the
    # pages fixture fails the test on any dialog
    app.page.wait_for_load_state("networkidle")
    assert app.page.evaluate("() => document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert XSS_NAME in records(voila_app.kit(), "<img")


def test_two_pages_change_the_registry_at_once(pages: Pages, voila_app: VoilaApp) -> None:
    first, second = pages.new(), pages.new()
    fill_generate(first, "two-pages-a", permissions=(("Alpha", "Read"),))
    fill_generate(second, "two-pages-b", clearance="Operator")
    first.page.click("button.ck-gen-submit")
    second.page.click("button.ck-gen-submit")
    first.wait_text(".ck-gen-message", "Generated two-pages-a.")
    second.wait_text(".ck-gen-message", "Generated two-pages-b.")
    for app in (first, second):
        assert app.page.locator(".ck-alert-error").count() == 0, app.text(".ck-gen-message")
        assert app.page.locator(".ck-banner .ck-alert-success").count() == 1

    found = records(voila_app.kit(), "two-pages-")
    assert set(found) == {"two-pages-a", "two-pages-b"}
    assert dict(found["two-pages-a"].permissions) == {"Alpha": Access.READ}
    assert found["two-pages-b"].clearance is Clearance.OPERATOR

    for app in (first, second):  # each page sees both after a search
        app.page.click(".ck-modal-gen:not(.ck-hidden) button.ck-gen-done")
        app.hidden(".ck-modal-gen")
        app.search("two-pages-", ["two-pages-a", "two-pages-b"])


def test_a_refusal_shows_a_short_message_and_no_traceback(
    app_page: AppPage, voila_app: VoilaApp
) -> None:
    kit = voila_app.kit()
    kit.generate_client_certificate("dup-name")
    app = app_page
    fill_generate(app, "dup-name")
    app.page.click("button.ck-gen-submit")
    app.visible(".ck-gen-message .ck-alert-error")
    message = app.text(".ck-gen-message")
    assert "dup-name" in message and len(message) < 300, message
    assert "Traceback" not in app.page.content()
    assert app.page.is_visible("button.ck-gen-submit"), "the form stays open to fix the name"
    assert list(records(voila_app.kit(), "dup-name")) == ["dup-name"]

    app.page.fill(".ck-gen-passphrase input", "one")
    app.page.fill(".ck-gen-passphrase-confirm input", "two")
    app.page.fill(".ck-gen-name input", "dup-name-2")
    app.page.click("button.ck-gen-submit")
    app.wait_text(".ck-gen-message", "do not match")
    assert "Traceback" not in app.page.content()
    assert records(voila_app.kit(), "dup-name-2") == {}
