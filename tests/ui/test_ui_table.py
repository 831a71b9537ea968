"""The client table with more than one page: pager, search, filters with counts, sort."""

from __future__ import annotations

from datetime import timedelta

import pytest

from certkit import pki
from certkit.model import Clearance, ListQuery
from certkit.ops import Certkit
from certkit.ui.certificates import CertificatesView, build_certificates_view
from certkit.ui.common import is_visible
from certkit.ui.testing import find, text
from tests.conftest import on_both_backends

backend = on_both_backends()  # the table on DuckDB and on PostgreSQL


def _pem(partner: object, names: list[str], days: int = 365) -> bytes:
    return b"".join(
        pki.certificate_pem(partner.client(n, days=days)[1])  # type: ignore[attr-defined]
        for n in names
    )


@pytest.fixture
def big(kit: Certkit, partner_ca: object) -> CertificatesView:
    """122 entries: 60 Sales users, 40 HR readers (10 expiring), 15 operators, 5 admins,
    2 expired."""
    kit.register(
        _pem(partner_ca, [f"user-{i:03}" for i in range(60)]),
        clearance=Clearance.VALID_USER,
        permissions={"Sales": "Read"},
        each=True,
    )
    kit.register(
        _pem(partner_ca, [f"reader-{i:03}" for i in range(30)]),
        clearance=Clearance.VALID_USER,
        permissions={"HR": "Read"},
        each=True,
    )
    kit.register(
        _pem(partner_ca, [f"reader-{i:03}" for i in range(30, 40)], days=10),
        clearance=Clearance.VALID_USER,
        permissions={"HR": "Read"},
        each=True,
    )
    kit.register(
        _pem(partner_ca, [f"op-{i:02}" for i in range(15)]),
        clearance=Clearance.OPERATOR,
        each=True,
    )
    for i in range(5):
        kit.generate_client_certificate(f"admin-{i}", clearance=Clearance.CLUSTER_ADMIN)
    kit.clock.advance(timedelta(days=-400))  # type: ignore[attr-defined]
    for i in range(2):
        kit.generate_client_certificate(f"old-{i}", expires="90d")
    kit.clock.advance(timedelta(days=400))  # type: ignore[attr-defined]
    return build_certificates_view(kit)


def names(view: CertificatesView) -> list[str]:
    return [s.record.name for s in view.table.slots if s.record is not None]


def info(view: CertificatesView) -> str:
    return text(find(view.root, "ck-certs-pageinfo"))


def test_pages_of_fifty(big: CertificatesView) -> None:
    assert info(big) == "1-50 of 122"
    assert len(names(big)) == 50
    assert names(big)[:3] == ["admin-0", "admin-1", "admin-2"]
    prev, nxt = find(big.root, "ck-certs-prev"), find(big.root, "ck-certs-next")
    assert prev.disabled and not nxt.disabled
    nxt.click()
    assert info(big) == "51-100 of 122"
    nxt.click()
    assert info(big) == "101-122 of 122"
    assert nxt.disabled
    assert is_visible(find(big.root, "ck-certs-row-21"))
    assert not is_visible(find(big.root, "ck-certs-row-22"))
    assert big.table.slots[22].record is None
    prev.click()
    assert info(big) == "51-100 of 122"


def test_the_row_slots_are_reused(big: CertificatesView) -> None:
    before = [id(s.widget) for s in big.table.slots]
    find(big.root, "ck-certs-next").click()
    assert [id(s.widget) for s in big.table.slots] == before


def test_search_by_name_and_by_thumbprint(big: CertificatesView, kit: Certkit) -> None:
    search = find(big.root, "ck-certs-search")
    search.value = "reader-01"
    assert info(big) == "1-10 of 10"
    thumbprint = kit.list_certificates(ListQuery(search="op-07")).records[0].thumbprint
    search.value = thumbprint[:12].lower()
    assert names(big) == ["op-07"]
    search.value = "nothing-like-this"
    assert info(big) == "0-0 of 0"
    assert is_visible(find(big.root, "ck-certs-empty"))


def test_filters_show_counts(big: CertificatesView) -> None:
    clearance, state = find(big.root, "ck-certs-clearance"), find(big.root, "ck-certs-state")
    labels = [label for label, _ in clearance.options]
    assert labels == ["All clearances (122)", "Admin (5)", "Operator (15)", "User (102)"]
    state_labels = [label for label, _ in state.options]
    assert state_labels == [
        "All states (122)",
        "Valid (110)",
        "About to expire (10)",
        "Expired (2)",
        "Not yet valid (0)",
    ]
    clearance.value = "Operator"
    assert info(big) == "1-15 of 15"
    assert clearance.value == "Operator", "re-counting keeps the choice"
    assert state.options[0][0] == "All states (15)"
    clearance.value = ""
    state.value = "expired"
    assert names(big) == ["old-0", "old-1"]
    assert "Expired" in text(find(big.root, "ck-certs-row-0"))
    state.value = "expiring"
    assert info(big) == "1-10 of 10"
    assert "About to expire" in text(find(big.root, "ck-certs-row-0"))


def test_filter_by_database(big: CertificatesView) -> None:
    find(big.root, "ck-certs-database").value = "hr"
    assert info(big) == "1-40 of 40"
    assert all(n.startswith("reader-") for n in names(big))


def test_sort_by_expiration_and_valid_from(big: CertificatesView) -> None:
    find(big.root, "ck-certs-sort").value = "expiration"
    assert names(big)[:2] == ["old-0", "old-1"]
    find(big.root, "ck-certs-order").value = "desc"
    first = big.table.slots[0].record
    assert first is not None and first.name.startswith("admin-")
    find(big.root, "ck-certs-sort").value = "valid-from"
    first = big.table.slots[0].record
    assert first is not None and first.name.startswith("admin-")
    find(big.root, "ck-certs-sort").value = "last-used"
    assert info(big) == "1-50 of 122"
    assert "not used" in text(find(big.root, "ck-certs-row-0"))


def test_a_filter_change_goes_back_to_the_first_page(big: CertificatesView) -> None:
    find(big.root, "ck-certs-next").click()
    find(big.root, "ck-certs-search").value = "user-"
    assert info(big) == "1-50 of 60"


def test_deleting_the_last_row_of_the_last_page_moves_back(big: CertificatesView) -> None:
    find(big.root, "ck-certs-search").value = "user-"
    find(big.root, "ck-certs-next").click()
    assert info(big) == "51-60 of 60"
    for _ in range(10):
        find(find(big.root, "ck-certs-row-0"), "ck-certs-row-delete").click()
        find(big.root, "ck-delete-confirm").click()
    assert info(big) == "1-50 of 50"
