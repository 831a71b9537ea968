"""``migrate`` between DuckDB and PostgreSQL, and backups across backends (issue 6).

The round trip DuckDB -> PostgreSQL -> DuckDB must give back every row of every table, and
on the way the copy must list, audit and verify two-factor codes as the original does.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from certkit import totp
from certkit.errors import Conflict, InvalidInput, PermissionDenied, TotpRejected
from certkit.model import Actor, Clearance, ListQuery
from certkit.ops import Certkit, open_certkit
from tests.conftest import CertFactory, Cli, FakeClock, Result, registry_digest, registry_rows
from tests.postgres import PostgresServer

PASSPHRASE = "migrate-test-passphrase-1"


@pytest.fixture(autouse=True)
def _passphrase(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERTKIT_KEY_PASSPHRASE", PASSPHRASE)


@pytest.fixture
def original(home: Path, clock: FakeClock, certs: CertFactory) -> dict[str, Any]:
    """A DuckDB registry with something in every table, a used TOTP code among them."""
    kit = open_certkit(home, clock=clock)
    kit.initialise(cluster_name="Blue Cluster")
    kit.generate_client_certificate("alice", clearance="Operator", permissions={"HR": "Read"})
    guarded = kit.generate_client_certificate("bob", permissions={"HR": "Read"}, two_factor=True)
    assert guarded.totp is not None
    kit.register(certs.pem(*(certs.client(f"n{i}")[1] for i in range(3))), clearance="User")
    kit.add_well_known_admin("CD" * 20)
    kit.add_well_known_issuer(certs.pem(certs.ca))
    used = totp.code_at(guarded.totp.secret, clock())
    kit.open_two_factor_session(guarded.record.thumbprint, used, browser_only=False)
    kit.delete(kit.generate_client_certificate("gone").record.thumbprint)
    return {
        "kit": kit,
        "secret": guarded.totp.secret,
        "bob": guarded.record.thumbprint,
        "used": used,
    }


def _listing(kit: Certkit) -> list[dict[str, Any]]:
    return [r.to_json(kit.now()) for r in kit.list_certificates(ListQuery(limit=None)).records]


def _rows(kit: Certkit) -> dict[str, list[Any]]:
    """Every table's rows, in an order that does not depend on the backend."""
    return {table: sorted(rows, key=repr) for table, rows in registry_rows(kit).items()}


def _audit(kit: Certkit) -> list[Any]:
    return _rows(kit)["audit_log"]


def _verifies(kit: Certkit, thumbprint: str, code: str) -> bool:
    try:
        kit.check_two_factor(thumbprint, code)
    except TotpRejected:
        return False
    return True


