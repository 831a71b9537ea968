"""Per-row actions: Edit, Clone and Delete."""

from __future__ import annotations

import base64
import io
import re
import zipfile
from datetime import timedelta

from certkit import totp
from certkit.model import Access, Clearance, Secret
from certkit.ops import Certkit
from certkit.ui.certificates import CertificatesView
from certkit.ui.common import is_visible
from certkit.ui.testing import choose_file, find, text


def row_button(view: CertificatesView, index: int, action: str) -> object:
    return find(find(view.root, f"ck-certs-row-{index}"), f"ck-certs-row-{action}")


def test_edit_permissions_name_and_clearance(view: CertificatesView, kit: Certkit) -> None:
    made = kit.generate_client_certificate("svc", permissions={"Sales": "Read", "HR": "Read"})
    view.table.refresh()
    row_button(view, 0, "edit").click()  # type: ignore[attr-defined]
    root = view.root
    assert view.edit.modal.is_open
    assert find(root, "ck-edit-name").value == "svc"
    assert [r.database.value for r in view.edit.permissions.rows] == ["HR", "Sales"]

    find(find(root, "ck-edit-perm-row-0"), "ck-edit-perm-remove").click()  # drop HR
    find(find(root, "ck-edit-perm-row-0"), "ck-edit-perm-access").value = Access.READ_WRITE.value
    find(root, "ck-edit-perm-add").click()
    find(find(root, "ck-edit-perm-row-1"), "ck-edit-perm-db").value = "Orders"
    find(find(root, "ck-edit-perm-row-1"), "ck-edit-perm-access").value = Access.ADMIN.value
    find(root, "ck-edit-name").value = "svc-renamed"
    find(root, "ck-edit-clearance").value = Clearance.OPERATOR.value
    find(root, "ck-edit-save").click()

    assert not view.edit.modal.is_open, view.edit.modal.message.text
    assert view.banner.text == "Saved svc-renamed."
    record = kit.show(made.record.thumbprint)
    assert record.name == "svc-renamed"  # type: ignore[union-attr]
    assert record.clearance is Clearance.OPERATOR  # type: ignore[union-attr]
    assert dict(record.permissions) == {"Orders": Access.ADMIN, "Sales": Access.READ_WRITE}  # type: ignore[union-attr]
    row = text(find(root, "ck-certs-row-0"))
    assert "svc-renamed" in row and "Orders: Admin" in row and "Sales: Read/Write" in row


def test_edit_a_database_listed_twice_is_refused(view: CertificatesView, kit: Certkit) -> None:
    made = kit.generate_client_certificate("svc", permissions={"Sales": "Read"})
    view.table.refresh()
    row_button(view, 0, "edit").click()  # type: ignore[attr-defined]
    view.edit.permissions.add_row("sales", "Admin")
    find(view.root, "ck-edit-save").click()
    assert "listed twice" in view.edit.modal.message.text
    assert dict(kit.show(made.record.thumbprint).permissions) == {"Sales": Access.READ}  # type: ignore[union-attr]


def test_turning_two_factor_on_shows_the_qr_once(view: CertificatesView, kit: Certkit) -> None:
    made = kit.generate_client_certificate("kiosk")
    view.table.refresh()
    row_button(view, 0, "edit").click()  # type: ignore[attr-defined]
    find(view.root, "ck-edit-two-factor").value = True
    find(view.root, "ck-edit-save").click()
    assert view.edit.modal.is_open
    assert bytes(find(view.root, "ck-edit-qr").value).startswith(b"\x89PNG")
    assert find(view.root, "ck-edit-done").disabled
    key = re.search(r"Key ([A-Z2-7 ]+) Account", text(find(view.root, "ck-edit-totp-key")))
    assert key
    find(view.root, "ck-edit-totp-code").value = totp.code_at(
        Secret(key.group(1).replace(" ", "")), kit.now()
    )
    find(view.root, "ck-edit-totp-confirm").click()
    assert not find(view.root, "ck-edit-done").disabled
    find(view.root, "ck-edit-done").click()
    assert kit.show(made.record.thumbprint).two_factor  # type: ignore[union-attr]
    assert "2FA" in text(find(view.root, "ck-certs-row-0"))


