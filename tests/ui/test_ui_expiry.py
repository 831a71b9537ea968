"""The Expiry page, headless: plots, numbers, renew (download, link, no longer counted),
delete, purge, thresholds, escaping and the pager."""

from __future__ import annotations

import base64
import io
import re
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

from certkit import pki
from certkit.errors import NotFound
from certkit.model import Actor, CertificateRecord, Clearance, ListQuery
from certkit.ops import Certkit
from certkit.ui.certificates import build_certificates_view
from certkit.ui.common import is_visible
from certkit.ui.expiry import ROWS, ExpiryView, build_expiry_view
from certkit.ui.testing import find, find_all, text
from tests.conftest import on_both_backends

backend = on_both_backends()  # the pages on DuckDB and on PostgreSQL

DAY = timedelta(days=1)


def download(html: str, css_class: str) -> tuple[str, bytes]:
    match = re.search(
        rf'<a class="ck-download {css_class}" download="([^"]+)" href="data:application/zip;'
        r'base64,([^"]+)"',
        html,
    )
    assert match, f"no {css_class} link in {html[:300]}"
    return match.group(1), base64.b64decode(match.group(2))


def row_button(view: ExpiryView, index: int, action: str) -> Any:
    return find(find(view.root, f"ck-expiry-row-{index}"), f"ck-expiry-{action}")


def visible_rows(view: ExpiryView) -> list[str]:
    return [text(s.widget) for s in view.slots if is_visible(s.widget)]


def number(view: ExpiryView, key: str) -> int:
    """A figure of the numbers panel (``.ck-expiry-num-<key> .ck-num-value``)."""
    match = re.search(
        rf'ck-expiry-num-{key}\b[^"]*"><span class="ck-num-value">([\d,]+)</span>',
        view.numbers.value,
    )
    assert match, f"no figure {key} in {view.numbers.value[:300]}"
    return int(match.group(1).replace(",", ""))


def number_label(view: ExpiryView, key: str) -> str:
    match = re.search(rf'ck-expiry-num-{key}\b.*?ck-num-label">([^<]*)<', view.numbers.value)
    assert match
    return match.group(1)


@pytest.fixture
def aged(kit: Certkit, clock: Any) -> dict[str, str]:
    """At START: expired 40 and 5 days ago, expiring in 10 and 20 days, valid for a year;
    registered 100 days ago, never used."""
    start = clock.moment
    made = {}
    for name, expires, extra in (
        ("gone-40", -40, {}),
        ("gone-5", -5, {}),
        ("soon <b>10</b>", 10, {"permissions": {"HR": "Read"}}),
        ("soon-20", 20, {"clearance": "Operator", "two_factor": True}),
        ("fine", 365, {}),
    ):
        clock.moment = start - 100 * DAY
        made[name] = kit.generate_client_certificate(
            name, expires=(expires + 100) * DAY, **extra
        ).record.thumbprint
    clock.moment = start
    return made


@pytest.fixture
def page(kit: Certkit, aged: dict[str, str]) -> ExpiryView:
    return build_expiry_view(kit)


def test_the_page_draws_plots_and_numbers(page: ExpiryView) -> None:
    assert page.banner.text == ""
    for image in (page.timeline, page.breakdown):
        assert bytes(image.value).startswith(b"\x89PNG\r\n\x1a\n")
    assert "ck-expiry-timeline" in page.timeline._dom_classes
    assert [number(page, k) for k in ("certificates", "expiring", "expired", "unused")] == [
        5,
        2,
        2,
        3,  # registered 100 days ago, never used, not expired
    ]
    assert visible_rows(page)[0].startswith("soon <b>10</b>")  # escaped, shown as text
    assert "<b>10</b>" not in page.slots[0].cells.value
    assert "&lt;b&gt;10&lt;/b&gt;" in page.slots[0].cells.value
    assert len(visible_rows(page)) == 2
    expired = text(find(page.root, "ck-expiry-expired-list"))
    assert "gone-40" in expired and "gone-5" in expired
    own = text(find(page.root, "ck-expiry-own"))
    assert "Warning within 20 days, error within 3 days." in own
    assert "Server certificate (node A)" in own and "Client-issuing CA" in own
    assert len(find_all(page.root, "ck-expiry-row-0")) == 1


