"""``migrate``: copy the registry to another backend, DuckDB <-> PostgreSQL (issue 6).

Every table is copied row for row, ids and audit log included, into the registry a database
URL names; the key files stay where they are, in the home. The copy is exact: it adds no
audit event, so migrating there and back gives the registry it started from. The source is
read inside a write transaction, which holds other writers off while it is copied, and is
left as it was; point every certkit process at the new URL afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from certkit import authz
from certkit.errors import Conflict, InvalidInput
from certkit.model import LOCAL_ADMIN, Actor
from certkit.ops.base import Base
from certkit.registry import open_registry
from certkit.registry.backup_queries import dump_tables, non_empty_reasons, restore_tables


@dataclass(frozen=True, slots=True)
class MigrateSummary:
    """What a migration copied, from where to where (locations without passwords)."""

    source: str
    target: str
    rows: Mapping[str, int]
    replaced: bool  # the target held a registry with content, now discarded

    def __str__(self) -> str:
        return (
            f"Copied the registry {self.source} to {self.target}: "
            f"{self.rows.get('entries', 0)} client entries, {sum(self.rows.values())} rows."
        )


class MigrateOps(Base):
    """Copy the registry into another one."""

    def migrate(
        self, to_url: str, *, replace: bool = False, actor: Actor = LOCAL_ADMIN
    ) -> MigrateSummary:
        """Copy every table of this registry into the registry at ``to_url``.

        Raises:
            InvalidInput: the URL is not supported, or names this very registry.
            Conflict: the target holds more than a freshly initialised home and ``replace``
                is False. Nothing changes on either side.
        """
        authz.require_cluster_admin(actor, "migrate the registry")
        target = open_registry(to_url)
        if target.location == self.registry.location:
            raise InvalidInput(f"The registry is already at {target.location}; nothing to do.")
        self._ensure_initialised()
        with self.registry.transaction() as source:
            tables = dump_tables(source)
            with target.transaction() as tx:
                reasons = non_empty_reasons(tx)
                if reasons and not replace:
                    raise Conflict(
                        f"The registry at {target.location} is not empty ({', '.join(reasons)}); "
                        "migrating would discard it. Migrate with --replace (replace=True) to do "
                        "that, or choose an empty database."
                    )
                restore_tables(tx, tables)
        return MigrateSummary(
            source=self.registry.location,
            target=target.location,
            rows=MappingProxyType({t.name: len(t.rows) for t in tables}),
            replaced=bool(reasons),
        )