def test_clone_copies_the_settings_into_a_new_certificate(
    view: CertificatesView, kit: Certkit
) -> None:
    source = kit.generate_client_certificate(
        "svc", clearance=Clearance.OPERATOR, permissions={"Sales": "Read"}, two_factor=True
    )
    view.table.refresh()
    row_button(view, 0, "clone").click()  # type: ignore[attr-defined]
    root = view.root
    assert "svc" in text(find(root, "ck-clone-info"))
    find(root, "ck-clone-name").value = "svc-2"
    find(root, "ck-clone-passphrase").value = "pw"
    find(root, "ck-clone-passphrase-confirm").value = "pw"
    find(root, "ck-clone-expires").value = "1y"
    find(root, "ck-clone-submit").click()

    message = view.clone.modal.message
    assert message.kind == "success", message.text
    clone = next(r for r in kit.list_certificates().records if r.name == "svc-2")
    assert clone.thumbprint != source.record.thumbprint
    assert (clone.clearance, dict(clone.permissions)) == (
        Clearance.OPERATOR,
        {"Sales": Access.READ},
    )
    assert clone.two_factor
    assert clone.not_after - kit.now() <= timedelta(days=366)
    link = re.search(
        r'class="ck-download ck-clone-download" download="svc-2.zip" '
        r'href="data:application/zip;base64,([^"]+)"',
        find(root, "ck-clone-result").value,
    )
    assert link
    with zipfile.ZipFile(io.BytesIO(base64.b64decode(link.group(1)))) as archive:
        assert sorted(archive.namelist()) == ["svc-2.crt", "svc-2.key", "svc-2.pfx"]
    assert bytes(find(root, "ck-clone-qr").value).startswith(b"\x89PNG"), "new 2FA secret"
    assert find(root, "ck-clone-done").disabled
    assert view.banner.text == "Cloned svc into svc-2."


def test_delete_names_the_collection_and_asks_first(
    view: CertificatesView, kit: Certkit, partner_ca: object
) -> None:
    root = view.root
    view.upload.open()
    choose_file(find(root, "ck-upload-file"), "p.pem", partner_ca.pem("p-1", "p-2"))  # type: ignore[attr-defined]
    find(root, "ck-upload-preview").click()
    find(root, "ck-upload-name").value = "partner"
    find(root, "ck-upload-register").click()
    view.upload.modal.close()
    record = kit.list_certificates().records[0]

    row_button(view, 0, "delete").click()  # type: ignore[attr-defined]
    summary = text(find(root, "ck-delete-summary"))
    assert "This deletes partner and all 2 certificates of its collection" in summary
    assert record.thumbprint in summary and record.collection[0] in summary
    assert "Delete partner?" in text(find(root, "ck-delete-title"))
    find(root, "ck-delete-cancel").click()
    assert kit.list_certificates().total == 1

    row_button(view, 0, "delete").click()  # type: ignore[attr-defined]
    find(root, "ck-delete-confirm").click()
    assert kit.list_certificates().total == 0
    assert not view.delete.modal.is_open
    assert view.banner.text == "Deleted partner and 1 collection member(s)."
    assert not is_visible(find(root, "ck-certs-row-0"))
    assert is_visible(find(root, "ck-certs-empty"))


def test_deleting_what_is_already_gone_shows_the_core_message(
    view: CertificatesView, kit: Certkit
) -> None:
    made = kit.generate_client_certificate("gone")
    view.table.refresh()
    row_button(view, 0, "delete").click()  # type: ignore[attr-defined]
    kit.delete(made.record.thumbprint)  # another session deletes it meanwhile
    find(view.root, "ck-delete-confirm").click()
    assert view.delete.modal.message.kind == "error"
    assert "No client certificate with thumbprint" in view.delete.modal.message.text
