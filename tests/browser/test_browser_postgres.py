"""The Certificates view on a PostgreSQL registry, in Debian's Chromium against a real
``voila`` started as ``certkit --database-url URL app`` starts it: the table shows what the
CLI registered there, and an edit made in the page lands in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from certkit import app
from certkit.model import Access
from certkit.ops import open_certkit
from tests.browser.browser_pages import AppPage, Pages
from tests.browser.launch import voila_serving
from tests.postgres import PostgresServer

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def registry_url(postgres_server: PostgresServer) -> str:
    return postgres_server.new_schema_url()


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("voila-postgres") / "home"


@pytest.fixture(scope="module")
def app_url(home: Path, registry_url: str) -> Iterator[str]:
    """Voila on a home whose registry is the PostgreSQL schema (the pages open this)."""
    base = home.parent
    kit = open_certkit(home, database_url=registry_url)
    kit.generate_client_certificate("pg-alice", permissions={"Sales": "Read"})
    with voila_serving(app.launcher_notebook(), home, base, registry_url) as server:
        yield server.url
    assert not server.leaked, f"kernels outlived Voila and were killed: {server.leaked}"


def test_the_app_lists_and_edits_a_postgresql_registry(
    pages: Pages, home: Path, registry_url: str
) -> None:
    page: AppPage = pages.new()
    page.search("pg-alice", ["pg-alice"])
    assert page.text(".ck-certs-row-0 .ck-cell-permissions") == "Sales: Read"
    page.open_dialog(".ck-certs-row-0 button.ck-certs-row-edit", "edit")
    page.wait_text(".ck-edit-title", "Edit pg-alice")
    page.page.select_option(".ck-edit-perm-row-0 .ck-edit-perm-access select", label="Admin")
    page.page.click("button.ck-edit-save")
    page.hidden(".ck-modal-edit")
    page.wait_text(".ck-certs-row-0 .ck-cell-permissions", "Sales: Admin")
    on_pg = open_certkit(home, database_url=registry_url)
    (record,) = on_pg.list_certificates().records
    assert record.name == "pg-alice" and dict(record.permissions) == {"Sales": Access.ADMIN}
