"""The registry: all SQL lives in this package.

Two backends hold the same tables and run the same queries (:mod:`certkit.registry.store`
and its sibling ``*_queries`` modules): a DuckDB file under the certkit home, the embedded
default (:class:`Registry`), and a PostgreSQL server shared by several machines
(:class:`~certkit.registry.postgres.PostgresRegistry`), chosen by a database URL.
Both give one transaction at a time through ``transaction()`` (writes) and ``read()``.
"""

from __future__ import annotations

from collections.abc import Hashable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from certkit.errors import InvalidInput
from certkit.registry.duck import Registry
from certkit.registry.store import NewCertificate, NewEntry, Store, TotpState

__all__ = [
    "NewCertificate",
    "NewEntry",
    "Registry",
    "RegistryBackend",
    "Store",
    "TotpState",
    "open_registry",
]


class RegistryBackend(Protocol):
    """What the operations need of a registry, on either backend."""

    dialect: str

    @property
    def location(self) -> str: ...

    def transaction(self) -> AbstractContextManager[Store]: ...

    def read(self) -> AbstractContextManager[Store]: ...

    def change_stamp(self) -> Hashable: ...


def open_registry(url: str) -> RegistryBackend:
    """The registry a database URL names: ``postgresql://...`` (or ``postgres://``) for a
    PostgreSQL server, ``duckdb:PATH`` for a DuckDB file."""
    scheme, _, rest = url.partition(":")
    if scheme.lower() in ("postgresql", "postgres"):
        from certkit.registry.postgres import PostgresRegistry  # psycopg only when asked for

        return PostgresRegistry(url)
    if scheme.lower() == "duckdb" and rest.strip("/"):
        return Registry(Path(rest.removeprefix("//")).expanduser())
    raise InvalidInput(
        f"Unsupported database URL {url.split('@')[-1]!r}: use postgresql://USER@HOST:PORT/DB "
        "for PostgreSQL or duckdb:PATH for a DuckDB file."
    )
