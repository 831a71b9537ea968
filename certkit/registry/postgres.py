"""The shared registry: the same tables and queries on a PostgreSQL server (issue 6).

Chosen by a database URL (``postgresql://user@host:port/dbname``). What differs from the
DuckDB file, and why:

- Connections are kept in a small per-process pool: a PostgreSQL server, unlike a DuckDB
  file, is built for many open connections, and a new one costs a few milliseconds.
- Every write transaction first takes one transaction-scoped advisory lock, so writes are
  serialised exactly as DuckDB's one-writer rule serialises them: a check-then-insert (a
  name in use, a TOTP code already used) never races another writer, and nothing is lost.
  Waiting for it is bounded (``lock_timeout``) and ends in :class:`RegistryBusy`, never in a
  raw lock error. Reads take no lock: one ``REPEATABLE READ, READ ONLY`` snapshot each.
- Statement triggers ``NOTIFY certkit_changes`` on every change of a table that
  authentication reads, so service replicas learn of a deletion or downgrade at once
  (:meth:`PostgresRegistry.change_stamp`, :mod:`certkit.registry.pg_changes`) instead of
  polling the tables.
- Statements are written with DuckDB's ``?`` and ``$name`` placeholders and run through a
  :class:`~certkit.registry.pg_connection.PgConnection`, so the SQL of
  :mod:`certkit.registry.store` and its sibling query modules serves both.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import conninfo

from certkit.errors import CertkitError, InvalidInput, RegistryBusy
from certkit.registry.dialect import SqlError
from certkit.registry.dialect import busy_timeout as busy_timeout_of
from certkit.registry.pg_changes import CHANNEL, feed
from certkit.registry.pg_connection import PgConnection, rollback
from certkit.registry.schema import SCHEMA_VERSION, upgrade
from certkit.registry.store import Store

WRITE_LOCK = 0x63657274  # "cert": the advisory lock every write transaction holds
# One lock per registry: the schema's name tells registries in one database apart.
_LOCK_SQL = "SELECT pg_advisory_xact_lock(?, hashtext(current_schema()))"
_POOL_SIZE = 4
_SCHEMES = ("postgresql://", "postgres://")
_NOTIFIED_TABLES = (
    "meta",
    "entries",
    "certificates",
    "well_known",
    "server_certificates",
    "sessions",
)

log = logging.getLogger("certkit.registry")


def is_postgres_url(url: str) -> bool:
    return url.lower().startswith(_SCHEMES)


_PASSWORD = re.compile(r"(://[^:/@\s]*):[^@/\s]*@")
_SEARCH_PATH = re.compile(r"search_path\s*=\s*([^\s,]+)")


def _location(url: str) -> str:
    """The URL without its password (and the schema, if the URL names one), for messages
    and to tell registries apart."""
    try:
        parts = conninfo.conninfo_to_dict(url)
    except psycopg.ProgrammingError as error:
        told = _PASSWORD.sub(r"\1:***@", str(error).strip())  # it quotes the URL
        raise InvalidInput(f"Invalid PostgreSQL URL: {told}") from None
    host = parts.get("host") or "localhost"
    port = parts.get("port") or "5432"
    user = f"{parts['user']}@" if parts.get("user") else ""
    where = f"postgresql://{user}{host}:{port}/{parts.get('dbname') or ''}"
    schema = _SEARCH_PATH.search(str(parts.get("options") or ""))
    return f"{where} (schema {schema.group(1)})" if schema else where


_NOTIFY_SQL = f"""
CREATE OR REPLACE FUNCTION certkit_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', TG_TABLE_SCHEMA);
    RETURN NULL;
