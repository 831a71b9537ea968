"""What only a shared PostgreSQL registry has: eight writer processes at once, a busy
registry, changes announced to other processes, a server that cannot be reached."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psycopg
import pytest

from certkit.errors import CertkitError, RegistryBusy
from certkit.ops import open_certkit
from certkit.registry.postgres import PostgresRegistry
from tests.conftest import BACKENDS, CertFactory, Cli
from tests.postgres import PostgresServer

WRITERS = 8
EDITS = 10
UPLOADS = 3

# One writer process: EDITS edits of one shared entry (each adds a database of its own, a
# read-modify-write that would lose the others' additions if writes were not serialised)
# and UPLOADS registrations of its own certificates; prints what it did as JSON.
_WRITER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from certkit.ops import open_certkit

    home, shared, writer, uploads = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
    kit = open_certkit(home)
    for edit in range({edits}):
        kit.edit(shared, set_permissions={{f"w{{writer}}e{{edit}}": "Read"}})
    made = [
        kit.register(Path(f).read_bytes(), clearance="User", name=f"w{{writer}}u{{i}}")
        .records[0].thumbprint
        for i, f in enumerate(uploads)
    ]
    print(json.dumps(made))
    """
).format(edits=EDITS)


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_eight_processes_write_at_once_and_every_write_lands(
    backend: str,
    database_url: str | None,
    home: Path,
    tmp_path: Path,
    certs: CertFactory,
) -> None:
    kit = open_certkit(home, database_url=database_url)
    shared = kit.generate_client_certificate("shared", permissions={"base": "Admin"})
    files: list[list[str]] = []
    for writer in range(WRITERS):
        files.append([])
        for upload in range(UPLOADS):
            path = tmp_path / f"w{writer}-{upload}.pem"
            path.write_bytes(certs.pem(certs.client(f"w{writer}-{upload}")[1]))
            files[-1].append(str(path))
    env = {**os.environ, "CERTKIT_BUSY_TIMEOUT": "120"}
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _WRITER,
                str(home),
                shared.record.thumbprint,
                str(writer),
                *files[writer],
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for writer in range(WRITERS)
    ]
    made: list[str] = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, err
        assert err == ""  # no error, no warning, no retry message reached the user
        made.extend(json.loads(out))

    record = kit.show(shared.record.thumbprint)
    expected = {"base"} | {f"w{w}e{e}" for w in range(WRITERS) for e in range(EDITS)}
    assert set(record.permissions) == expected  # not one edit lost
    listed = {r.thumbprint for r in kit.list_certificates().records}
    assert set(made) <= listed and len(made) == WRITERS * UPLOADS
    assert kit.list_certificates().total == 1 + WRITERS * UPLOADS
    with kit.registry.read() as tx:
        actions = [e.action for e in tx.audit_events(limit=10_000)]
    assert actions.count("edit") == WRITERS * EDITS


@pytest.fixture
def registry(postgres_server: PostgresServer) -> PostgresRegistry:
    return PostgresRegistry(postgres_server.new_schema_url(), busy_timeout=0.5)


def test_a_writer_held_up_too_long_gets_registry_busy(registry: PostgresRegistry) -> None:
    with registry.transaction() as tx:
        tx.set_meta("cluster_name", "before")
    holding = threading.Event()
    release = threading.Event()

    def hold() -> None:
        with registry.transaction() as tx:  # another writer that does not finish
            tx.set_meta("cluster_name", "held")
            holding.set()
            release.wait(timeout=30)

    other = threading.Thread(target=hold)
    other.start()
    try:
        assert holding.wait(timeout=10)
        started = time.monotonic()
        with pytest.raises(RegistryBusy, match="busy"):
            with registry.transaction() as tx:
                tx.set_meta("cluster_name", "lost")
        assert time.monotonic() - started >= 0.4  # it waited before giving up
        with registry.read() as tx:  # reads are not held up by a writer
            assert tx.get_meta("cluster_name") == "before"
    finally:
        release.set()
        other.join(timeout=10)
    with registry.read() as tx:
        assert tx.get_meta("cluster_name") == "held"