def test_duckdb_to_postgresql_to_duckdb_gives_back_every_row(
    original: dict[str, Any],
    home: Path,
    clock: FakeClock,
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    kit: Certkit = original["kit"]
    before_rows = _rows(kit)
    url = postgres_server.new_schema_url()

    summary = kit.migrate(url)
    assert summary.target.startswith("postgresql://") and "options" not in summary.target
    assert summary.rows["entries"] == 3 and not summary.replaced
    assert _rows(kit) == before_rows  # the source is left as it was

    on_pg = open_certkit(home, clock=clock, database_url=url)
    assert on_pg.registry.dialect == "postgresql"
    assert _listing(on_pg) == _listing(kit)
    assert _audit(on_pg) == _audit(kit)
    assert on_pg.well_known() == kit.well_known()
    assert on_pg.server_certificates(history=True) == kit.server_certificates(history=True)
    # two-factor: the code used before is still refused as a replay, a new one works
    assert not _verifies(on_pg, original["bob"], original["used"])
    clock.advance(timedelta(seconds=30))
    fresh = totp.code_at(original["secret"], clock())
    assert _verifies(on_pg, original["bob"], fresh)

    back = tmp_path / "back.duckdb"
    on_pg.migrate(f"duckdb:{back}")
    on_duck = open_certkit(home, clock=clock, database_url=f"duckdb:{back}")
    after = _rows(on_duck)
    assert after == _rows(on_pg)  # every row of every table, on the way back too
    assert _listing(on_duck) == _listing(on_pg)
    assert not _verifies(on_duck, original["bob"], fresh)  # its use travelled too
    # against the original: the same rows, but for what checking two codes on PostgreSQL
    # wrote (the TOTP state of bob's entry, an audit event)
    assert after.keys() == before_rows.keys()
    for table in before_rows.keys() - {"entries", "audit_log"}:
        assert after[table] == before_rows[table], table
    assert [r for r in after["audit_log"] if r in before_rows["audit_log"]] == before_rows[
        "audit_log"
    ]
    assert len(after["audit_log"]) == len(before_rows["audit_log"]) + 1
    assert [r[:2] for r in after["entries"]] == [r[:2] for r in before_rows["entries"]]


def test_a_target_with_content_is_refused_unless_replace(
    original: dict[str, Any], home: Path, clock: FakeClock, postgres_server: PostgresServer
) -> None:
    kit: Certkit = original["kit"]
    url = postgres_server.new_schema_url()
    other = open_certkit(home / "other", clock=clock, database_url=url)
    other.generate_client_certificate("someone else's")
    before = registry_digest(other)
    with pytest.raises(Conflict, match="not empty"):
        kit.migrate(url)
    assert registry_digest(other) == before
    summary = kit.migrate(url, replace=True)
    assert summary.replaced
    assert _listing(open_certkit(home, clock=clock, database_url=url)) == _listing(kit)


def test_bad_targets_are_refused_clearly(original: dict[str, Any], tmp_path: Path) -> None:
    kit: Certkit = original["kit"]
    before = registry_digest(kit)
    with pytest.raises(InvalidInput, match="already at"):
        kit.migrate(f"duckdb:{kit.registry.location}")
    with pytest.raises(InvalidInput, match="Unsupported database URL"):
        kit.migrate("mysql://db/certkit")
    with pytest.raises(PermissionDenied):
        kit.migrate(f"duckdb:{tmp_path / 'x.duckdb'}", actor=Actor(Clearance.OPERATOR, name="olga"))
    assert registry_digest(kit) == before


def test_an_unreachable_postgresql_is_a_clear_error_without_the_password(
    original: dict[str, Any],
) -> None:
    kit: Certkit = original["kit"]
    with pytest.raises(Exception) as raised:
        kit.migrate("postgresql://admin:s3cret-pw@127.0.0.1:9/certkit")
    message = str(raised.value)
    assert "Cannot connect to the PostgreSQL registry postgresql://admin@127.0.0.1:9" in message
    assert "s3cret-pw" not in message


def test_cli_migrate_both_ways(
    cli: Cli, home: Path, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    run = cli
    assert run("generate", "alice", "--clearance", "User", "--out", str(tmp_path)).code == 0
    url = postgres_server.new_schema_url()
    moved: Result = run("migrate", "--to", url)
    assert moved.code == 0, moved.err
    assert "Copied the registry" in moved.out and "1 client entries" in moved.out
    again = run("migrate", "--to", url)
    assert again.code == 2 and again.err.startswith("error: ") and "not empty" in again.err
    listed = run("--database-url", url, "list", "--json")
    assert '"alice"' in listed.out
    back = tmp_path / "back.duckdb"
    assert run("--database-url", url, "migrate", "--to", f"duckdb:{back}").code == 0
    assert run("--database-url", f"duckdb:{back}", "list", "--json").out == listed.out
    refused = run("migrate", "--to", url, "--replace")  # no terminal: asks for --yes
    assert refused.code == 2 and "--yes" in refused.err


def test_a_postgresql_backup_restores_into_duckdb_and_back(
    home: Path, clock: FakeClock, postgres_server: PostgresServer, tmp_path: Path
) -> None:
    on_pg = open_certkit(home, clock=clock, database_url=postgres_server.new_schema_url())
    made = on_pg.generate_client_certificate("carol", two_factor=True)
    assert made.totp is not None
    data = on_pg.backup()
    on_duck = open_certkit(tmp_path / "duck-home", clock=clock)
    on_duck.restore(data)
    assert _listing(on_duck) == _listing(on_pg)
    code = totp.code_at(made.totp.secret, clock())
    assert _verifies(on_duck, made.record.thumbprint, code)
    again = open_certkit(
        tmp_path / "pg-home", clock=clock, database_url=postgres_server.new_schema_url()
    )
    again.restore(on_duck.backup())
    assert _listing(again) == _listing(on_duck)
    assert not _verifies(again, made.record.thumbprint, code)  # the use was restored too


def test_between_two_postgresql_schemas_of_one_database(
    original: dict[str, Any], home: Path, clock: FakeClock, postgres_server: PostgresServer
) -> None:
    first, second = postgres_server.new_schema_url(), postgres_server.new_schema_url()
    original["kit"].migrate(first)
    on_first = open_certkit(home, clock=clock, database_url=first)
    with pytest.raises(InvalidInput, match="already at"):
        on_first.migrate(first)
    summary = on_first.migrate(second)
    assert summary.source != summary.target and "(schema t_" in summary.target
    on_second = open_certkit(home, clock=clock, database_url=second)
    assert _rows(on_second) == _rows(on_first)
