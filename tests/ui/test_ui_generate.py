"""The Generate dialog: settings reach the registry, the zip downloads, 2FA is confirmed."""

from __future__ import annotations

import base64
import io
import re
import zipfile
from datetime import timedelta

from cryptography.hazmat.primitives.serialization import pkcs12

from certkit import totp
from certkit.model import Access, Clearance, KeyType, Secret
from certkit.ops import Certkit
from certkit.ui.certificates import CertificatesView
from certkit.ui.common import is_visible
from certkit.ui.testing import find, text


def download(html: str, css_class: str) -> tuple[str, bytes]:
    """The file name and bytes behind ``<a class=css_class download=... href=data:...>``."""
    match = re.search(
        rf'<a class="ck-download {css_class}" download="([^"]+)" href="data:[^;]+;base64,([^"]+)"',
        html,
    )
    assert match, f"no {css_class} link in {html[:300]}"
    return match.group(1), base64.b64decode(match.group(2))


def secret_shown(view_root: object, prefix: str) -> Secret:
    key = text(find(view_root, f"ck-{prefix}-totp-key"))
    value = re.search(r"Key ([A-Z2-7 ]+) Account", key)
    assert value, key
    return Secret(value.group(1).replace(" ", ""))


def test_generate_registers_and_offers_the_zip(view: CertificatesView, kit: Certkit) -> None:
    root = view.root
    find(root, "ck-certs-generate").click()
    find(root, "ck-gen-name").value = "reporting"
    find(root, "ck-gen-clearance").value = Clearance.OPERATOR.value
    find(root, "ck-gen-passphrase").value = "s3cret pass"
    find(root, "ck-gen-passphrase-confirm").value = "s3cret pass"
    find(root, "ck-gen-perm-add").click()
    find(root, "ck-gen-perm-add").click()
    rows = view.generate.permissions.rows
    rows[0].database.value, rows[0].access.value = "Sales", Access.READ.value
    rows[1].database.value = "Scratch"
    find(find(root, "ck-gen-perm-row-1"), "ck-gen-perm-remove").click()
    find(root, "ck-gen-key").value = KeyType.EC_P384.value
    find(root, "ck-gen-submit").click()

    dialog = view.generate.modal
    assert dialog.message.kind == "success", dialog.message.text
    assert dialog.message.text == "Generated reporting."
    assert view.banner.text == "Generated client certificate reporting."
    record = kit.list_certificates().records[0]
    assert (record.name, record.clearance) == ("reporting", Clearance.OPERATOR)
    assert dict(record.permissions) == {"Sales": Access.READ}
    assert not record.two_factor
    assert record.not_after - record.not_before > timedelta(days=5 * 365 - 1)
    name, data = download(find(root, "ck-gen-result").value, "ck-gen-download")
    assert name == "reporting.zip"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert sorted(archive.namelist()) == ["reporting.crt", "reporting.key", "reporting.pfx"]
        bundle = pkcs12.load_pkcs12(archive.read("reporting.pfx"), b"s3cret pass")
    assert bundle.cert is not None and bundle.key is not None
    assert "reporting" in text(find(root, "ck-certs-row-0"))
    assert text(find(root, "ck-certs-pageinfo")) == "1-1 of 1"
    assert not is_visible(view.generate.form)
    assert find(root, "ck-gen-passphrase").value == ""
    find(root, "ck-gen-done").click()
    assert not dialog.is_open
    assert find(root, "ck-gen-result").value == ""


def test_custom_expiration_and_legacy_pkcs12(view: CertificatesView, kit: Certkit) -> None:
    view.generate.open()
    view.generate.name.value = "short-lived"
    find(view.root, "ck-gen-expires").value = "custom"
    assert is_visible(view.generate.expiry.custom)
    find(view.root, "ck-gen-expires-count").value = 45
    find(view.root, "ck-gen-expires-unit").value = "d"
    find(view.root, "ck-gen-pkcs12").value = "legacy"
    view.generate.submit.click()
    record = kit.list_certificates().records[0]
    assert record.not_after == kit.now() + timedelta(days=45)
    assert "About to expire" not in text(find(view.root, "ck-certs-row-0"))


def test_passphrases_that_differ_change_nothing(view: CertificatesView, kit: Certkit) -> None:
    view.generate.open()
    view.generate.name.value = "carol"
    find(view.root, "ck-gen-passphrase").value = "one"
    find(view.root, "ck-gen-passphrase-confirm").value = "two"
    view.generate.submit.click()
    assert view.generate.modal.message.kind == "error"
    assert "do not match" in view.generate.modal.message.text
    assert kit.list_certificates().total == 0
    assert is_visible(view.generate.form)


def test_a_bad_database_name_is_refused(view: CertificatesView, kit: Certkit) -> None:
    view.generate.open()
    view.generate.name.value = "dave"
    view.generate.permissions.add_row("no/slashes", "Read")
    view.generate.submit.click()
    assert "Invalid database name" in view.generate.modal.message.text
    assert kit.list_certificates().total == 0


def test_generate_with_two_factor_needs_a_first_code(view: CertificatesView, kit: Certkit) -> None:
    root = view.root
    view.generate.open()
    find(root, "ck-gen-name").value = "hr-app"
    find(root, "ck-gen-two-factor").value = True
    find(root, "ck-gen-submit").click()

    record = kit.list_certificates().records[0]
    assert record.two_factor
    qr = find(root, "ck-gen-qr")
    assert bytes(qr.value).startswith(b"\x89PNG")
    assert is_visible(find(root, "ck-gen-totp"))
    done = find(root, "ck-gen-done")
    assert done.disabled, "the dialog stays until a first code is confirmed"
    assert not is_visible(view.generate.modal.close_button)
    secret = secret_shown(root, "gen")

    find(root, "ck-gen-totp-code").value = "000000"
    find(root, "ck-gen-totp-confirm").click()
    assert view.generate.modal.message.kind == "error"
    assert done.disabled

    kit.clock.advance(timedelta(seconds=30))  # type: ignore[attr-defined]
    find(root, "ck-gen-totp-code").value = totp.code_at(secret, kit.now())
    find(root, "ck-gen-totp-confirm").click()
    message = view.generate.modal.message
    assert message.kind == "success", message.text
    assert message.text == "Code accepted: two-factor authentication is set up for hr-app."
    assert not done.disabled
    assert bytes(qr.value) == b"", "the secret is shown once"
    assert "2FA" in text(find(root, "ck-certs-row-0"))
    done.click()
    assert not view.generate.modal.is_open
    assert find(root, "ck-gen-totp-key").value == ""
