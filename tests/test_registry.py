"""The DuckDB registry: schema, entries, listing, last used, audit, transactions, locking."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import psycopg
import pytest

from certkit.errors import CertkitError, RegistryBusy
from certkit.model import (
    Access,
    CertKind,
    CertState,
    Clearance,
    ListQuery,
    SortKey,
)
from certkit.ops.base import new_certificate
from certkit.registry import NewCertificate, NewEntry, Registry, RegistryBackend
from certkit.registry.postgres import PostgresRegistry
from certkit.registry.schema import SCHEMA_VERSION, migration
from tests.conftest import BACKENDS, START, CertFactory
from tests.postgres import PostgresServer

DAY = timedelta(days=1)


@pytest.fixture(params=BACKENDS)
def registry(request: pytest.FixtureRequest, tmp_path: Path) -> RegistryBackend:
    """A new registry on each backend: a DuckDB file, a PostgreSQL schema."""
    if request.param == "duckdb":
        return Registry(tmp_path / "registry.duckdb")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return PostgresRegistry(server.new_schema_url())


@pytest.fixture
def file_registry(tmp_path: Path) -> Registry:
    """A DuckDB registry, for what only a file has (locks, other processes opening it)."""
    return Registry(tmp_path / "registry.duckdb")


def _cert(
    certs: CertFactory, name: str, *, valid_from: datetime = START, days: float = 365
) -> NewCertificate:
    _, cert = certs.client(name, valid_from=valid_from, days=days)
    return new_certificate(cert)


def _entry(
    name: str,
    members: Sequence[NewCertificate],
    *,
    clearance: Clearance = Clearance.VALID_USER,
    permissions: dict[str, Access] | None = None,
    two_factor: bool = False,
) -> NewEntry:
    return NewEntry(
        name=name,
        kind=CertKind.CLIENT,
        clearance=clearance,
        permissions=permissions or {},
        two_factor=two_factor,
        certificates=members,
        created_at=START,
        created_by="tester",
    )


def _insert(registry: Registry, *entries: NewEntry) -> list[int]:
    with registry.transaction() as tx:
        return tx.insert_entries(list(entries))


def _names(registry: Registry, query: ListQuery) -> list[str]:
    with registry.read() as tx:
        return [r.name for r in tx.list_entries(query, START).records]


# ---------------------------------------------------------------------------- schema


def test_schema_is_created_and_versioned(file_registry: Registry) -> None:
    assert not file_registry.path.exists()
    with file_registry.read() as tx:
        assert tx.get_meta("schema_version") == str(SCHEMA_VERSION)
    con = duckdb.connect(str(file_registry.path), read_only=True)
    try:
        tables = {
            r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()
        }
    finally:
        con.close()
    assert {
        "meta",
        "entries",
        "certificates",
        "well_known",
        "server_certificates",
        "audit_log",
    } <= tables


def test_schema_upgrade_runs_once(registry: Registry, certs: CertFactory) -> None:
    _insert(registry, _entry("alice", [_cert(certs, "alice")]))
    with registry.transaction() as tx:  # a second open must not recreate (or empty) tables
        assert tx.count_entries() == 1
        assert tx.get_meta("schema_version") == str(SCHEMA_VERSION)


def test_a_newer_schema_is_refused_with_a_clear_message(registry: Registry) -> None:
    with registry.transaction() as tx:
        tx.set_meta("schema_version", str(SCHEMA_VERSION + 1))
    with pytest.raises(CertkitError, match="newer than this certkit"):
        with registry.read():
            pass


def _write_first_version(registry: RegistryBackend) -> None:
    """Make ``registry`` a registry written by the first version of certkit."""
    sql = "INSERT INTO meta VALUES ('schema_version', '1'), ('cluster_name', 'old')"
    if isinstance(registry, PostgresRegistry):
        with psycopg.connect(registry.url, autocommit=True) as con:
            con.execute(migration(1, postgres=True))
            con.execute(sql)
        return
    assert isinstance(registry, Registry)
    con = duckdb.connect(str(registry.path))
    try:
        con.execute(migration(1))
        con.execute(sql)
    finally:
        con.close()


def test_an_old_schema_upgrades_itself_and_keeps_its_rows(registry: RegistryBackend) -> None:
    _write_first_version(registry)
    with registry.read() as tx:
        assert tx.get_meta("schema_version") == str(SCHEMA_VERSION)
        assert tx.get_meta("cluster_name") == "old"
    with registry.read() as tx:  # and only once
        assert tx.get_meta("schema_version") == str(SCHEMA_VERSION)


def test_meta_round_trip(registry: Registry) -> None:
    with registry.transaction() as tx:
        assert tx.get_meta("cluster_name") is None
        tx.set_meta("cluster_name", "blue")
        tx.set_meta("cluster_name", "green")
    with registry.read() as tx:
        assert tx.get_meta("cluster_name") == "green"


# --------------------------------------------------------------------------- entries


def test_insert_and_find_an_entry(registry: Registry, certs: CertFactory) -> None:
    row = _cert(certs, "alice")
    (entry_id,) = _insert(
        registry,
        _entry(
            "alice",
            [row],
            clearance=Clearance.OPERATOR,
            permissions={"HR": Access.READ_WRITE, "Sales": Access.READ},
            two_factor=True,
        ),
    )
    with registry.read() as tx:
        record = tx.find(row.thumbprint)
        assert tx.entry(entry_id) == record
        assert tx.certificate_der(row.thumbprint) == row.der
        assert tx.count_entries() == 1
    assert record is not None
    assert record.entry_id == entry_id
    assert (record.name, record.thumbprint, record.sha256) == ("alice", row.thumbprint, row.sha256)
    assert record.kind is CertKind.CLIENT
    assert record.clearance is Clearance.OPERATOR
    assert dict(record.permissions) == {"HR": Access.READ_WRITE, "Sales": Access.READ}
    assert record.two_factor is True
    assert (record.subject, record.issuer, record.serial) == (row.subject, row.issuer, row.serial)
    assert (record.not_before, record.not_after) == (row.not_before, row.not_after)
    assert record.not_before.tzinfo is not None
    assert record.collection == ()
    assert record.last_used is None
    assert record.created_at == START


def test_unknown_thumbprint_finds_nothing(registry: Registry, certs: CertFactory) -> None:
    with registry.read() as tx:
        assert tx.find(_cert(certs, "nobody").thumbprint) is None
        assert tx.entry(12345) is None


def test_collection_members_share_one_entry(registry: Registry, certs: CertFactory) -> None:
    first, second, third = (_cert(certs, f"member {i}") for i in range(3))
    (entry_id,) = _insert(registry, _entry("team", [first, second, third]))
    with registry.read() as tx:
        for row in (first, second, third):
            assert tx.entry_id_of(row.thumbprint) == entry_id
            record = tx.find(row.thumbprint)
            assert record is not None
            assert record.thumbprint == first.thumbprint  # the primary
            assert record.collection == (second.thumbprint, third.thumbprint)
        assert tx.registered_thumbprints([third.thumbprint, "0" * 40, first.thumbprint]) == sorted(
            [first.thumbprint, third.thumbprint]
        )
        assert tx.registered_thumbprints([]) == []


def test_entries_come_back_in_the_order_asked(registry: Registry, certs: CertFactory) -> None:
    ids = _insert(registry, *(_entry(f"n{i}", [_cert(certs, f"n{i}")]) for i in range(4)))
    with registry.read() as tx:
        assert [r.name for r in tx.entries(list(reversed(ids)))] == ["n3", "n2", "n1", "n0"]


def test_names_in_use_is_case_insensitive_and_skips_replaced_entries(
    registry: Registry, certs: CertFactory
) -> None:
    alice_id, bob_id = _insert(
        registry,
        _entry("Alice", [_cert(certs, "Alice")]),
        _entry("bob", [_cert(certs, "bob")]),
    )
    with registry.transaction() as tx:
        assert tx.names_in_use(["ALICE", "carol"]) == ["Alice"]
        assert tx.names_in_use(["alice"], exclude_entry=alice_id) == []
        assert tx.names_in_use(["BOB"], exclude_entry=alice_id) == ["bob"]
        assert tx.names_in_use([]) == []
        tx.set_replaced_by(bob_id, "0" * 40)  # a renewal replaced it: the name is free again
    with registry.read() as tx:
        assert tx.names_in_use(["bob"]) == []


def test_update_and_delete_an_entry(registry: Registry, certs: CertFactory) -> None:
    first, second = _cert(certs, "a"), _cert(certs, "b")
    (entry_id,) = _insert(registry, _entry("team", [first, second]))
    with registry.transaction() as tx:
        tx.update_entry(
            entry_id,
            name="Team",
            clearance=Clearance.OPERATOR,
            permissions={"Ops": Access.ADMIN},
            two_factor=True,
            totp_secret="v1:sealed",
            reset_totp=True,
        )
    with registry.read() as tx:
        record = tx.find(second.thumbprint)
        assert tx.totp_state(entry_id).secret == "v1:sealed"
        assert tx.names_in_use(["team"]) == ["Team"]
    assert record is not None
    assert (record.name, record.clearance, record.two_factor) == ("Team", Clearance.OPERATOR, True)
    assert dict(record.permissions) == {"Ops": Access.ADMIN}
    with registry.transaction() as tx:
        tx.delete_entry(entry_id)
    with registry.read() as tx:
        assert tx.find(first.thumbprint) is None
        assert tx.find(second.thumbprint) is None
        assert tx.registered_thumbprints([first.thumbprint, second.thumbprint]) == []
        assert tx.count_entries() == 0


def test_totp_state_round_trip(registry: Registry, certs: CertFactory) -> None:
    (entry_id,) = _insert(registry, _entry("a", [_cert(certs, "a")], two_factor=True))
    with registry.transaction() as tx:
        state = tx.totp_state(entry_id)
        assert (state.last_timecode, state.failures, state.locked_until) == (None, 0, None)
        tx.set_totp_state(entry_id, last_timecode=42, failures=3, locked_until=START + DAY)
    with registry.read() as tx:
        state = tx.totp_state(entry_id)
    assert (state.last_timecode, state.failures, state.locked_until) == (42, 3, START + DAY)
    with registry.read() as tx, pytest.raises(KeyError):
        tx.totp_state(entry_id + 100)


# --------------------------------------------------------------------------- listing


@pytest.fixture
def rows(certs: CertFactory) -> dict[str, NewCertificate]:
    """Seven certificates with distinct validity periods, by entry name."""
    return {
        "alpha": _cert(certs, "alpha", valid_from=START - 10 * DAY, days=400),
        "Bravo": _cert(certs, "Bravo", valid_from=START - 20 * DAY, days=35),  # expiring
        "charlie": _cert(certs, "charlie", valid_from=START - 200 * DAY, days=100),  # expired
        "delta": _cert(certs, "delta", valid_from=START + 5 * DAY, days=300),  # not yet valid
        "echo": _cert(certs, "echo", valid_from=START - 30 * DAY, days=500),
        "foxtrot": _cert(certs, "foxtrot", valid_from=START - DAY, days=600),
        "golf": _cert(certs, "golf", valid_from=START - 3 * DAY, days=200),
    }


@pytest.fixture
def populated(registry: Registry, rows: dict[str, NewCertificate]) -> Registry:
    """Seven entries with distinct names, clearances, databases, validity and last use."""
    settings = {
        "alpha": (Clearance.CLUSTER_ADMIN, {"HR": Access.ADMIN}),
        "Bravo": (Clearance.CLUSTER_NODE, {}),
        "charlie": (Clearance.OPERATOR, {"Sales": Access.READ}),
        "delta": (Clearance.VALID_USER, {"hr": Access.READ}),
        "echo": (Clearance.VALID_USER, {"Sales": Access.READ_WRITE, "HRX": Access.READ}),
        "foxtrot": (Clearance.OPERATOR, {}),
        "golf": (Clearance.VALID_USER, {"H_R": Access.READ}),
    }
    _insert(
        registry,
        *(
            _entry(name, [row], clearance=settings[name][0], permissions=settings[name][1])
            for name, row in rows.items()
        ),
    )
    with registry.transaction() as tx:  # last used: echo latest, then alpha, golf; others never
        tx.touch_last_used(rows["golf"].thumbprint, START - 3 * DAY)
        tx.touch_last_used(rows["alpha"].thumbprint, START - 2 * DAY)
        tx.touch_last_used(rows["echo"].thumbprint, START - DAY)
    return registry


def test_list_all_sorted_by_name_case_insensitively(populated: Registry) -> None:
    with populated.read() as tx:
        page = tx.list_entries(ListQuery(limit=None), START)
    assert [r.name for r in page.records] == [
        "alpha",
        "Bravo",
        "charlie",
        "delta",
        "echo",
        "foxtrot",
        "golf",
    ]
    assert page.total == 7


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        pytest.param("ALP", ["alpha"], id="name-substring-any-case"),
        pytest.param("o", ["Bravo", "echo", "foxtrot", "golf"], id="name-letter"),
        pytest.param("zzz", [], id="nothing"),
        pytest.param("  echo  ", ["echo"], id="trimmed"),
    ],
)
def test_search_by_name(populated: Registry, search: str, expected: list[str]) -> None:
    assert _names(populated, ListQuery(search=search, limit=None)) == expected


def test_search_by_thumbprint_substring_with_or_without_colons(
    populated: Registry, rows: dict[str, NewCertificate]
) -> None:
    thumbprint = rows["delta"].thumbprint
    middle = thumbprint[10:22]
    with_colons = ":".join(middle[i : i + 2] for i in range(0, len(middle), 2)).lower()
    assert _names(populated, ListQuery(search=middle, limit=None)) == ["delta"]
    assert _names(populated, ListQuery(search=middle.lower(), limit=None)) == ["delta"]
    assert _names(populated, ListQuery(search=with_colons, limit=None)) == ["delta"]


def test_search_treats_sql_wildcards_literally(populated: Registry) -> None:
    assert _names(populated, ListQuery(search="%", limit=None)) == []
    assert _names(populated, ListQuery(search="_", limit=None)) == []


def test_search_finds_collection_members(registry: Registry, certs: CertFactory) -> None:
    first, second = _cert(certs, "x1"), _cert(certs, "x2")
    _insert(registry, _entry("pair", [first, second]), _entry("other", [_cert(certs, "o")]))
    assert _names(registry, ListQuery(search=second.thumbprint[5:20], limit=None)) == ["pair"]


@pytest.mark.parametrize(
    ("group", "expected"),
    [
        pytest.param("Admin", ["alpha", "Bravo"], id="admin-is-cluster-admin-and-node"),
        pytest.param("Operator", ["charlie", "foxtrot"], id="operator"),
        pytest.param("User", ["delta", "echo", "golf"], id="user"),
    ],
)
def test_filter_by_clearance_group(populated: Registry, group: str, expected: list[str]) -> None:
    assert _names(populated, ListQuery(clearance=group, limit=None)) == expected


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        pytest.param(CertState.VALID, ["alpha", "echo", "foxtrot", "golf"], id="valid"),
        pytest.param(CertState.EXPIRING, ["Bravo"], id="expiring"),
        pytest.param(CertState.EXPIRED, ["charlie"], id="expired"),
        pytest.param(CertState.NOT_YET_VALID, ["delta"], id="not-yet-valid"),
    ],
)
def test_filter_by_state(populated: Registry, state: CertState, expected: list[str]) -> None:
    assert _names(populated, ListQuery(state=state, limit=None)) == expected


def test_expiring_threshold_is_configurable(populated: Registry) -> None:
    # golf expires in 197 days, alpha in 390: a 200-day threshold makes golf expiring too.
    wide = ListQuery(state=CertState.EXPIRING, threshold=timedelta(days=200), limit=None)
    assert _names(populated, wide) == ["Bravo", "golf"]
    narrow = ListQuery(state=CertState.EXPIRING, threshold=timedelta(days=1), limit=None)
    assert _names(populated, narrow) == []


@pytest.mark.parametrize(
    ("database", "expected"),
    [
        pytest.param("HR", ["alpha", "delta"], id="exact-and-other-case"),
        pytest.param("hr", ["alpha", "delta"], id="lower-case"),
        pytest.param("sales", ["charlie", "echo"], id="sales"),
        pytest.param("HRX", ["echo"], id="no-prefix-match"),
        pytest.param("H_R", ["golf"], id="underscore-is-literal"),
        pytest.param("Nope", [], id="unknown"),
    ],
)
def test_filter_by_database(populated: Registry, database: str, expected: list[str]) -> None:
    assert _names(populated, ListQuery(database=database, limit=None)) == expected


def test_filters_combine(populated: Registry) -> None:
    query = ListQuery(clearance="User", state=CertState.VALID, database="sales", limit=None)
    assert _names(populated, query) == ["echo"]


@pytest.mark.parametrize(
    ("sort", "ascending"),
    [
        pytest.param(
            SortKey.NAME,
            ["alpha", "Bravo", "charlie", "delta", "echo", "foxtrot", "golf"],
            id="name",
        ),
        pytest.param(
            SortKey.EXPIRATION,
            ["charlie", "Bravo", "golf", "delta", "alpha", "echo", "foxtrot"],
            id="expiration",
        ),
        pytest.param(
            SortKey.VALID_FROM,
            ["charlie", "echo", "Bravo", "alpha", "golf", "foxtrot", "delta"],
            id="valid-from",
        ),
    ],
)
def test_sort_both_directions(populated: Registry, sort: SortKey, ascending: list[str]) -> None:
    assert _names(populated, ListQuery(sort=sort, limit=None)) == ascending
    assert _names(populated, ListQuery(sort=sort, descending=True, limit=None)) == ascending[::-1]


def test_sort_by_last_used_puts_never_used_last_both_ways(populated: Registry) -> None:
    never = ["Bravo", "charlie", "delta", "foxtrot"]  # ties broken by name
    ascending = ListQuery(sort=SortKey.LAST_USED, limit=None)
    descending = ListQuery(sort=SortKey.LAST_USED, descending=True, limit=None)
    assert _names(populated, ascending) == ["golf", "alpha", "echo", *never]
    assert _names(populated, descending) == ["echo", "alpha", "golf", *never]


def test_paging(populated: Registry) -> None:
    everything = _names(populated, ListQuery(limit=None))
    pages = []
    for offset in range(0, 7, 3):
        with populated.read() as tx:
            page = tx.list_entries(ListQuery(offset=offset, limit=3), START)
        assert (page.total, page.offset, page.limit) == (7, offset, 3)
        pages.append([r.name for r in page.records])
    assert pages == [everything[0:3], everything[3:6], everything[6:7]]
    assert _names(populated, ListQuery(offset=50, limit=3)) == []
    assert _names(populated, ListQuery(offset=-5, limit=2)) == everything[:2]
    assert _names(populated, ListQuery(limit=-1)) == []
    assert _names(populated, ListQuery(limit=0)) == []


def test_counts_by_clearance_and_state(populated: Registry) -> None:
    with populated.read() as tx:
        page = tx.list_entries(ListQuery(limit=2), START)
    assert len(page.records) == 2 and page.total == 7
    assert dict(page.counts_by_clearance) == {"Admin": 2, "Operator": 2, "User": 3}
    assert dict(page.counts_by_state) == {
        "valid": 4,
        "expiring": 1,
        "expired": 1,
        "not-yet-valid": 1,
    }


def test_counts_ignore_their_own_filter_but_apply_the_others(populated: Registry) -> None:
    with populated.read() as tx:
        by_user = tx.list_entries(ListQuery(clearance="User"), START)
        by_valid = tx.list_entries(ListQuery(state=CertState.VALID), START)
        searched = tx.list_entries(ListQuery(search="r"), START)  # R is not a hex digit
    # the clearance filter narrows the state counts, not the clearance counts
    assert by_user.total == 3
    assert dict(by_user.counts_by_clearance) == {"Admin": 2, "Operator": 2, "User": 3}
    assert dict(by_user.counts_by_state) == {
        "valid": 2,
        "expiring": 0,
        "expired": 0,
        "not-yet-valid": 1,
    }
    # the state filter narrows the clearance counts, not the state counts
    assert by_valid.total == 4
    assert dict(by_valid.counts_by_clearance) == {"Admin": 1, "Operator": 1, "User": 2}
    assert by_valid.counts_by_state["expired"] == 1
    # a search narrows both: Bravo, charlie, foxtrot
    assert searched.total == 3
    assert dict(searched.counts_by_clearance) == {"Admin": 1, "Operator": 2}
    assert searched.counts_by_state["expired"] == 1


def test_empty_registry_lists_nothing(registry: Registry) -> None:
    with registry.read() as tx:
        page = tx.list_entries(ListQuery(), START)
    assert (page.records, page.total) == ((), 0)
    assert dict(page.counts_by_state) == {s.value: 0 for s in CertState}


# ------------------------------------------------------------------------- last used


def test_touch_last_used_keeps_the_latest(registry: Registry, certs: CertFactory) -> None:
    first, second = _cert(certs, "a"), _cert(certs, "b")
    _insert(registry, _entry("pair", [first, second]))
    with registry.transaction() as tx:
        tx.touch_last_used(first.thumbprint, START)
        tx.touch_last_used(second.thumbprint, START + 2 * DAY)
        tx.touch_last_used(first.thumbprint, START + DAY)  # older than the entry's latest use
    with registry.read() as tx:
        record = tx.find(first.thumbprint)
        rows = dict(tx._con.execute("SELECT thumbprint, last_used FROM certificates").fetchall())
    assert record is not None
    assert record.last_used == START + 2 * DAY
    assert rows[first.thumbprint] == (START + DAY).replace(tzinfo=None)
    with registry.transaction() as tx:
        tx.touch_last_used(second.thumbprint, START)  # never moves backwards
    with registry.read() as tx:
        again = tx.find(second.thumbprint)
    assert again is not None and again.last_used == START + 2 * DAY


# ------------------------------------------------------------- well-known and servers


def test_well_known_rows(registry: Registry, certs: CertFactory) -> None:
    issuer = new_certificate(certs.ca)
    with registry.transaction() as tx:
        admin_id = tx.add_well_known(
            CertKind.WELL_KNOWN_ADMIN, "AB" * 20, None, at=START, by="tester"
        )
        issuer_id = tx.add_well_known(
            CertKind.WELL_KNOWN_ISSUER, issuer.thumbprint, issuer, at=START, by="tester"
        )
    with registry.read() as tx:
        assert [w.id for w in tx.well_known()] == [admin_id, issuer_id]
        (admin,) = tx.well_known(CertKind.WELL_KNOWN_ADMIN)
        (known,) = tx.well_known(CertKind.WELL_KNOWN_ISSUER)
        assert tx.well_known_issuer_ders() == [issuer.der]
    assert (admin.thumbprint, admin.subject, admin.added_at, admin.added_by) == (
        "AB" * 20,
        None,
        START,
        "tester",
    )
    assert (known.subject, known.not_after) == (issuer.subject, issuer.not_after)
    with registry.transaction() as tx:
        removed = tx.remove_well_known(admin_id)
        assert removed is not None and removed.thumbprint == "AB" * 20
        assert tx.remove_well_known(admin_id) is None
        assert [w.id for w in tx.well_known()] == [issuer_id]


def test_server_certificates_keep_history(registry: Registry, certs: CertFactory) -> None:
    _, old_cert = certs.server(["node.example"])
    _, new_cert = certs.server(["node.example"])
    old, new = new_certificate(old_cert), new_certificate(new_cert)
    with registry.transaction() as tx:
        tx.install_server_certificate("A", old, hostnames=["node.example"], key_file="a1", at=START)
    with registry.transaction() as tx:
        tx.install_server_certificate(
            "A", new, hostnames=["node.example"], key_file="a2", at=START + DAY
        )
    with registry.read() as tx:
        (active,) = tx.server_certificates()
        history = tx.server_certificates(history=True)
        assert tx.server_certificate_der(old.thumbprint) == old.der
    assert (active.thumbprint, active.key_file, active.retired_at) == (new.thumbprint, "a2", None)
    assert [s.thumbprint for s in history] == [new.thumbprint, old.thumbprint]
    assert history[1].retired_at == START + DAY
    assert history[1].hostnames == ("node.example",)


# ------------------------------------------------------------------------------ audit


def test_audit_rows(registry: Registry) -> None:
    with registry.transaction() as tx:
        tx.audit(at=START, actor="admin", action="generate", thumbprint="AA" * 20, name="a")
        tx.audit_many(
            at=START + DAY,
            actor="operator",
            action="register",
            items=[("BB" * 20, "b", {"n": 1}), ("CC" * 20, "c", {"n": 2})],
        )
        tx.audit_many(at=START, actor="x", action="nothing", items=[])
    with registry.read() as tx:
        events = tx.audit_events()
        assert len(tx.audit_events(limit=1)) == 1
    assert [(e.action, e.actor, e.name, e.thumbprint) for e in events] == [
        ("register", "operator", "c", "CC" * 20),
        ("register", "operator", "b", "BB" * 20),
        ("generate", "admin", "a", "AA" * 20),
    ]
    assert events[0].at == START + DAY
    assert events[0].details == '{"n": 2}'
    assert events[2].details == "{}"


# ------------------------------------------------------------------------ transactions


def test_a_transaction_that_raises_leaves_nothing(registry: Registry, certs: CertFactory) -> None:
    row = _cert(certs, "ghost")
    with registry.read():
        pass  # the schema exists before the failed change
    with pytest.raises(RuntimeError, match="boom"):
        with registry.transaction() as tx:
            tx.insert_entries([_entry("ghost", [row])])
            tx.audit(at=START, actor="a", action="generate", thumbprint=row.thumbprint)
            tx.set_meta("cluster_name", "ghost")
            assert tx.find(row.thumbprint) is not None  # visible inside the transaction
            raise RuntimeError("boom")
    with registry.read() as tx:
        assert tx.find(row.thumbprint) is None
        assert tx.count_entries() == 0
        assert tx.audit_events() == []
        assert tx.get_meta("cluster_name") is None


def test_no_connection_outlives_a_transaction(file_registry: Registry, certs: CertFactory) -> None:
    _insert(file_registry, _entry("a", [_cert(certs, "a")]))
    # another process can open the file as soon as the transaction is over
    code = subprocess.run(
        [sys.executable, "-c", _HOLD.format(path=str(file_registry.path), seconds=0)],
        capture_output=True,
        timeout=60,
    )
    assert code.returncode == 0, code.stderr


_HOLD = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect({path!r})
    print("holding", flush=True)
    time.sleep({seconds})
    con.close()
    """
)


