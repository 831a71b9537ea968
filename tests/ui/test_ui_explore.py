"""The Explore page: registry frames, and read-only SQL over them."""

from __future__ import annotations

from certkit.model import Clearance
from certkit.ops import Certkit
from certkit.ui import explore_page
from certkit.ui.testing import find, text
from tests.conftest import on_both_backends

backend = on_both_backends()  # the pages on DuckDB and on PostgreSQL


def test_explore_shows_frames_and_runs_sql(kit: Certkit) -> None:
    kit.generate_client_certificate("a", clearance=Clearance.OPERATOR)
    kit.generate_client_certificate("b", permissions={"HR": "Read"})
    page = explore_page(kit)
    options = [label for label, _ in find(page, "ck-explore-table").options]
    assert options == [
        "certificates (2 rows)",
        "server_certificates (1 rows)",
        "well_known (0 rows)",
    ]
    assert "2 rows." in text(find(page, "ck-explore-frame"))
    sql = find(page, "ck-explore-sql")
    sql.value = "SELECT name, clearance FROM certificates WHERE permissions LIKE '%HR%'"
    find(page, "ck-explore-run").click()
    result = text(find(page, "ck-explore-result"))
    assert "b ValidUser" in result and "1 rows." in result
    find(page, "ck-explore-table").value = "server_certificates"
    assert "Server certificate for communication A" in text(find(page, "ck-explore-frame"))


def test_explore_sql_errors_are_messages(kit: Certkit) -> None:
    page = explore_page(kit)
    banner = find(page, "ck-banner")
    find(page, "ck-explore-sql").value = "SELECT nope FROM certificates"
    find(page, "ck-explore-run").click()
    assert "The query failed" in text(banner)
    find(page, "ck-explore-sql").value = "   "
    find(page, "ck-explore-run").click()
    assert "Write a SQL query first" in text(banner)


def test_explore_sql_cannot_read_files(kit: Certkit) -> None:
    page = explore_page(kit)
    find(page, "ck-explore-sql").value = "SELECT * FROM read_csv('/etc/passwd')"
    find(page, "ck-explore-run").click()
    assert "The query failed" in text(find(page, "ck-banner"))
    assert "root:" not in text(find(page, "ck-explore-result"))


def test_explore_escapes_names(kit: Certkit) -> None:
    kit.generate_client_certificate("<b>bold</b>")
    page = explore_page(kit)
    assert "<b>bold</b>" not in find(page, "ck-explore-frame").value
    assert "&lt;b&gt;bold&lt;/b&gt;" in find(page, "ck-explore-frame").value
