"""The Upload dialog: preview first, then register; bad files change nothing."""

from __future__ import annotations

import re
from datetime import timedelta

from certkit import totp
from certkit.model import Access, Clearance, ListQuery, Secret
from certkit.ops import Certkit
from certkit.ui.certificates import CertificatesView
from certkit.ui.common import is_visible
from certkit.ui.testing import choose_file, find, text


def registry_rows(kit: Certkit) -> list[object]:
    return list(kit.list_certificates(ListQuery(limit=None)).records)


def test_a_pem_collection_is_previewed_then_registered_as_one_entry(
    view: CertificatesView, kit: Certkit, partner_ca: object
) -> None:
    root = view.root
    pem = partner_ca.pem("gw-1", "gw-2", "gw-3")  # type: ignore[attr-defined]
    find(root, "ck-certs-upload").click()
    assert not is_visible(find(root, "ck-upload-register"))
    choose_file(find(root, "ck-upload-file"), "partner.pem", pem)
    find(root, "ck-upload-preview").click()

    preview = text(find(root, "ck-upload-preview-result"))
    assert "PEM file with 3 client certificates." in preview
    assert preview.count("Will be registered") == 3
    assert "Skipped: issued another certificate in the file (chain material)" in preview
    assert "CN=UI Test Partner CA" in preview
    assert kit.list_certificates().total == 0, "a preview registers nothing"
    assert is_visible(find(root, "ck-upload-register"))
    assert find(root, "ck-upload-name").value == "gw-1"

    find(root, "ck-upload-name").value = "partner-gateway"
    find(root, "ck-upload-clearance").value = Clearance.VALID_USER.value
    find(root, "ck-upload-perm-add").click()
    find(root, "ck-upload-perm-db").value = "Orders"
    find(root, "ck-upload-perm-access").value = Access.READ.value
    find(root, "ck-upload-register").click()

    message = view.upload.modal.message
    assert message.kind == "success", message.text
    assert message.text == "Registered partner-gateway: 3 certificates as one collection."
    (record,) = registry_rows(kit)
    assert record.name == "partner-gateway"  # type: ignore[attr-defined]
    assert len(record.collection) == 2  # type: ignore[attr-defined]
    assert dict(record.permissions) == {"Orders": Access.READ}  # type: ignore[attr-defined]
    assert "+2" in text(find(root, "ck-certs-row-0"))
    find(root, "ck-upload-done").click()
    assert not view.upload.modal.is_open


def test_a_pfx_with_a_passphrase(view: CertificatesView, kit: Certkit, partner_ca: object) -> None:
    root = view.root
    data = partner_ca.pfx("laptop-17", "pfx pass")  # type: ignore[attr-defined]
    view.upload.open()
    choose_file(find(root, "ck-upload-file"), "laptop.pfx", data)
    find(root, "ck-upload-passphrase").value = "wrong"
    find(root, "ck-upload-preview").click()
    assert view.upload.modal.message.kind == "error"
    assert "passphrase" in view.upload.modal.message.text.lower()
    assert not is_visible(find(root, "ck-upload-register"))

    find(root, "ck-upload-passphrase").value = "pfx pass"
    find(root, "ck-upload-preview").click()
    preview = text(find(root, "ck-upload-preview-result"))
    assert "1 private key read only to check it; never kept." in preview
    find(root, "ck-upload-clearance").value = Clearance.OPERATOR.value
    find(root, "ck-upload-register").click()
    (record,) = registry_rows(kit)
    assert (record.name, record.clearance) == ("laptop-17", Clearance.OPERATOR)  # type: ignore[attr-defined]
    assert find(root, "ck-upload-passphrase").value == ""


def test_a_bad_file_shows_an_error_and_changes_nothing(
    view: CertificatesView, kit: Certkit
) -> None:
    root = view.root
    kit.generate_client_certificate("existing")
    before = registry_rows(kit)
    view.upload.open()
    choose_file(find(root, "ck-upload-file"), "broken.pem", b"-----BEGIN CERTIFICATE-----\nnope\n")
    find(root, "ck-upload-preview").click()
    message = view.upload.modal.message
    assert message.kind == "error" and message.text
    assert "Traceback" not in message.widget.value
    assert not is_visible(find(root, "ck-upload-register"))
    find(root, "ck-upload-register").click()  # even a stray click registers nothing
    assert registry_rows(kit) == before


def test_no_file_chosen(view: CertificatesView) -> None:
    view.upload.open()
    find(view.root, "ck-upload-preview").click()
    assert view.upload.modal.message.text == "Choose a file first."


def test_a_ca_certificate_alone_is_refused_with_the_reason(
    view: CertificatesView, kit: Certkit, partner_ca: object
) -> None:
    root = view.root
    from certkit import pki

    ca_pem = pki.certificate_pem(partner_ca.cert)  # type: ignore[attr-defined]
    view.upload.open()
    choose_file(find(root, "ck-upload-file"), "ca.pem", ca_pem)
    find(root, "ck-upload-preview").click()
    assert "Refused:" in text(find(root, "ck-upload-preview-result"))
    assert "CA certificate" in text(find(root, "ck-upload-preview-result"))
    assert view.upload.modal.message.kind == "error"
    assert not is_visible(find(root, "ck-upload-register"))
    assert kit.list_certificates().total == 0


def test_choosing_another_file_needs_a_new_preview(
    view: CertificatesView, partner_ca: object
) -> None:
    root = view.root
    view.upload.open()
    choose_file(find(root, "ck-upload-file"), "a.pem", partner_ca.pem("a"))  # type: ignore[attr-defined]
    find(root, "ck-upload-preview").click()
    assert is_visible(find(root, "ck-upload-register"))
    choose_file(find(root, "ck-upload-file"), "b.pem", partner_ca.pem("b"))  # type: ignore[attr-defined]
    assert not is_visible(find(root, "ck-upload-register"))
    assert find(root, "ck-upload-preview-result").value == ""


def test_upload_with_two_factor(view: CertificatesView, kit: Certkit, partner_ca: object) -> None:
    root = view.root
    view.upload.open()
    choose_file(find(root, "ck-upload-file"), "kiosk.pem", partner_ca.pem("kiosk"))  # type: ignore[attr-defined]
    find(root, "ck-upload-preview").click()
    find(root, "ck-upload-two-factor").value = True
    find(root, "ck-upload-register").click()
    assert find(root, "ck-upload-done").disabled
    key = re.search(r"Key ([A-Z2-7 ]+) Account", text(find(root, "ck-upload-totp-key")))
    assert key
    kit.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    code = totp.code_at(Secret(key.group(1).replace(" ", "")), kit.now())
    find(root, "ck-upload-totp-code").value = code
    find(root, "ck-upload-totp-confirm").click()
    assert view.upload.modal.message.text.startswith("Code accepted")
    assert not find(root, "ck-upload-done").disabled
    assert registry_rows(kit)[0].two_factor  # type: ignore[attr-defined]
