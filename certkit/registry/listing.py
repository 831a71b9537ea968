"""The Certificates table's query: a filtered, sorted page with counts per group and state."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from certkit.model import CertState, ListQuery, Page, SortKey
from certkit.registry.dialect import is_postgres
from certkit.registry.tables import _OTHERS, _RECORD_COLUMNS, Queries, _db, _like_literal

_MEMBERS_SQL = (  # the other members of some entries' collections, for list_entries
    "SELECT entry_id, thumbprint FROM certificates WHERE position > 0 "
    "AND entry_id IN (SELECT unnest(?::BIGINT[])) ORDER BY entry_id, position"
)
_COUNTS = 18  # list_entries: the column after _ENTRY_COLUMNS with [group, state, count] lists

_SORT_COLUMNS = {
    SortKey.NAME: "e.name_key",
    SortKey.EXPIRATION: "e.not_after",
    SortKey.VALID_FROM: "e.not_before",
    SortKey.LAST_USED: "e.last_used",
}

_HEX = re.compile(r"[0-9A-F]+")

_GROUP_SQL = (
    "CASE WHEN e.clearance IN ('ClusterAdmin', 'ClusterNode') THEN 'Admin' "
    "WHEN e.clearance = 'Operator' THEN 'Operator' ELSE 'User' END"
)
# An entry replaced by its renewal is never "expiring": nothing breaks when it expires.
_STATE_SQL = (
    "CASE WHEN e.not_after <= $now THEN 'expired' "
    "WHEN e.not_before > $now THEN 'not-yet-valid' "
    "WHEN e.not_after <= $soon AND e.replaced_by IS NULL THEN 'expiring' ELSE 'valid' END"
)


# A name or any member's thumbprint matches. On PostgreSQL as one union of two index scans
# (its trigram indexes; 440 ms -> 7 ms on a million entries), where an OR of the two would
# scan every entry; DuckDB scans either way and plans the EXISTS better.
_NAME_OR_THUMBPRINT = (
    "(e.name_key LIKE $search ESCAPE '\\' OR EXISTS (SELECT 1 FROM certificates s "
    "WHERE s.entry_id = e.id AND s.thumbprint LIKE $search_tp))"
)
_PG_NAME_OR_THUMBPRINT = (
    "e.id IN (SELECT id FROM entries WHERE name_key LIKE $search ESCAPE '\\' "
    "UNION SELECT entry_id FROM certificates WHERE thumbprint LIKE $search_tp)"
)


class ListingQueries(Queries):
    """:meth:`list_entries`, on its own: the one query that must stay fast at a million rows."""

    def list_entries(self, query: ListQuery, now: datetime) -> Page:
        """A filtered, sorted page, with counts per clearance group and per state."""
        params: dict[str, Any] = {"now": _db(now), "soon": _db(now + query.threshold)}
        common: list[str] = []
        postgres = is_postgres(self._con)
        if query.search.strip():
            text = query.search.strip()
            params["search"] = f"%{_like_literal(text.lower())}%"
            hex_text = text.upper().replace(":", "")
            if _HEX.fullmatch(hex_text):
                params["search_tp"] = f"%{hex_text}%"
                common.append(_PG_NAME_OR_THUMBPRINT if postgres else _NAME_OR_THUMBPRINT)
            else:  # no thumbprint holds anything but hex digits: skip scanning them all
                common.append("e.name_key LIKE $search ESCAPE '\\'")
        if query.database:
            params["database"] = f"%|{_like_literal(query.database.strip().lower())}|%"
            common.append("e.databases LIKE $database ESCAPE '\\'")
        if query.clearance:
            params["group"] = query.clearance
        if query.state:
            params["state"] = query.state.value

        def where(*extra: str | None) -> str:
            parts = [*common, *(p for p in extra if p)]
            return ("WHERE " + " AND ".join(parts)) if parts else ""

        def counted(rows: Sequence[Sequence[Any]]) -> tuple[dict[str, int], dict[str, int], int]:
            by_group: dict[str, int] = {}
            by_state: dict[str, int] = {}
            total = 0
            for group, state, count in rows:
                if not query.state or state == query.state.value:
                    by_group[group] = by_group.get(group, 0) + count
                if not query.clearance or group == query.clearance:
                    by_state[state] = by_state.get(state, 0) + count
                if (not query.state or state == query.state.value) and (
                    not query.clearance or group == query.clearance
                ):
                    total += count
            return by_group, by_state, total

        def bind(sql: str) -> dict[str, Any]:
            return {k: v for k, v in params.items() if f"${k}" in sql}

        order = _SORT_COLUMNS[query.sort]
        direction = "DESC" if query.descending else "ASC"
        ordering = f"{order} {direction} NULLS LAST, e.name_key, e.id"
        page_where = " AND ".join(
            part
            for part in (
                "m.grp = $group" if query.clearance else "",
                "m.st = $state" if query.state else "",
            )
            if part
        )
        # One pass over the entries (100,000 of them take most of the time): the matches,
        # filtered once; their counts per group and state; the page's ids. Only then the
        # certificate columns and collection members, of the page's rows alone. The primary
        # certificate is found by (entry_id, position 0), which insert_entries writes for
        # primary_thumbprint: on a fresh connection, matching 50 ids against the integer
        # column loads ~5 ms less than matching 50 thumbprints against 100,000 strings.
        page_sql = (
            f"WITH matched AS MATERIALIZED (SELECT e.id, e.name_key, {order} AS sort_key, "
            f"{_GROUP_SQL} AS grp, ({_STATE_SQL}) AS st FROM entries e {where()}), "
            "page AS (SELECT m.id FROM matched m "
            + (f"WHERE {page_where} " if page_where else "")
            + f"ORDER BY m.sort_key {direction} NULLS LAST, m.name_key, m.id "
            + ("LIMIT $limit OFFSET $offset" if query.limit is not None else "")
            + f") SELECT {_RECORD_COLUMNS.format(others='NULL')}, "
            "(SELECT array_agg(ARRAY[grp, st, n::VARCHAR]) FROM "
            "(SELECT grp, st, count(*) AS n FROM matched GROUP BY 1, 2) AS g) AS counts "
            "FROM page JOIN entries e ON e.id = page.id "
            f"JOIN certificates c ON c.entry_id = e.id AND c.position = 0 ORDER BY {ordering}"
        )
        if query.limit is not None:
            params["limit"], params["offset"] = max(query.limit, 0), max(query.offset, 0)
        rows = self._con.execute(page_sql, bind(page_sql)).fetchall()
        if rows:
            counts = [(g, s, int(n)) for g, s, n in rows[0][_COUNTS] or []]
            # Collections in a query of their own: as a correlated subquery of the page they
            # cost ~2 ms more (DuckDB plans a join and an aggregate for it).
            members: dict[int, list[str]] = {r[0]: [] for r in rows}
            for entry_id, thumbprint in self._con.execute(_MEMBERS_SQL, [list(members)]).fetchall():
                members[entry_id].append(thumbprint)
            rows = [(*r[:_OTHERS], members[r[0]], *r[_OTHERS + 1 :]) for r in rows]
        else:  # an empty page carries no counts: count on their own
            count_sql = (
                f"SELECT {_GROUP_SQL} AS grp, ({_STATE_SQL}) AS st, count(*) FROM entries e "
                f"{where()} GROUP BY 1, 2"
            )
            counts = self._con.execute(count_sql, bind(count_sql)).fetchall()
        by_group, by_state, total = counted(counts)
        return Page(
            records=tuple(self._record(r) for r in rows),
            total=total,
            offset=max(query.offset, 0),
            limit=query.limit or total,
            counts_by_clearance=by_group,
            counts_by_state={s.value: by_state.get(s.value, 0) for s in CertState},
        )
