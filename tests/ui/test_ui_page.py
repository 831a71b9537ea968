"""The Certificates page as a whole: sections, header actions, escaping, error handling."""

from __future__ import annotations

import logging

import ipywidgets as widgets
import pytest

from certkit.errors import CertkitError
from certkit.model import Actor, Clearance
from certkit.ops import Certkit
from certkit.ui import certificates_page
from certkit.ui.certificates import CertificatesView, build_certificates_view
from certkit.ui.common import GENERIC_ERROR, Banner, Parts, is_visible, reports_errors
from certkit.ui.testing import find, find_all, text

XSS = "<img src=x onerror=alert(1)>"


def test_page_shows_every_section(view: CertificatesView, kit: Certkit) -> None:
    root = view.root
    for css_class in (
        "ck-certs-generate",
        "ck-certs-upload",
        "ck-certs-export",
        "ck-certs-replace",
        "ck-certs-search",
        "ck-certs-clearance",
        "ck-certs-state",
        "ck-certs-database",
        "ck-certs-sort",
        "ck-certs-order",
        "ck-certs-prev",
        "ck-certs-next",
        "ck-certs-pageinfo",
        "ck-banner",
        "ck-server-table",
        "ck-wk-add-admin",
        "ck-wk-add-issuer",
    ):
        find(root, css_class)
    assert len(find_all(root, "ck-certs-row-edit")) == 50
    assert find(root, "ck-certs-row-49")
    server = kit.server_certificates()[0]
    table = text(find(root, "ck-server-table"))
    assert "Server certificate for communication A" in table
    assert server.thumbprint in table
    assert text(find(root, "ck-certs-pageinfo")) == "0-0 of 0"
    assert is_visible(find(root, "ck-certs-empty"))
    assert view.banner.text == ""


def test_certificates_page_opens_the_default_home() -> None:
    page = certificates_page()  # CERTKIT_HOME points at a temp dir (tests/conftest.py)
    assert isinstance(page, widgets.VBox)
    assert "ck-certs" in page._dom_classes


@pytest.mark.parametrize(
    ("button", "dialog"),
    [
        ("ck-certs-generate", "ck-modal-gen"),
        ("ck-certs-upload", "ck-modal-upload"),
        ("ck-certs-export", "ck-modal-export"),
        ("ck-certs-replace", "ck-modal-replace"),
    ],
)
def test_header_actions_open_modal_dialogs(
    view: CertificatesView, button: str, dialog: str
) -> None:
    modal = find(view.root, dialog)
    assert not is_visible(modal)
    find(view.root, button).click()
    assert is_visible(modal)
    close = find(modal, "ck-modal-close")
    close.click()
    assert not is_visible(modal)


def test_a_name_with_html_shows_as_text(view: CertificatesView, kit: Certkit) -> None:
    kit.generate_client_certificate(XSS, permissions={"Sales": "Read"})
    view.table.refresh()
    cells = find(find(view.root, "ck-certs-row-0"), "ck-row-cells").value
    assert XSS not in cells
    assert "&lt;img src=x onerror=alert(1)&gt;" in cells
    assert XSS in text(find(find(view.root, "ck-certs-row-0"), "ck-row-cells"))
    find(find(view.root, "ck-certs-row-0"), "ck-certs-row-delete").click()
    summary = find(view.root, "ck-delete-summary").value
    assert XSS not in summary and "&lt;img" in summary
    assert XSS not in find(view.root, "ck-delete-title").value


def test_a_core_refusal_is_shown_as_a_message(kit: Certkit) -> None:
    operator = build_certificates_view(kit, actor=Actor(Clearance.OPERATOR, name="ops"))
    dialog = operator.generate
    find(operator.root, "ck-certs-generate").click()
    dialog.name.value = "new-admin"
    dialog.clearance.value = Clearance.CLUSTER_ADMIN.value
    dialog.submit.click()
    assert dialog.modal.message.kind == "error"
    assert dialog.modal.message.text.startswith("Cannot generate the certificate 'new-admin'")
    assert "only a Cluster Admin" in dialog.modal.message.text
    assert kit.list_certificates().total == 0
    assert dialog.modal.is_open


def test_a_duplicate_name_is_refused_with_the_core_message(
    view: CertificatesView, kit: Certkit
) -> None:
    kit.generate_client_certificate("alice")
    view.generate.open()
    view.generate.name.value = "alice"
    view.generate.submit.click()
    assert view.generate.modal.message.kind == "error"
    assert "already registered" in view.generate.modal.message.text
    assert kit.list_certificates().total == 1


def test_an_unexpected_error_shows_a_generic_message_and_is_logged(
    view: CertificatesView,
    kit: Certkit,
    monkeypatch: pytest.MonkeyPatch,
    allow_ui_errors: object,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire at /secret/path")

    monkeypatch.setattr(kit, "generate_client_certificate", broken)
    view.generate.open()
    view.generate.name.value = "bob"
    with caplog.at_level(logging.ERROR, logger="certkit.ui"):
        view.generate.submit.click()
    message = view.generate.modal.message
    assert message.text == GENERIC_ERROR
    assert "disk on fire" not in message.widget.value
    assert "Traceback" not in message.widget.value
    logged = [r for r in caplog.records if r.name == "certkit.ui"]
    assert logged and logged[0].exc_info is not None
    assert "disk on fire" in str(logged[0].exc_info[1])


def test_the_guard_escapes_core_messages() -> None:
    banner = Banner(Parts())

    @reports_errors(banner)
    def fail() -> None:
        raise CertkitError("bad name <script>alert(1)</script>")

    fail()
    assert "<script>" not in banner.widget.value
    assert "&lt;script&gt;" in banner.widget.value


def test_the_fixture_notices_a_callback_that_raised(callback_errors: object) -> None:
    """ipywidgets swallows callback errors; the autouse fixture must see them."""
    button = widgets.Button()

    def explode(_: widgets.Button) -> None:
        raise ValueError("unguarded")

    button.on_click(explode)
    button.click()
    records = callback_errors.records  # type: ignore[attr-defined]
    assert len(records) == 1 and "Exception in callback" in records[0].getMessage()
    records.clear()  # seen on purpose; the test itself passes


def test_expiry_tab_is_built_on_first_use_and_back_refreshes(
    view: CertificatesView, kit: Certkit
) -> None:
    panel = find(view.root, "ck-certs-expiry-panel")
    main = find(view.root, "ck-certs-main")
    assert not panel.children and not is_visible(panel) and is_visible(main)
    find(view.root, "ck-nav-expiry").click()
    assert is_visible(panel) and not is_visible(main)
    assert find(panel, "ck-expiry-page") is not None
    kit.generate_client_certificate("made-elsewhere")
    find(view.root, "ck-nav-certificates").click()
    assert is_visible(main) and not is_visible(panel)
    assert "made-elsewhere" in text(find(view.root, "ck-certs-table"))