def test_renew_downloads_a_zip_and_links_both(
    page: ExpiryView, kit: Certkit, aged: dict[str, str]
) -> None:
    old = aged["soon <b>10</b>"]
    row_button(page, 0, "renew").click()
    dialog = page.renew
    assert dialog.modal.is_open
    assert "soon <b>10</b>" in text(find(page.root, "ck-renew-info"))
    find(page.root, "ck-renew-passphrase").value = "pw 1"
    find(page.root, "ck-renew-passphrase-confirm").value = "pw 1"
    find(page.root, "ck-renew-submit").click()
    assert dialog.modal.message.kind == "success", dialog.modal.message.text
    new = kit.list_certificates(ListQuery(search="soon <b>10</b>")).records
    renewal = next(r for r in new if r.thumbprint != old)
    assert renewal.replaces == old
    name, data = download(find(page.root, "ck-renew-result").value, "ck-renew-download")
    assert name == pki.safe_file_stem("soon <b>10</b>") + ".zip"
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        stem = name.removesuffix(".zip")
        bundle = pkcs12.load_pkcs12(archive.read(f"{stem}.pfx"), b"pw 1")
    assert bundle.cert is not None and pki.thumbprint(bundle.cert.certificate) == (
        renewal.thumbprint
    )
    link = text(find(page.root, "ck-renew-link"))
    assert f"New thumbprint {renewal.thumbprint}" in link
    assert f"renewal of {old}" in link and "is kept" in link
    assert renewal.thumbprint in page.banner.text
    # the old one no longer counts as expiring: the page reloaded
    assert number(page, "expiring") == 1
    assert [r.split()[0] for r in visible_rows(page)] == ["soon-20"]
    assert number(page, "replaced") == 1
    find(page.root, "ck-renew-done").click()
    assert not dialog.modal.is_open
    assert find(page.root, "ck-renew-result").value == ""
    # the main table shows the link from both ends
    table = build_certificates_view(kit).root
    rows = [text(w) for w in find_all(table, "ck-row-cells") if text(w)]
    assert any(f"replaced by {renewal.thumbprint}" in r for r in rows)
    assert any(f"renewal of {old}" in r for r in rows)


def test_renew_and_delete_the_old_one(page: ExpiryView, kit: Certkit, aged: dict[str, str]) -> None:
    row_button(page, 1, "renew").click()  # soon-20: Operator with 2FA
    assert "two-factor authentication stays on" in text(find(page.root, "ck-renew-info"))
    find(page.root, "ck-renew-delete-old").value = True
    find(page.root, "ck-renew-submit").click()
    assert "was deleted" in text(find(page.root, "ck-renew-link"))
    with pytest.raises(NotFound):
        kit.show(aged["soon-20"])
    renewal = kit.list_certificates(ListQuery(search="soon-20")).records[0]
    assert (renewal.clearance, renewal.two_factor) == (Clearance.OPERATOR, True)
    assert not page.renew.result.two_factor.pending  # the secret carried over
    assert number(page, "certificates") == 5


def test_renew_refused_by_the_actor_rules(kit: Certkit, aged: dict[str, str]) -> None:
    kit.generate_client_certificate("root", clearance="ClusterAdmin", expires="3d")
    page = build_expiry_view(kit, actor=Actor(Clearance.OPERATOR, name="olga"))
    row_button(page, 0, "renew").click()
    find(page.root, "ck-renew-submit").click()
    assert page.renew.modal.message.kind == "error"
    assert "only a Cluster Admin" in page.renew.modal.message.text
    assert number(page, "expiring") == 3


def test_delete_from_the_expiring_table(
    page: ExpiryView, kit: Certkit, aged: dict[str, str]
) -> None:
    row_button(page, 1, "delete").click()
    assert page.delete.modal.is_open
    assert "soon-20" in text(find(page.root, "ck-delete-summary"))
    find(page.root, "ck-delete-confirm").click()
    assert page.banner.text == "Deleted soon-20."
    with pytest.raises(NotFound):
        kit.show(aged["soon-20"])
    assert number(page, "expiring") == 1


