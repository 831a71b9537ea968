"""The embedded registry: one DuckDB file under the certkit home.

DuckDB lets one process write at a time, and a Voila kernel or CLI process that kept the
file open would lock out every other one. So no connection outlives an operation: open,
run one transaction, close; retry a lock conflict with jittered backoff, and after a
bounded wait raise :class:`~certkit.errors.RegistryBusy`.
"""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Hashable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from certkit.errors import CertkitError, RegistryBusy
from certkit.registry.dialect import busy_timeout as busy_timeout_of
from certkit.registry.schema import SCHEMA_VERSION, upgrade
from certkit.registry.store import Store

# One writer at a time inside this process too: DuckDB shares one database instance per
# file within a process, and two threads writing at once would conflict.
_process_lock = threading.RLock()


def _is_lock_conflict(error: Exception) -> bool:
    text = str(error).lower()
    return "lock" in text or "conflict" in text


_HEADER_BYTES = 3 * 4096  # a DuckDB file starts with a file header and two database headers


def _is_not_a_database(error: Exception) -> bool:
    return "not a valid duckdb database file" in str(error).lower()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class Registry:
    """A DuckDB registry file, opened for one transaction at a time."""

    dialect = "duckdb"

    def __init__(self, path: Path | str, *, busy_timeout: float | None = None) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout_of(busy_timeout)
        self.retries = 0

    def __repr__(self) -> str:
        return f"Registry({str(self.path)!r})"

    @property
    def location(self) -> str:
        """Where the registry is, for messages."""
        return str(self.path)

    def change_stamp(self) -> Hashable:
        """Changes whenever another process may have written: the file's and its WAL's
        modification time, size and inode (two ``stat`` calls)."""
        stamps: list[tuple[int, int, int] | None] = []
        for candidate in (self.path, Path(f"{self.path}.wal")):
            try:
                info = candidate.stat()
            except FileNotFoundError:
                stamps.append(None)
            else:
                stamps.append((info.st_mtime_ns, info.st_size, info.st_ino))
        return tuple(stamps)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.01
        while True:
            try:
                con = duckdb.connect(str(self.path))
                if self.path.stat().st_mode & 0o077:
                    os.chmod(self.path, 0o600)
                return con
            except (duckdb.IOException, duckdb.ConnectionException) as error:
                busy = _is_lock_conflict(error)
                # Another process that creates the registry right now has made the file but
                # not yet written its header: wait for it as for a lock.
                being_created = _is_not_a_database(error) and _size(self.path) < _HEADER_BYTES
                if not (busy or being_created) or time.monotonic() >= deadline:
                    if busy:
                        raise RegistryBusy(
                            f"The registry {self.path} is busy: another certkit process held it "
                            f"for over {self.busy_timeout:g} s. Try again in a moment."
                        ) from None
                    if _is_not_a_database(error):
                        raise CertkitError(
                            f"The registry {self.path} is not a DuckDB database file; restore "
                            "it from a backup or use another certkit home."
                        ) from None
                    raise CertkitError(f"Cannot open the registry {self.path}: {error}") from None
            self.retries += 1
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 1.6, 0.25)

    @contextmanager
    def transaction(self) -> Iterator[Store]:
        """One transaction on a short-lived connection: commit on success, roll back on error."""
        with _process_lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            con = self._connect()
            try:
                current = _schema_version(con) == SCHEMA_VERSION
                con.execute("BEGIN TRANSACTION")
                if not current:
                    upgrade(con)
                try:
                    yield Store(con)
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            finally:
                con.close()

    read = transaction  # reads use the same short-lived, retried connection


def _schema_version(con: duckdb.DuckDBPyConnection) -> int | None:
    """The registry's schema version, read before the transaction starts; None if unknown.

    Reading ``meta`` directly costs ~1 ms on a new connection, where the catalog query of
    :func:`~certkit.registry.schema.upgrade` (``information_schema``) costs ~5 ms: on every
    operation, so a list page pays it too. A new file has no ``meta``: DuckDB then raises,
    which would abort an open transaction, hence outside it. Safe: no other process can open
    the file meanwhile, and ``upgrade`` checks again inside the transaction whenever this is
    not current.
    """
    try:
        row = con.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except duckdb.CatalogException:
        return None
    try:
        return int(row[0]) if row else None
    except ValueError:
        return None