def test_a_transaction_opened_inside_another_joins_it(registry: PostgresRegistry) -> None:
    with registry.transaction() as outer:
        outer.set_meta("a", "1")
        with registry.transaction() as inner:  # would wait for its own lock on a new session
            inner.set_meta("b", "2")
            assert inner.get_meta("a") == "1"
        with pytest.raises(CertkitError), registry.transaction() as failing:
            failing.set_meta("c", "3")
            raise CertkitError("undo c only")
    with registry.read() as tx:
        assert (tx.get_meta("a"), tx.get_meta("b"), tx.get_meta("c")) == ("1", "2", None)
        with registry.transaction() as write:  # a write inside a read-only snapshot
            write.set_meta("d", "4")
        assert tx.get_meta("d") is None  # the snapshot stays as it was
    with registry.read() as tx:
        assert tx.get_meta("d") == "4"


def test_another_process_change_moves_the_stamp_within_a_second(
    registry: PostgresRegistry, home: Path, postgres_server: PostgresServer
) -> None:
    kit = open_certkit(home, database_url=registry.url)
    made = kit.generate_client_certificate("erin")
    before = registry.change_stamp()
    elsewhere = PostgresRegistry(postgres_server.new_schema_url())  # another registry
    with elsewhere.transaction() as tx:
        tx.set_meta("cluster_name", "another cluster")
    time.sleep(0.3)
    assert registry.change_stamp() == before  # its changes are not this registry's
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "certkit",
            "--home",
            str(home),
            "--database-url",
            registry.url,
            "delete",
            made.record.thumbprint,
            "--yes",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    deadline = time.monotonic() + 1.0
    while registry.change_stamp() == before and time.monotonic() < deadline:
        time.sleep(0.01)
    assert registry.change_stamp() != before


def test_a_server_that_cannot_be_reached_is_a_clear_error(
    cli: Cli, postgres_server: PostgresServer
) -> None:
    url = f"postgresql://certkit:pw-not-shown@127.0.0.1:{postgres_server.port + 1}/certkit"
    result = cli("--database-url", url, "list")
    assert result.code == 2
    assert result.err.startswith("error: Cannot connect to the PostgreSQL registry ")
    assert "pw-not-shown" not in result.err and len(result.err.splitlines()) == 1
    missing = postgres_server.url.rsplit("/", 1)[0] + "/no_such_database"
    result = cli("--database-url", missing, "list")
    assert result.code == 2 and "no_such_database" in result.err


def test_the_schema_is_created_once_by_many_processes_at_once(
    postgres_server: PostgresServer, home: Path
) -> None:
    url = postgres_server.new_schema_url()
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "certkit", "--home", str(home), "--database-url", url, "list"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    with psycopg.connect(url) as con:
        row = con.execute("SELECT count(*) FROM server_certificates").fetchone()
    assert row == (1,)  # one initialisation, not four


def test_the_schema_has_its_postgresql_indexes_and_triggers(registry: PostgresRegistry) -> None:
    with registry.read():
        pass  # creates the schema
    with psycopg.connect(registry.url) as con:
        indexes = {
            str(r[0])
            for r in con.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()"
            ).fetchall()
        }
        triggers = {
            str(r[0])
            for r in con.execute(
                "SELECT tgname FROM pg_trigger WHERE tgname LIKE 'certkit_notify_%'"
            ).fetchall()
        }
    assert {
        "certificates_entry",
        "entries_name_key_trgm",
        "entries_databases_trgm",
        "certificates_thumbprint_trgm",
    } <= indexes
    assert {f"certkit_notify_{t}" for t in ("entries", "certificates", "sessions")} <= triggers


def test_a_malformed_url_is_refused_without_its_password(cli: Cli) -> None:
    result = cli("--database-url", "postgresql://admin:hunter2-pw@[::1", "list")
    assert result.code == 2 and result.err.startswith("error: Invalid PostgreSQL URL")
    assert "hunter2-pw" not in result.err