END $$;
"""


# Indexes that PostgreSQL needs where DuckDB scans fast enough: the primary certificate of
# an entry (the listing joins on it, every record read looks up its members), and trigram
# indexes for the listing's ``LIKE '%text%'`` filters (pg_trgm, a trusted extension since
# PostgreSQL 13): 435 ms -> 29 ms for a filtered page of 50 from a million entries.
_INDEXES = {"certificates_entry": ("certificates", "entry_id, position")}
_TRIGRAM_INDEXES = {
    "entries_name_key_trgm": ("entries", "name_key"),
    "entries_databases_trgm": ("entries", "databases"),
    "certificates_thumbprint_trgm": ("certificates", "thumbprint"),
}
_INDEX_NAMES = (*_INDEXES, *_TRIGRAM_INDEXES)


def _install_extras(con: PgConnection) -> None:
    """What only the PostgreSQL schema has: statement triggers that announce every change of
    the tables authentication reads, and the indexes above. Idempotent."""
    con.execute(_NOTIFY_SQL)
    for table in _NOTIFIED_TABLES:
        con.execute(
            f"CREATE OR REPLACE TRIGGER certkit_notify_{table} "
            f"AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION certkit_notify()"
        )
    for name, (table, columns) in _INDEXES.items():
        con.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({columns})")
    con.execute("SAVEPOINT certkit_trgm")
    try:
        con.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except SqlError as error:  # not installed, or not ours to create: searches scan instead
        con.execute("ROLLBACK TO SAVEPOINT certkit_trgm")
        log.warning("pg_trgm unavailable, name and database searches will scan: %s", error)
        return
    row = con.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_trgm'"
    ).fetchone()
    schema = str(row[0]) if row else "public"
    for name, (table, column) in _TRIGRAM_INDEXES.items():
        operators = f'"{schema}".gin_trgm_ops'
        con.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} USING gin ({column} {operators})"
        )


class PostgresRegistry:
    """A registry on a PostgreSQL server, shared by every process given the same URL."""

    dialect = "postgresql"

    def __init__(self, url: str, *, busy_timeout: float | None = None) -> None:
        if not is_postgres_url(url):
            raise InvalidInput(f"Not a PostgreSQL URL: {_location(url)}")
        self.url = url
        self.location = _location(url)
        self.busy_timeout = busy_timeout_of(busy_timeout)
        self.retries = 0
        self._pool: list[psycopg.Connection[Any]] = []
        self._pool_lock = threading.Lock()
        self._schema_current = False
        self._local = threading.local()  # .open: this thread's open transaction, if any

    def __repr__(self) -> str:
        return f"PostgresRegistry({self.location!r})"

    # ------------------------------------------------------------ connections
    def _connect(self) -> psycopg.Connection[Any]:
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.05
        while True:
            try:
                raw = psycopg.connect(
                    self.url,
                    autocommit=True,
                    cursor_factory=psycopg.ClientCursor,
                    connect_timeout=max(1, int(min(self.busy_timeout, 10))),
                    application_name="certkit",
                )
                # Short queries: compiling one (~50 ms for the listing) costs more than it saves.
                raw.execute("SET jit = off")
                return raw
            except psycopg.Error as error:
                text = str(error).strip().splitlines()[0] if str(error).strip() else ""
                crowded = "too many clients" in text or "starting up" in text
                if not crowded or time.monotonic() >= deadline:
                    if crowded:
                        raise RegistryBusy(
                            f"The PostgreSQL registry {self.location} is busy ({text}). "
                            "Try again in a moment."
                        ) from None
                    raise CertkitError(
                        f"Cannot connect to the PostgreSQL registry {self.location}: {text}"
                    ) from None
            self.retries += 1
            time.sleep(delay)
            delay = min(delay * 1.6, 0.5)

    def _checkout(self) -> psycopg.Connection[Any]:
        with self._pool_lock:
            while self._pool:
                raw = self._pool.pop()
                if not raw.closed:
                    return raw
        return self._connect()

    def _checkin(self, raw: psycopg.Connection[Any]) -> None:
        idle = not raw.closed and raw.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
        with self._pool_lock:
            if idle and len(self._pool) < _POOL_SIZE:
                self._pool.append(raw)
                return
        raw.close()

    def close(self) -> None:
        """Close the pooled connections (a later transaction opens new ones)."""
        with self._pool_lock:
            pool, self._pool = self._pool, []
        for raw in pool:
            raw.close()

    # ----------------------------------------------------------- transactions
    @contextmanager
    def _transaction(self, *, write: bool) -> Iterator[Store]:
        outer: tuple[PgConnection, bool] | None = getattr(self._local, "open", None)
        if outer is not None and (outer[1] or not write):
            # Nested in this thread's open transaction, which can do what it asks: a
            # savepoint of it. (A write inside a read-only snapshot gets one of its own.)
            with self._savepoint(outer[0]) as store:
                yield store
            return
        raw = self._checkout()
        con = PgConnection(raw)
        try:
            if not self._schema_current:
                self._ensure_schema(con)
            if write:
                con.execute("BEGIN")
                self._lock_writes(con)
            else:
                con.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            _check_version(con)
            self._local.open = (con, write)
            try:
                yield Store(con)
            except BaseException:
                rollback(raw)
                raise
            finally:
                self._local.open = outer
            con.execute("COMMIT")
            if write:
                feed(self.url).bump()
        finally:
            self._checkin(raw)

    @contextmanager
    def _savepoint(self, con: PgConnection) -> Iterator[Store]:
        """A transaction opened inside another of the same thread (lazy initialisation while
        an operation runs) joins it: another connection would wait for the write lock that
        this thread holds, forever."""
        depth = getattr(self._local, "depth", 0) + 1
        self._local.depth = depth
        con.execute(f"SAVEPOINT certkit_{depth}")
        try:
            yield Store(con)
        except BaseException:
            if not con.raw.closed:
                con.execute(f"ROLLBACK TO SAVEPOINT certkit_{depth}")
            raise
        else:
            con.execute(f"RELEASE SAVEPOINT certkit_{depth}")
        finally:
            self._local.depth = depth - 1

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """One write transaction (serialised with every other writer): commit on success,
        roll back on error."""
        with self._transaction(write=True) as store:
            yield store

    @contextmanager
    def read(self) -> Iterator[Store]:
        """One consistent read-only snapshot; takes no lock."""
        with self._transaction(write=False) as store:
            yield store

    def _lock_writes(self, con: PgConnection) -> None:
        """Take this registry's write lock for the open transaction, waiting at most the
        busy timeout (then :class:`RegistryBusy`)."""
        con.execute(f"SET LOCAL lock_timeout = '{int(self.busy_timeout * 1000)}ms'")
        con.execute(_LOCK_SQL, [WRITE_LOCK])

    def _ensure_schema(self, con: PgConnection) -> None:
        """Create or upgrade the schema (once per process), under the write lock."""
        con.execute("BEGIN")
        try:
            self._lock_writes(con)
            upgraded = upgrade(con)
            if upgraded or not _has_extras(con):
                _install_extras(con)
        except BaseException:
            rollback(con.raw)
            raise
        con.execute("COMMIT")
        self._schema_current = True

    # ----------------------------------------------------------- change feed
    def change_stamp(self) -> Hashable:
        """Changes whenever any process may have changed what authentication reads (see
        :class:`~certkit.registry.pg_changes.ChangeFeed`); costs nothing per call once listening."""
        return feed(self.url).stamp()


def _check_version(con: PgConnection) -> None:
    """Refuse a registry that a newer certkit has upgraded since this process checked it
    (a replica not yet upgraded, say): one indexed read per transaction."""
    row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    version = str(row[0]) if row else "none"
    if version != str(SCHEMA_VERSION):
        rollback(con.raw)
        newer = version.isdigit() and int(version) > SCHEMA_VERSION
        raise CertkitError(
            f"The registry has schema version {version}, "
            + (
                f"newer than this certkit ({SCHEMA_VERSION}); upgrade certkit."
                if newer
                else f"not this certkit's ({SCHEMA_VERSION}); restore it from a backup."
            )
        )


def _has_extras(con: PgConnection) -> bool:
    """Are the triggers there, calling the function that names the schema, and the indexes?"""
    row = con.execute(
        "SELECT (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "WHERE t.tgname LIKE 'certkit_notify_%' "
        "AND c.relnamespace = current_schema()::regnamespace), "
        "(SELECT count(*) FROM pg_proc WHERE proname = 'certkit_notify' "
        "AND pronamespace = current_schema()::regnamespace AND prosrc LIKE '%TG_TABLE_SCHEMA%'), "
        "(SELECT count(*) FROM pg_indexes WHERE schemaname = current_schema() "
        f"AND indexname IN ({', '.join(repr(name) for name in _INDEX_NAMES)}))"
    ).fetchone()
    triggers = len(_NOTIFIED_TABLES)
    return bool(row and row[0] >= triggers and row[1] and row[2] >= len(_INDEX_NAMES))