def test_purge_expired_respects_its_threshold(
    page: ExpiryView, kit: Certkit, aged: dict[str, str]
) -> None:
    find(page.root, "ck-expiry-purge-days").value = 30
    find(page.root, "ck-expiry-purge-expired").click()
    assert page.purge.modal.is_open
    summary = text(find(page.root, "ck-purge-summary"))
    assert "1 client certificate(s) expired more than 30 day(s) ago" in summary
    find(page.root, "ck-purge-confirm").click()
    assert not page.purge.modal.is_open
    assert page.banner.text == "Purged 1 client certificate(s) expired more than 30 day(s) ago."
    with pytest.raises(NotFound):
        kit.show(aged["gone-40"])
    kit.show(aged["gone-5"])
    assert number(page, "expired") == 1
    find(page.root, "ck-expiry-purge-days").value = 0
    find(page.root, "ck-expiry-purge-expired").click()
    find(page.root, "ck-purge-confirm").click()
    assert number(page, "expired") == 0
    assert "No expired certificate" in text(find(page.root, "ck-expiry-expired-list"))
    find(page.root, "ck-expiry-purge-expired").click()  # nothing left: said so, no dialog
    assert not page.purge.modal.is_open
    assert "Nothing to purge" in page.banner.text


def test_purge_unused_and_cancel(page: ExpiryView, kit: Certkit, aged: dict[str, str]) -> None:
    find(page.root, "ck-expiry-purge-unused").click()
    assert "3 client certificate(s) unused for more than 90 day(s)" in text(
        find(page.root, "ck-purge-summary")
    )
    find(page.root, "ck-purge-cancel").click()
    assert kit.list_certificates().total == 5
    find(page.root, "ck-expiry-unused-days").value = 120
    find(page.root, "ck-expiry-apply").click()
    assert number(page, "unused") == 0
    assert "Every certificate was used within 120 days." in text(
        find(page.root, "ck-expiry-unused-list")
    )
    find(page.root, "ck-expiry-unused-days").value = 90
    find(page.root, "ck-expiry-apply").click()
    find(page.root, "ck-expiry-purge-unused").click()
    find(page.root, "ck-purge-confirm").click()
    assert sorted(r.name for r in kit.list_certificates().records) == ["gone-40", "gone-5"]


def test_thresholds_change_the_page(page: ExpiryView) -> None:
    find(page.root, "ck-expiry-client-days").value = 400
    find(page.root, "ck-expiry-apply").click()
    assert page.banner.text == "Thresholds applied."
    assert number(page, "expiring") == 3
    assert number_label(page, "expiring") == "expiring within 400 days"
    find(page.root, "ck-expiry-server-warning").value = 900
    find(page.root, "ck-expiry-apply").click()
    assert "warning" in text(find(page.root, "ck-expiry-own"))  # 825 days left
    find(page.root, "ck-expiry-server-error").value = 901
    find(page.root, "ck-expiry-apply").click()
    assert page.banner.kind == "error"
    assert "error threshold" in page.banner.text


def test_the_timeline_switches_between_weeks_and_months(page: ExpiryView) -> None:
    monthly = page.timeline.value
    page.period.value = "week"
    assert bytes(page.timeline.value).startswith(b"\x89PNG") and page.timeline.value != monthly


def test_the_pager_of_the_expiring_table(kit: Certkit) -> None:
    for i in range(ROWS + 3):
        kit.generate_client_certificate(f"n{i:02d}", expires=(i + 1) * DAY)
    page = build_expiry_view(kit)
    assert len(visible_rows(page)) == ROWS
    assert text(find(page.root, "ck-expiry-pageinfo")) == f"1-{ROWS} of {ROWS + 3}"
    assert find(page.root, "ck-expiry-prev").disabled
    find(page.root, "ck-expiry-next").click()
    assert [r.split()[0] for r in visible_rows(page)] == ["n25", "n26", "n27"]
    assert find(page.root, "ck-expiry-next").disabled
    find(page.root, "ck-expiry-prev").click()
    assert visible_rows(page)[0].startswith("n00")


def test_an_empty_registry(kit: Certkit) -> None:
    page = build_expiry_view(kit)
    assert page.banner.text == ""
    assert is_visible(find(page.root, "ck-expiry-expiring-empty"))
    assert visible_rows(page) == []
    assert bytes(page.timeline.value).startswith(b"\x89PNG")


def test_a_failing_analysis_shows_in_the_banner(
    kit: Certkit, monkeypatch: pytest.MonkeyPatch, allow_ui_errors: Any
) -> None:
    def broken(*_: Any, **__: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr("certkit.analysis.expiry_report", broken)
    page = build_expiry_view(kit)
    assert page.banner.text == "Something went wrong; the error was logged."
    assert "disk on fire" not in text(page.root)


def test_records_from_rows_are_client_certificates(page: ExpiryView, kit: Certkit) -> None:
    row_button(page, 0, "renew").click()
    assert isinstance(page.renew.record, CertificateRecord)