@pytest.fixture
def held(file_registry: Registry) -> Iterator[subprocess.Popen[str]]:
    """Another process that opens the file_registry file and keeps it open for a minute."""
    with file_registry.read():
        pass
    process = subprocess.Popen(
        [sys.executable, "-c", _HOLD.format(path=str(file_registry.path), seconds=60)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "holding"
        yield process
    finally:
        process.kill()
        process.wait()


def test_registry_busy_when_another_process_holds_the_file(
    file_registry: Registry, held: subprocess.Popen[str]
) -> None:
    busy = Registry(file_registry.path, busy_timeout=0.3)
    started = time.monotonic()
    with pytest.raises(RegistryBusy) as caught:
        with busy.transaction():
            pass
    assert time.monotonic() - started < 30
    assert busy.retries >= 1  # it retried before giving up
    message = str(caught.value)
    assert "busy" in message and str(file_registry.path) in message
    assert "0.3 s" in message
    assert "Try again" in message


def test_busy_timeout_from_the_environment(
    file_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CERTKIT_BUSY_TIMEOUT", "0.25")
    assert Registry(file_registry.path).busy_timeout == 0.25
    assert Registry(file_registry.path, busy_timeout=2).busy_timeout == 2


@pytest.mark.parametrize("size", [5, 20_000], ids=["small", "large"])
def test_a_file_that_is_not_a_registry_is_refused_clearly(tmp_path: Path, size: int) -> None:
    path = tmp_path / "registry.duckdb"
    path.write_bytes(b"not a database " * (size // 15 + 1))
    with pytest.raises(CertkitError, match="is not a DuckDB database file"):
        with Registry(path, busy_timeout=0.2).read():
            pass


def test_a_registry_being_created_by_another_process_is_waited_for(tmp_path: Path) -> None:
    """The file exists but its header is not written yet: retry, as for a lock."""
    path = tmp_path / "registry.duckdb"
    path.write_bytes(b"")
    registry = Registry(path, busy_timeout=30)
    real_connect = duckdb.connect
    attempts: list[int] = []

    def connect(database: str) -> duckdb.DuckDBPyConnection:
        attempts.append(1)
        if len(attempts) == 3:  # the other process finished creating it
            path.unlink()
        return real_connect(database)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(duckdb, "connect", connect)
        with registry.transaction() as tx:
            assert tx.get_meta("schema_version") == str(SCHEMA_VERSION)
    assert len(attempts) == 3 and registry.retries == 2
