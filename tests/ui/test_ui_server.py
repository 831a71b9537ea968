"""Server certificates (export, replace) and well-known certificates (add, remove)."""

from __future__ import annotations

import base64
import re

from cryptography.hazmat.primitives.serialization import pkcs12

from certkit import pki
from certkit.model import CertKind, Secret
from certkit.ops import Certkit
from certkit.ui.certificates import CertificatesView
from certkit.ui.common import is_visible
from certkit.ui.testing import choose_file, find, find_all, text


def server_pfx(kit: Certkit, partner: object, *, hostnames: list[str], passphrase: str) -> bytes:
    key, cert = pki.create_server_certificate(
        partner.key,  # type: ignore[attr-defined]
        partner.cert,  # type: ignore[attr-defined]
        common_name=hostnames[0],
        hostnames=hostnames,
        now=kit.now(),
    )
    return pki.pkcs12_bytes(
        "server",
        key,
        cert,
        [partner.cert],  # type: ignore[attr-defined]
        passphrase=Secret(passphrase),
    )


def test_export_offers_the_server_certificates(view: CertificatesView, kit: Certkit) -> None:
    find(view.root, "ck-certs-export").click()
    html = find(view.root, "ck-export-result").value
    match = re.search(
        r'<a class="ck-download ck-export-download" download="([^"]+)" '
        r'href="data:application/x-pkcs12;base64,([^"]+)"',
        html,
    )
    assert match, html
    assert match.group(1) == "certkit-server.pfx"
    bundle = pkcs12.load_pkcs12(base64.b64decode(match.group(2)), None)
    thumbprints = {pki.thumbprint(c.certificate) for c in bundle.additional_certs}
    if bundle.cert is not None:
        thumbprints.add(pki.thumbprint(bundle.cert.certificate))
    assert thumbprints == {s.thumbprint for s in kit.server_certificates()}
    assert bundle.key is None, "public certificates only"
    find(view.root, "ck-export-done").click()
    assert not view.export.modal.is_open


def test_replace_checks_then_replaces(
    view: CertificatesView, kit: Certkit, partner_ca: object
) -> None:
    root = view.root
    old = kit.server_certificates()[0]
    data = server_pfx(kit, partner_ca, hostnames=kit.hostnames(), passphrase="srv pass")
    find(root, "ck-certs-replace").click()
    choose_file(find(root, "ck-replace-file"), "server.pfx", data)
    find(root, "ck-replace-passphrase").value = "srv pass"
    assert not is_visible(find(root, "ck-replace-confirm"))
    find(root, "ck-replace-check").click()

    details = text(find(root, "ck-replace-result"))
    assert f"Names {', '.join(kit.hostnames())}" in details
    assert "serverAuth" in details and "clientAuth" in details and "digitalSignature" in details
    assert "Expires" in details
    assert kit.server_certificates()[0].thumbprint == old.thumbprint, "checking changes nothing"
    assert is_visible(find(root, "ck-replace-confirm"))
    find(root, "ck-replace-confirm").click()

    message = view.replace.modal.message
    assert message.kind == "success", message.text
    new = kit.server_certificates()[0]
    assert new.thumbprint != old.thumbprint
    assert new.thumbprint in message.text
    assert new.thumbprint in text(find(root, "ck-server-table"))
    assert view.banner.text.startswith("Replaced the server certificate.")


def test_replace_with_a_wrong_passphrase_or_missing_names(
    view: CertificatesView, kit: Certkit, partner_ca: object
) -> None:
    root = view.root
    old = kit.server_certificates()[0].thumbprint
    view.replace.open()
    data = server_pfx(kit, partner_ca, hostnames=["elsewhere.example"], passphrase="pw")
    choose_file(find(root, "ck-replace-file"), "other.pfx", data)
    find(root, "ck-replace-passphrase").value = "nope"
    find(root, "ck-replace-check").click()
    assert view.replace.modal.message.kind == "error"
    assert not is_visible(find(root, "ck-replace-confirm"))
    find(root, "ck-replace-passphrase").value = "pw"
    find(root, "ck-replace-check").click()
    find(root, "ck-replace-confirm").click()
    assert view.replace.modal.message.kind == "error"
    assert "does not cover the host name" in view.replace.modal.message.text
    assert kit.server_certificates()[0].thumbprint == old


def test_replace_needs_the_private_key(view: CertificatesView, kit: Certkit) -> None:
    view.replace.open()
    public_only = kit.export_server_certificates()
    choose_file(find(view.root, "ck-replace-file"), "public.pfx", public_only)
    find(view.root, "ck-replace-check").click()
    assert "holds no private key" in view.replace.modal.message.text


def test_well_known_admin_add_and_remove(view: CertificatesView, kit: Certkit) -> None:
    root = view.root
    thumbprint = "ab" * 20
    find(root, "ck-wk-admin-thumbprint").value = thumbprint
    find(root, "ck-wk-add-admin").click()
    assert view.banner.text == f"{thumbprint.upper()} is now a well-known admin certificate."
    assert [w.thumbprint for w in kit.well_known()] == [thumbprint.upper()]
    (item,) = find_all(root, "ck-wk-admin-item")
    assert thumbprint.upper() in text(item)
    find(item, "ck-wk-remove").click()
    assert kit.well_known() == []
    assert "No well-known admin certificates." in text(find(root, "ck-wk-admins"))


def test_well_known_admin_bad_thumbprint(view: CertificatesView, kit: Certkit) -> None:
    find(view.root, "ck-wk-admin-thumbprint").value = "not-a-thumbprint"
    find(view.root, "ck-wk-add-admin").click()
    assert view.banner.kind == "error"
    assert "is not a thumbprint" in view.banner.text
    assert kit.well_known() == []


def test_well_known_issuer_add_and_remove(
    view: CertificatesView, kit: Certkit, partner_ca: object
) -> None:
    root = view.root
    pem = pki.certificate_pem(partner_ca.cert)  # type: ignore[attr-defined]
    choose_file(find(root, "ck-wk-issuer-file"), "partner-ca.pem", pem)
    find(root, "ck-wk-add-issuer").click()
    assert view.banner.text.startswith("Added well-known issuer ")
    assert "CN=UI Test Partner CA" in view.banner.text
    (entry,) = kit.well_known()
    assert entry.kind is CertKind.WELL_KNOWN_ISSUER
    (item,) = find_all(root, "ck-wk-issuer-item")
    assert "CN=UI Test Partner CA" in text(item)
    find(item, "ck-wk-remove").click()
    assert kit.well_known() == []


def test_a_client_certificate_is_not_an_issuer(
    view: CertificatesView, kit: Certkit, partner_ca: object
) -> None:
    choose_file(
        find(view.root, "ck-wk-issuer-file"), "leaf.pem", partner_ca.pem("leaf", with_ca=False)
    )  # type: ignore[attr-defined]
    find(view.root, "ck-wk-add-issuer").click()
    assert "is not a CA certificate" in view.banner.text
    assert kit.well_known() == []
